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
/// of the folder. A failed write (a full disk) leaves neither the temporary
/// file nor a partial `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, bytes, |tmp| std::fs::File::create(tmp))
}

/// [`write_atomic`] through a writer opened by `open` (a file, or a test's
/// failing writer).
fn write_atomic_with<W: Write + Durable>(
    path: &Path,
    bytes: &[u8],
    open: impl FnOnce(&Path) -> std::io::Result<W>,
) -> Result<()> {
    let dir = path.parent().expect("output path has a parent");
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = open(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.flush()?;
        f.durable()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A writer whose data can be forced to the disk.
trait Durable {
    /// Forces the written data to the disk (`fsync`).
    fn durable(&mut self) -> std::io::Result<()>;
}

impl Durable for std::fs::File {
    fn durable(&mut self) -> std::io::Result<()> {
        self.sync_all()
    }
}

/// The lock file of an output folder.
const LOCK_FILE: &str = ".khulasa-batch.lock";

/// An output folder held by this process: taken by [`Store::lock`], released
/// when dropped or when the process ends, however it ends.
#[derive(Debug)]
pub struct FolderLock {
    _file: std::fs::File,
}

/// The output folder of a batch.
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

    /// Takes the folder for this process (creating it), or refuses in one line
    /// naming the process that holds it: two runs writing one folder would
    /// do each other's work and race on its report.
    pub fn lock(&self) -> Result<FolderLock> {
        let root = &self.root;
        std::fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
        let path = root.join(LOCK_FILE);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = holder.trim();
                let holder = if holder.is_empty() {
                    "another khulasa process".to_string()
                } else {
                    holder.to_string()
                };
                return Err(Error::bad_input(
                    root.display().to_string(),
                    format!(
                        "output folder is in use by {holder}; wait for it to finish or give this run another --out"
                    ),
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
        let who = format!(
            "khulasa pid {} (since {})",
            std::process::id(),
            chrono::Local::now().format("%Y-%m-%d %H:%M:%S")
        );
        let stamped = file
            .set_len(0)
            .and_then(|()| file.write_all(who.as_bytes()))
            .and_then(|()| file.flush());
        stamped.map_err(|e| Error::io(&path, e))?;
        // A run killed mid-write leaves its temporary behind; with the
        // folder held, no one else is writing one.
        for dir in [root.clone(), root.join("digests"), root.join("failures")] {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with('.') && name.ends_with(".tmp") {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(FolderLock { _file: file })
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

    /// A file on a disk with `room` bytes left.
    struct Full {
        file: std::fs::File,
        room: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.room == 0 {
                return Err(std::io::Error::from_raw_os_error(28));
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            self.file.write(&buf[..n])
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.file.flush()
        }
    }

    impl Durable for Full {
        fn durable(&mut self) -> std::io::Result<()> {
            self.file.sync_all()
        }
    }

    #[test]
    fn a_full_disk_leaves_the_old_file_and_no_partial_one() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("digests/a.json");
        write_atomic(&p, b"old").unwrap();
        let e = write_atomic_with(&p, &[b'x'; 10_000], |tmp| {
            Ok(Full {
                file: std::fs::File::create(tmp)?,
                room: 4096,
            })
        })
        .unwrap_err()
        .to_string();
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        let left: Vec<_> = std::fs::read_dir(p.parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, [std::ffi::OsString::from("a.json")]);
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(e.contains("a.json") && e.contains("No space left"), "{e}");
        // With room again, the same write lands whole.
        write_atomic(&p, &[b'x'; 10_000]).unwrap();
        assert_eq!(std::fs::read(&p).unwrap().len(), 10_000);
    }

    #[test]
    fn a_second_lock_on_one_folder_is_refused_naming_the_holder() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path().join("out"));
        let held = s.lock().unwrap();
        let e = Store::new(d.path().join("out"))
            .lock()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("in use by khulasa pid") && e.contains("another --out"),
            "{e}"
        );
        assert!(e.contains(&std::process::id().to_string()), "{e}");
        drop(held);
        let stale = d.path().join("out/digests/.a.json.123.tmp");
        std::fs::create_dir_all(stale.parent().unwrap()).unwrap();
        std::fs::write(&stale, "{\"half").unwrap();
        s.lock().unwrap();
        assert!(!stale.exists(), "a killed run's temporary is cleared");
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
