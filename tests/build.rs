//! `#[sqlx::test]` embeds `../migrations` at compile time; rebuild the tests when it changes.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
