//! Prompt templates: `prompts/*.toml` (system + user + declared variables),
//! embedded in the binary, overridable from a folder, rendered with minijinja.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::generate::Message;

pub mod chat;

/// The prompts khulasa uses, by name.
pub const NAMES: &[&str] = &[
    "digest",
    "notes",
    "reduce",
    "collapse",
    "translate",
    "refact",
    "judge",
];

const EMBEDDED: &[(&str, &str)] = &[
    ("digest", include_str!("../../prompts/digest.toml")),
    ("notes", include_str!("../../prompts/notes.toml")),
    ("reduce", include_str!("../../prompts/reduce.toml")),
    ("collapse", include_str!("../../prompts/collapse.toml")),
    ("translate", include_str!("../../prompts/translate.toml")),
    ("refact", include_str!("../../prompts/refact.toml")),
    ("judge", include_str!("../../prompts/judge.toml")),
];

/// One prompt template.
#[derive(Debug, Clone, Deserialize)]
pub struct Prompt {
    /// Version, recorded in digests.
    pub version: String,
    /// What the prompt is for.
    #[serde(default)]
    pub description: String,
    /// Variables the templates may use; rendering with others is an error.
    pub variables: Vec<String>,
    /// The system message template.
    pub system: String,
    /// The user message template.
    pub user: String,
}

/// The full set of prompts.
#[derive(Debug, Clone)]
pub struct Prompts {
    prompts: BTreeMap<String, Prompt>,
    /// Where overrides came from, if anywhere.
    pub dir: Option<PathBuf>,
}

impl Prompts {
    /// The embedded prompts.
    pub fn embedded() -> Self {
        let prompts = EMBEDDED
            .iter()
            .map(|(name, text)| {
                let p: Prompt = toml::from_str(text).expect("embedded prompts are valid TOML");
                (name.to_string(), p)
            })
            .collect();
        Self { prompts, dir: None }
    }

    /// Embedded prompts, with any `NAME.toml` in `dir` taking their place.
    pub fn load(dir: Option<&Path>) -> Result<Self> {
        let mut set = Self::embedded();
        let Some(dir) = dir else {
            return Ok(set);
        };
        if !dir.is_dir() {
            return Err(Error::bad_input(
                dir.display().to_string(),
                "prompt folder not found; give a folder holding digest.toml, notes.toml, reduce.toml, collapse.toml or translate.toml",
            ));
        }
        for name in NAMES {
            let path = dir.join(format!("{name}.toml"));
            if !path.exists() {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
            let p: Prompt = toml::from_str(&text).map_err(|source| Error::Toml {
                path: path.clone(),
                source,
            })?;
            set.prompts.insert(name.to_string(), p);
        }
        set.dir = Some(dir.to_path_buf());
        Ok(set)
    }

    /// A prompt by name.
    pub fn get(&self, name: &str) -> &Prompt {
        &self.prompts[name]
    }

    /// A version string covering every prompt, e.g. `digest@1,notes@1,...`.
    pub fn version(&self) -> String {
        self.prompts
            .iter()
            .map(|(n, p)| format!("{n}@{}", p.version))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Renders prompt `name` into a system and a user message.
    pub fn render(
        &self,
        name: &str,
        vars: &BTreeMap<&str, minijinja::Value>,
    ) -> Result<Vec<Message>> {
        let p = self.get(name);
        let mut used = BTreeMap::new();
        for key in &p.variables {
            let Some(v) = vars.get(key.as_str()) else {
                let known: Vec<&str> = vars.keys().copied().collect();
                return Err(Error::bad_input(
                    format!("prompt '{name}'"),
                    format!(
                        "declares variable '{key}', which is not available here; use some of: {}",
                        known.join(", ")
                    ),
                ));
            };
            used.insert(key.as_str(), v.clone());
        }
        let vars = &used;
        let env = strict_env();
        let render = |src: &str| {
            env.render_str(src, vars)
                .map(|s| s.trim().to_string())
                .map_err(|source| Error::Template {
                    name: name.to_string(),
                    source,
                })
        };
        Ok(vec![
            Message::system(render(&p.system)?),
            Message::user(render(&p.user)?),
        ])
    }
}

fn strict_env() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::Value;

    fn vars() -> BTreeMap<&'static str, Value> {
        BTreeMap::from([
            ("article", Value::from("Rain fell. 12 died.")),
            ("title", Value::from("Rain")),
            ("language", Value::from("English")),
            ("min_facts", Value::from(3)),
            ("max_facts", Value::from(5)),
            ("examples", Value::from(true)),
        ])
    }

    #[test]
    fn renders_embedded_digest() {
        let p = Prompts::embedded();
        let m = p.render("digest", &vars()).unwrap();
        assert_eq!(m.len(), 2);
        assert!(m[1].content.contains("3 to 5 different facts"));
        assert!(m[1].content.ends_with("Rain fell. 12 died."));
        assert!(m[1].content.contains("Title: Rain"));
        assert!(p.version().contains("digest@2"));
        // The worked examples come before the article, in the shared prefix.
        let examples = m[1].content.find("Two examples").unwrap();
        assert!(examples < m[1].content.find("Title: Rain").unwrap());
        let mut plain = vars();
        plain.insert("examples", Value::from(false));
        let m = p.render("digest", &plain).unwrap();
        assert!(!m[1].content.contains("Two examples") && !m[1].content.contains("Peshawar"));
        assert!(m[1].content.ends_with("Rain fell. 12 died."));
    }

    #[test]
    fn every_embedded_prompt_declares_what_it_uses() {
        let p = Prompts::embedded();
        for name in NAMES {
            let pr = p.get(name);
            let v: BTreeMap<&str, Value> = pr
                .variables
                .iter()
                .map(|k| (k.as_str(), Value::from("x")))
                .collect();
            p.render(name, &v).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn undeclared_or_missing_variables_fail() {
        let p = Prompts::embedded();
        let mut v = vars();
        v.remove("article");
        let e = p.render("digest", &v).unwrap_err().to_string();
        assert!(e.contains("declares variable 'article'"), "{e}");
        // A template that uses a variable it did not declare fails to render.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("digest.toml"),
            "version = \"1\"\nvariables = []\nsystem = \"S\"\nuser = \"{{ article }}\"\n",
        )
        .unwrap();
        let p = Prompts::load(Some(dir.path())).unwrap();
        assert!(p.render("digest", &vars()).is_err());
    }

    #[test]
    fn folder_overrides_one_prompt() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("digest.toml"),
            "version = \"9\"\nvariables = [\"article\"]\nsystem = \"S\"\nuser = \"U {{ article }}\"\n",
        )
        .unwrap();
        let p = Prompts::load(Some(dir.path())).unwrap();
        let v = BTreeMap::from([("article", Value::from("A"))]);
        assert_eq!(p.render("digest", &v).unwrap()[1].content, "U A");
        assert!(p.version().contains("digest@9"));
        assert!(p.version().contains("notes@1"));
    }
}
