//! The tenant dashboard's pages under `/dashboard/...`, one file per page; each answers HTML
//! for the signed-in tenant only ([`crate::auth::session::SignedIn`]).

pub mod budgets;
pub mod chains;
pub mod overview;
pub mod requests;
pub mod team;
pub mod usage;
