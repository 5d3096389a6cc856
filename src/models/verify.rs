//! sha256 verification of model files, remembered per file so a verified
//! file is not hashed again until it changes.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// khulasa's own cache folder (verification records): `$KHULASA_CACHE`,
/// else `$XDG_CACHE_HOME/khulasa`, else `~/.cache/khulasa`.
pub(crate) fn cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("KHULASA_CACHE") {
        return PathBuf::from(p);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("khulasa")
}

fn stamp(path: &Path) -> Option<String> {
    let m = std::fs::metadata(path).ok()?;
    let mtime = m
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    let canon = std::fs::canonicalize(path).ok()?;
    Some(format!("{}\n{}\n{}", canon.display(), m.len(), mtime))
}

/// Checks `path` against `expected` (sha256). A file already verified and
/// unchanged since is not hashed again. A mismatch is an error.
pub fn verify_file(model: &str, path: &Path, expected: &str) -> Result<()> {
    let record = cache_dir().join("verified").join(expected);
    let now = stamp(path);
    if now.is_some() && std::fs::read_to_string(&record).ok() == now {
        return Ok(());
    }
    let actual = sha256_file(path)?;
    if actual != expected {
        return Err(Error::Checksum {
            model: model.into(),
            path: path.to_path_buf(),
            actual,
            expected: expected.into(),
        });
    }
    if let Some(s) = now {
        let _ = std::fs::create_dir_all(record.parent().expect("has parent"));
        let _ = std::fs::write(&record, s);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_and_rejects() {
        let dir = tempfile::tempdir().unwrap();
        std::env::set_var("KHULASA_CACHE", dir.path().join("cache"));
        let f = dir.path().join("m.gguf");
        std::fs::write(&f, b"abc").unwrap();
        let good = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(sha256_file(&f).unwrap(), good);
        verify_file("m", &f, good).unwrap();
        verify_file("m", &f, good).unwrap();
        std::fs::write(&f, b"abd").unwrap();
        let e = verify_file("m", &f, good).unwrap_err();
        assert!(matches!(e, Error::Checksum { .. }));
        assert!(e.to_string().contains("khulasa models pull m"));
    }
}
