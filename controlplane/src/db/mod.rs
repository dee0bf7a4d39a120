//! SQL, one file per table: small functions taking any executor (a pool, a connection or a
//! transaction); handlers own the transactions.

pub mod api_key;
pub mod app_user;
pub mod budget;
pub mod checkout_session;
pub mod invitation;
pub mod ledger_entry;
pub mod request_log;
pub mod tenant;
pub mod usage_daily;
