//! Translation model manifests (`models/translate/*.toml`) and resolving
//! them to a local folder: `--translator-dir`, then the Hugging Face cache,
//! then the Hub. Files with a known sha256 are verified; the others are
//! hashed at first use and held to that hash ever after (a pin in
//! khulasa's cache folder).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hf_hub::{Cache, Repo, RepoType};
use serde::{Deserialize, Serialize};

use super::verify::{cache_dir, sha256_file, verify_file};
use super::Fetch;
use crate::error::{Error, Result};
use crate::lang::Lang;

const EMBEDDED: &[&str] = &[
    include_str!("../../models/translate/llm.toml"),
    include_str!("../../models/translate/madlad400-3b-mt.toml"),
    include_str!("../../models/translate/nllb-200-distilled-600m.toml"),
    include_str!("../../models/translate/nllb-200-1.3b.toml"),
    include_str!("../../models/translate/opus-mt-en-ur.toml"),
];

/// A translation model manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TranslatorManifest {
    /// Short id used on the command line.
    pub id: String,
    /// Always `translate`.
    pub task: String,
    /// `madlad`, `nllb`, `marian` or `llm`.
    pub backend: String,
    /// One line about it.
    pub description: String,
    /// Licence of the weights.
    pub licence: String,
    /// Hugging Face repository.
    pub repo: String,
    /// Commit or branch.
    pub revision: String,
    /// Files needed, all from the repository.
    pub files: Vec<String>,
    /// The weight file when it is GGUF (quantized T5).
    #[serde(default)]
    pub weights: Option<String>,
    /// Known sha256 per file.
    #[serde(default)]
    pub sha256: BTreeMap<String, String>,
    /// Longest source the model takes, in its tokens.
    pub max_source_tokens: usize,
    /// Language tags or codes: `<2ur>` for MADLAD, `urd_Arab` for NLLB.
    pub languages: BTreeMap<String, String>,
    /// Directions served, when not every pair of `languages`.
    #[serde(default)]
    pub pairs: Vec<(String, String)>,
}

impl TranslatorManifest {
    /// The model's tag or code for `lang`, when it serves that language.
    pub fn language(&self, lang: Lang) -> Option<&str> {
        self.languages.get(lang.code()).map(String::as_str)
    }

    /// True when the model translates `from` into `to`.
    pub fn serves(&self, from: Lang, to: Lang) -> bool {
        if self.pairs.is_empty() {
            self.language(from).is_some() && self.language(to).is_some()
        } else {
            self.pairs
                .iter()
                .any(|(f, t)| f == from.code() && t == to.code())
        }
    }
}

/// All shipped translation manifests.
pub fn translator_manifests() -> Vec<TranslatorManifest> {
    EMBEDDED
        .iter()
        .map(|t| toml::from_str(t).expect("shipped translation manifests are valid"))
        .collect()
}

/// A translation manifest by id.
pub fn find_translator(id: &str) -> Result<TranslatorManifest> {
    translator_manifests()
        .into_iter()
        .find(|m| m.id == id)
        .ok_or_else(|| {
            let ids: Vec<String> = translator_manifests().into_iter().map(|m| m.id).collect();
            Error::model(
                id,
                format!("unknown translation model; use one of: {}", ids.join(", ")),
            )
        })
}

fn pin_path(id: &str) -> PathBuf {
    cache_dir().join("pins").join(format!("{id}.json"))
}

/// Verifies each file of `m` in `dir`: against the manifest's sha256 when
/// known, else against the hash recorded at first use (recording it then).
pub fn verify_translator_files(
    m: &TranslatorManifest,
    dir: &Path,
) -> Result<BTreeMap<String, String>> {
    verify_with_pins(m, dir, &pin_path(&m.id))
}

fn verify_with_pins(
    m: &TranslatorManifest,
    dir: &Path,
    pin_file: &Path,
) -> Result<BTreeMap<String, String>> {
    let mut pins: BTreeMap<String, String> = std::fs::read_to_string(pin_file)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let mut changed = false;
    for f in &m.files {
        let path = dir.join(f);
        if !path.is_file() {
            return Err(Error::model(
                &m.id,
                format!(
                    "{} is missing; the model needs {}",
                    path.display(),
                    m.files.join(", ")
                ),
            ));
        }
        match m.sha256.get(f).or_else(|| pins.get(f)) {
            Some(expected) => verify_file(&m.id, &path, expected)?,
            None => {
                pins.insert(f.clone(), sha256_file(&path)?);
                changed = true;
            }
        }
    }
    if changed {
        let _ = std::fs::create_dir_all(pin_file.parent().expect("has parent"));
        let text = serde_json::to_string_pretty(&pins).expect("plain map");
        std::fs::write(pin_file, text).map_err(|e| Error::io(pin_file, e))?;
    }
    Ok(pins)
}

