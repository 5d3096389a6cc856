//! Renderers: text for the terminal, JSON for scripts, Markdown for
//! newsletters.

use crate::digest::Digest;
use crate::error::Result;
use crate::lang::Dir;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Headline, summary and facts as plain text.
    Text,
    /// The full digest as pretty JSON.
    Json,
    /// Markdown, right-to-left text wrapped for Urdu and Pashto.
    Markdown,
}

/// Renders `d` in `format`, ending with a newline.
pub fn render(d: &Digest, format: OutputFormat) -> Result<String> {
    Ok(match format {
        OutputFormat::Text => text(d),
        OutputFormat::Json => {
            let mut s = serde_json::to_string_pretty(d).map_err(|source| crate::Error::Json {
                what: "digest".into(),
                source,
            })?;
            s.push('\n');
            s
        }
        OutputFormat::Markdown => markdown(d),
    })
}

fn text(d: &Digest) -> String {
    let mut s = format!("{}\n\n{}\n\nKey facts:\n", d.headline, d.summary);
    for f in &d.key_facts {
        s.push_str(&format!("- {f}\n"));
    }
    for w in &d.warnings {
        s.push_str(&format!("\nwarning: {w}"));
    }
    if !d.warnings.is_empty() {
        s.push('\n');
    }
    s
}

fn markdown(d: &Digest) -> String {
    let rtl = d.language.dir() == Dir::Rtl;
    let wrap = |t: &str| {
        if rtl {
            format!(
                "<div dir=\"rtl\" lang=\"{}\">\n\n{t}\n\n</div>",
                d.language.code()
            )
        } else {
            t.to_string()
        }
    };
    let mut body = format!("## {}\n\n{}\n\n", d.headline, d.summary);
    for f in &d.key_facts {
        body.push_str(&format!("- {f}\n"));
    }
    let mut s = wrap(body.trim_end());
    s.push_str(&format!(
        "\n\n<sub>Source: {} · model {} ({})</sub>\n",
        d.source.title.as_deref().unwrap_or(&d.source.path),
        d.model.id,
        d.model.licence
    ));
    if !d.warnings.is_empty() {
        s.push_str("\n> **Warnings**\n");
        for w in &d.warnings {
            s.push_str(&format!("> - {w}\n"));
        }
    }
    s
}
pub mod newsletter;
