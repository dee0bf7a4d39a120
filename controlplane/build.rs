//! Rebuilds the crate when a migration changes: `sqlx::migrate!` and `#[sqlx::test]` embed
//! `../migrations` at compile time.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
