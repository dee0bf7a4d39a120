//! The local append-only spool: settlements that could not reach Redis, one JSON line
//! each, kept on disk until they are replayed. Files are locked while written, so
//! instances sharing a directory replay only files nobody is writing (including those of
//! stopped instances). File names carry the deployment's namespace (its Redis and key
//! prefix), so a directory shared by two deployments never replays one's charges into
//! the other's Redis.

use aig_common::usage::UsageEvent;
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// One settlement to apply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpoolEntry {
    pub tenant_id: String,
    pub request_id: String,
    pub tag: Option<String>,
    pub month: String,
    pub cost_micros: u64,
    pub event: UsageEvent,
}

struct Current {
    path: PathBuf,
    file: File,
}

/// This instance's spool in a directory it may share with others.
pub struct Spool {
    dir: PathBuf,
    /// `spool-<namespace>-`: the start of every file name of this deployment.
    stem: String,
    instance: String,
    seq: AtomicU64,
    current: Mutex<Option<Current>>,
}

const EXTENSION: &str = "jsonl";

impl Spool {
    /// The namespace of a deployment: a stable hash of its Redis URLs and key prefix.
    pub fn namespace(redis_urls: &[String], prefix: &str) -> String {
        // FNV-1a: stable across builds and platforms, unlike `DefaultHasher`.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in redis_urls
            .iter()
            .flat_map(|u| u.bytes().chain([b'\n']))
            .chain(prefix.bytes())
        {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        format!("{hash:016x}")
    }

    /// Opens (creating it if need be) the spool directory for a deployment's namespace.
    pub fn open(dir: PathBuf, namespace: &str) -> io::Result<Self> {
        fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            stem: format!("spool-{namespace}-"),
            instance: uuid::Uuid::new_v4().simple().to_string(),
            seq: AtomicU64::new(0),
            current: Mutex::new(None),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends and syncs one entry. If even the disk fails the entry is logged in full, so
    /// the charge can still be recovered by hand.
    pub fn append(&self, entry: &SpoolEntry) {
        let result = (|| -> io::Result<()> {
            let mut line = serde_json::to_vec(entry)?;
            line.push(b'\n');
            let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
            if current.is_none() {
                let seq = self.seq.fetch_add(1, Ordering::Relaxed);
                let path = self
                    .dir
                    .join(format!("{}{}-{seq}.{EXTENSION}", self.stem, self.instance));
                let file = OpenOptions::new().create(true).append(true).open(&path)?;
                file.lock()?;
                *current = Some(Current { path, file });
            }
            if let Some(c) = current.as_mut() {
                c.file.write_all(&line)?;
                c.file.sync_data()?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            let json = serde_json::to_string(entry).unwrap_or_default();
            tracing::error!(spool_entry = %json, "settlement could not be spooled: {e}");
        }
    }

    /// Whether this instance has a spool file open for writing.
    pub fn writing(&self) -> bool {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Closes the file being written, so the next replay can take it.
    pub fn rotate(&self) {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        *current = None;
    }

    /// This deployment's spool files in the directory, except the one this instance is
    /// writing.
    pub fn files(&self) -> Vec<PathBuf> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let writing = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|c| c.path.clone());
        entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == EXTENSION))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&self.stem))
            })
            .filter(|p| Some(p) != writing.as_ref())
            .collect()
    }

    /// Takes one file for replay: `None` if another instance holds it or already took it.
    pub fn claim(path: &Path) -> Option<Claimed> {
        let file = OpenOptions::new().read(true).write(true).open(path).ok()?;
        file.try_lock().ok()?;
        // The previous holder deletes a file before unlocking it.
        if !path.exists() {
            return None;
        }
        let mut entries = Vec::new();
        for line in BufReader::new(&file).lines() {
            let Ok(line) = line else { break };
            match serde_json::from_str::<SpoolEntry>(&line) {
                Ok(entry) => entries.push(entry),
                // A torn last line from a crash mid-write: nothing was charged for it yet.
                Err(e) => {
                    tracing::error!(path = %path.display(), "unreadable spool line skipped: {e}")
                }
            }
        }
        Some(Claimed {
            path: path.to_owned(),
            _file: file,
            entries,
        })
    }
}

/// A spool file held for replay; dropping it after `finish` releases the lock.
pub struct Claimed {
    path: PathBuf,
    _file: File,
    pub entries: Vec<SpoolEntry>,
}

impl Claimed {
    /// Deletes the file (its entries were applied or re-spooled) while still holding it.
    pub fn finish(self) {
        if let Err(e) = fs::remove_file(&self.path) {
            tracing::error!(path = %self.path.display(), "replayed spool file not removed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str) -> SpoolEntry {
        SpoolEntry {
            tenant_id: "t".into(),
            request_id: id.into(),
            tag: None,
            month: "2026-11".into(),
            cost_micros: 7,
            event: UsageEvent {
                request_id: id.into(),
                tenant_id: "t".into(),
                key_id: "k".into(),
                tag: None,
                ingress: "openai".into(),
                requested_model: "openai/gpt-5.4".into(),
                chain: "openai/gpt-5.4:200".into(),
                served_by: Some("openai/gpt-5.4".into()),
                status: 200,
                stream: false,
                latency_ms: 1,
                input_tokens: 1,
                cache_read_tokens: 0,
                cache_write_tokens: 0,
                output_tokens: 1,
                cost_micros: 7,
                usage_estimated: false,
                client_disconnected: false,
                ts_ms: 0,
            },
        }
    }

    #[test]
    fn namespaces_differ_by_redis_and_prefix_and_are_stable() {
        let urls = vec!["redis://127.0.0.1:6379".to_owned()];
        let ns = Spool::namespace(&urls, "aig:");
        assert_eq!(ns, Spool::namespace(&urls, "aig:"));
        assert_ne!(ns, Spool::namespace(&urls, "other:"));
        assert_ne!(
            ns,
            Spool::namespace(&["redis://10.0.0.2:6379".to_owned()], "aig:")
        );
        assert_eq!(ns.len(), 16);
    }

    #[test]
    fn spooled_entries_are_claimed_once_after_rotation() {
        let dir = std::env::temp_dir().join(format!("aig-spool-test-{}", uuid::Uuid::new_v4()));
        let spool = Spool::open(dir.clone(), "ns").unwrap();
        let other_deployment = Spool::open(dir.clone(), "other").unwrap();
        other_deployment.append(&entry("elsewhere"));
        other_deployment.rotate();
        spool.append(&entry("a"));
        spool.append(&entry("b"));
        assert!(
            spool.files().is_empty(),
            "the file being written is not offered"
        );

        spool.rotate();
        let files = spool.files();
        assert_eq!(files.len(), 1);
        let claimed = Spool::claim(&files[0]).unwrap();
        assert!(
            Spool::claim(&files[0]).is_none(),
            "a held file cannot be claimed twice"
        );
        assert_eq!(claimed.entries, vec![entry("a"), entry("b")]);
        claimed.finish();

        assert!(spool.files().is_empty());
        assert!(Spool::claim(&files[0]).is_none());
        assert_eq!(
            other_deployment.files().len(),
            1,
            "another namespace's file stays"
        );
        fs::remove_dir_all(dir).unwrap();
    }
}