/// The local folder holding every file of `m`: `dir` when given, else the
/// Hugging Face cache, else a download from the Hub.
pub fn resolve_translator(
    m: &TranslatorManifest,
    dir: Option<&Path>,
    fetch: Fetch,
) -> Result<PathBuf> {
    if m.backend == "llm" {
        return Ok(PathBuf::new());
    }
    if let Some(d) = dir {
        verify_translator_files(m, d)?;
        return Ok(d.to_path_buf());
    }
    let repo = Repo::with_revision(m.repo.clone(), RepoType::Model, m.revision.clone());
    let cache = Cache::from_env().repo(repo.clone());
    let cached: Option<Vec<PathBuf>> = m.files.iter().map(|f| cache.get(f)).collect();
    let paths = match cached {
        Some(p) => p,
        None if fetch.offline() => {
            return Err(Error::model(
                &m.id,
                format!(
                    "not in the local cache and offline; download {} from https://huggingface.co/{} and pass --translator-dir",
                    m.files.join(", "),
                    m.repo
                ),
            ))
        }
        None => {
            let api = hf_hub::api::sync::ApiBuilder::from_env()
                .with_progress(true)
                .build()
                .map_err(|e| Error::model(&m.id, e.to_string()))?;
            let api = api.repo(repo);
            m.files
                .iter()
                .map(|f| {
                    api.get(f).map_err(|e| {
                        Error::model(
                            &m.id,
                            format!(
                                "cannot fetch {f} from the Hugging Face Hub ({e}); download {} from https://huggingface.co/{} and pass --translator-dir",
                                m.files.join(", "),
                                m.repo
                            ),
                        )
                    })
                })
                .collect::<Result<Vec<_>>>()?
        }
    };
    let folder = paths[0]
        .parent()
        .expect("cached files sit in a snapshot folder")
        .to_path_buf();
    verify_translator_files(m, &folder)?;
    Ok(folder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_name_languages_and_licences() {
        let ms = translator_manifests();
        assert_eq!(ms.len(), 5);
        let nllb = find_translator("nllb-200-distilled-600m").unwrap();
        assert_eq!(nllb.language(Lang::Ps), Some("pbt_Arab"));
        assert!(nllb.licence.contains("NC"));
        let madlad = find_translator("madlad400-3b-mt").unwrap();
        assert_eq!(madlad.language(Lang::Ur), Some("<2ur>"));
        let opus = find_translator("opus-mt-en-ur").unwrap();
        assert!(opus.serves(Lang::En, Lang::Ur));
        assert!(!opus.serves(Lang::En, Lang::Ps));
        assert!(!opus.serves(Lang::Ur, Lang::En));
        assert!(find_translator("nope")
            .unwrap_err()
            .to_string()
            .contains("one of"));
    }

    #[test]
    fn pins_a_hash_at_first_use_and_rejects_a_changed_file() {
        let cache = tempfile::tempdir().unwrap();
        let pins_at = cache.path().join("pins.json");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.bin"), b"first").unwrap();
        let m = TranslatorManifest {
            id: "pin-test".into(),
            task: "translate".into(),
            backend: "nllb".into(),
            description: String::new(),
            licence: "x".into(),
            repo: "o/r".into(),
            revision: "main".into(),
            files: vec!["a.bin".into()],
            weights: None,
            sha256: BTreeMap::new(),
            max_source_tokens: 10,
            languages: BTreeMap::new(),
            pairs: vec![],
        };
        let pins = verify_with_pins(&m, dir.path(), &pins_at).unwrap();
        assert_eq!(pins["a.bin"].len(), 64);
        verify_with_pins(&m, dir.path(), &pins_at).unwrap();
        std::fs::write(dir.path().join("a.bin"), b"changed!").unwrap();
        let err = verify_with_pins(&m, dir.path(), &pins_at).unwrap_err();
        assert!(err.to_string().contains("sha256"), "{err}");
    }
}
