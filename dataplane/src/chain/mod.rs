//! The fallback chain: turning request controls into an ordered plan, running the cascade,
//! and classifying each attempt's outcome.

pub mod cascade;
pub mod outcome;
pub mod plan;
