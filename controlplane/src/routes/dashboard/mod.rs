//! The tenant dashboard's pages under `/dashboard/...`, one file per page; each answers HTML
//! for the signed-in tenant only ([`crate::auth::session::SignedIn`]).

pub mod budgets;
pub mod overview;
pub mod usage;
