//! Temporary directories for tests (Redis data, spool), removed with their contents on drop.
#![expect(
    clippy::expect_used,
    reason = "test kit: a directory that cannot be created must fail the test at once"
)]

use std::path::{Path, PathBuf};

/// A fresh directory under the system's temp dir.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `<tmp>/<label>-<uuid>`.
    pub fn new(label: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("{label}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path as UTF-8, for environment-style settings.
    pub fn as_str(&self) -> &str {
        self.path.to_str().expect("temporary paths are UTF-8")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
