//! Who is calling: `sk-aig-` keys for the management API, argon2id passwords for people.

pub mod api_key;
pub mod password;
