//! The batch output folder: `digests/<id>.json` and `failures/<id>.json`
//! written atomically, and `digests.jsonl` and `report.json` rebuilt from
//! them, so a crash can tear nothing.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};

/// A failed item, as stored and reported.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Failure {
    /// The item's id.
    pub id: String,
    /// Path or `path:line`.
    pub path: String,
    /// One-line reason.
    pub reason: String,
}

/// Writes `bytes` to `path` atomically: temporary file, fsync, rename, fsync
/// of the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().expect("output path has a parent");
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The output folder of a batch.
#[derive(Debug, Clone)]
pub struct Store {
    /// Its root.
    pub root: PathBuf,
}

impl Store {
    /// A store at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn digest_path(&self, id: &str) -> PathBuf {
        self.root.join("digests").join(format!("{id}.json"))
    }

    fn failure_path(&self, id: &str) -> PathBuf {
        self.root.join("failures").join(format!("{id}.json"))
    }

    /// The stored digest of `id`, if any and readable.
    pub fn digest(&self, id: &str) -> Option<Digest> {
        let text = std::fs::read_to_string(self.digest_path(id)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// True when `id` has a digest made with `key`.
    pub fn is_done(&self, id: &str, key: &str) -> bool {
        self.digest(id)
            .and_then(|d| d.batch)
            .is_some_and(|b| b.key == key)
    }

    /// Stores a digest and clears any earlier failure of the same id.
    pub fn put_digest(&self, id: &str, d: &Digest) -> Result<()> {
        let json = serde_json::to_vec_pretty(d).map_err(|source| Error::Json {
            what: id.into(),
            source,
        })?;
        write_atomic(&self.digest_path(id), &json)?;
        let _ = std::fs::remove_file(self.failure_path(id));
        Ok(())
    }

    /// Records a failure.
    pub fn put_failure(&self, f: &Failure) -> Result<()> {
        let json = serde_json::to_vec_pretty(f).map_err(|source| Error::Json {
            what: f.id.clone(),
            source,
        })?;
        write_atomic(&self.failure_path(&f.id), &json)
    }

    /// Stored failures, sorted by id.
    pub fn failures(&self) -> Vec<Failure> {
        read_dir_json(&self.root.join("failures"))
    }

    /// Stored digests, sorted by id.
    pub fn digests(&self) -> Vec<Digest> {
        read_dir_json(&self.root.join("digests"))
    }

    /// Rebuilds `digests.jsonl` from the stored digests; returns how many.
    pub fn rebuild_jsonl(&self) -> Result<usize> {
        let digests = self.digests();
        let mut out = Vec::new();
        for d in &digests {
            serde_json::to_writer(&mut out, d).map_err(|source| Error::Json {
                what: "digests.jsonl".into(),
                source,
            })?;
            out.push(b'\n');
        }
        write_atomic(&self.root.join("digests.jsonl"), &out)?;
        Ok(digests.len())
    }
}

fn read_dir_json<T: for<'de> Deserialize<'de>>(dir: &Path) -> Vec<T> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    paths
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|t| serde_json::from_str(&t).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x/y.json");
        write_atomic(&p, b"1").unwrap();
        write_atomic(&p, b"2").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"2");
        assert_eq!(std::fs::read_dir(d.path().join("x")).unwrap().count(), 1);
    }

    #[test]
    fn failures_round_trip_sorted() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path());
        for id in ["b", "a"] {
            s.put_failure(&Failure {
                id: id.into(),
                path: format!("{id}.txt"),
                reason: "empty".into(),
            })
            .unwrap();
        }
        let f = s.failures();
        assert_eq!(
            f.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
    }
}
