//! Renderers: text for the terminal, JSON for scripts, Markdown for
//! newsletters.

use crate::digest::{Digest, Translation};
use crate::error::Result;
use crate::lang::{Dir, Lang};

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

/// Renders `d` in `format`, ending with a newline. With `evidence`, text and
/// Markdown show each fact's supporting source sentences and verdict.
pub fn render(d: &Digest, format: OutputFormat, evidence: bool) -> Result<String> {
    Ok(match format {
        OutputFormat::Text => text(d, evidence),
        OutputFormat::Json => {
            let mut s = serde_json::to_string_pretty(d).map_err(|source| crate::Error::Json {
                what: "digest".into(),
                source,
            })?;
            s.push('\n');
            s
        }
        OutputFormat::Markdown => markdown(d, evidence),
    })
}

/// The check of fact `i`, if the digest has one for it.
fn check(d: &Digest, i: usize) -> Option<&crate::ground::FactCheck> {
    d.fact_checks.get(i).filter(|c| c.fact == d.key_facts[i])
}

/// The key facts as a list: `flag` marks unverified facts, `quote` starts
/// each evidence line when `evidence` is on.
fn fact_list(d: &Digest, evidence: bool, flag: &str, quote: &str) -> String {
    let mut s = String::new();
    for (i, f) in d.key_facts.iter().enumerate() {
        let mark = if check(d, i).is_some_and(|c| !c.grounded) {
            flag
        } else {
            ""
        };
        s.push_str(&format!("- {f}{mark}\n"));
        if let Some(first) = check(d, i).and_then(|c| c.regenerated_from.as_ref()) {
            if evidence {
                s.push_str(&format!(
                    "{quote}(rewritten from its evidence; the model first wrote: {first})\n"
                ));
            }
        }
        if evidence {
            if let Some(c) = check(d, i).filter(|c| !c.grounded) {
                let v = serde_json::to_value(c.verdict).unwrap_or_default();
                s.push_str(&format!(
                    "{quote}({}: {})\n",
                    v.as_str().unwrap_or("unsupported"),
                    c.problem()
                ));
            }
            for e in check(d, i)
                .map(|c| c.evidence.as_slice())
                .unwrap_or_default()
            {
                s.push_str(&format!("{quote}{e}\n"));
            }
        }
    }
    s
}

/// A translated field, or a marker where every sentence of it was left out.
fn or_missing(t: &str) -> &str {
    if t.trim().is_empty() {
        "[not translated: see warnings]"
    } else {
        t
    }
}

/// Header line of a translation: language, backend, model and licence.
fn translation_header(t: &Translation) -> String {
    format!(
        "{} ({}) · {} backend, model {} · licence {}",
        t.lang.name(),
        t.lang.code(),
        t.backend,
        t.model,
        t.licence
    )
}

/// Text output keeps the logical order of right-to-left text: terminals
/// that support bidirectional text display it; nothing is reversed.
fn text(d: &Digest, evidence: bool) -> String {
    let mut s = format!("{}\n\n{}\n\nKey facts:\n", d.headline, d.summary);
    s.push_str(&fact_list(d, evidence, " [unverified]", "    > "));
    for t in &d.translations {
        s.push_str(&format!(
            "\n--- {} ---\n{}\n\n{}\n\n",
            translation_header(t),
            or_missing(&t.headline),
            or_missing(&t.summary)
        ));
        for f in &t.key_facts {
            s.push_str(&format!("- {}\n", or_missing(f)));
        }
    }
    for w in &d.warnings {
        s.push_str(&format!("\nwarning: {w}"));
    }
    if !d.warnings.is_empty() {
        s.push('\n');
    }
    s
}

/// Right-to-left text in a `<div dir="rtl" lang="..">` block, which common
/// Markdown renderers (GitHub, GitLab, pandoc) display right to left.
fn wrap_dir(lang: Lang, t: &str) -> String {
    if lang.dir() == Dir::Rtl {
        format!(
            "<div dir=\"rtl\" lang=\"{}\">\n\n{t}\n\n</div>",
            lang.code()
        )
    } else {
        t.to_string()
    }
}

fn markdown(d: &Digest, evidence: bool) -> String {
    let mut body = format!("## {}\n\n{}\n\n", d.headline, d.summary);
    body.push_str(&fact_list(d, evidence, " ⚠️ *unverified*", "  > "));
    let mut s = wrap_dir(d.language, body.trim_end());
    for t in &d.translations {
        let mut body = format!(
            "### {}\n\n{}\n\n",
            or_missing(&t.headline),
            or_missing(&t.summary)
        );
        for f in &t.key_facts {
            body.push_str(&format!("- {}\n", or_missing(f)));
        }
        s.push_str(&format!(
            "\n\n<sub>{}</sub>\n\n{}",
            translation_header(t),
            wrap_dir(t.lang, body.trim_end())
        ));
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::fixtures;

    fn with_translation() -> Digest {
        let mut d = fixtures::sample("a", Lang::En, "Floods hit 3 towns", None, None);
        d.translations.push(Translation {
            lang: Lang::Ps,
            dir: Dir::Rtl,
            headline: String::new(),
            summary: "سیلاب ۳ ښارونه ووهل.".into(),
            key_facts: vec!["یو.".into(), String::new(), "درې.".into()],
            backend: "nllb".into(),
            model: "nllb-200-distilled-600m".into(),
            licence: "CC-BY-NC-4.0".into(),
            digits: Default::default(),
            retried: 0,
            flags: vec![],
        });
        d
    }

    #[test]
    fn markdown_wraps_translations_right_to_left_and_marks_what_was_left_out() {
        let md = render(&with_translation(), OutputFormat::Markdown, false).unwrap();
        assert!(md.starts_with("## Floods hit 3 towns"));
        let rtl = md.find("<div dir=\"rtl\" lang=\"ps\">").expect("rtl block");
        assert!(md[rtl..].contains("### [not translated: see warnings]"));
        assert!(md[rtl..].contains("- [not translated: see warnings]\n"));
        assert!(md.contains("licence CC-BY-NC-4.0"));
    }

    #[test]
    fn text_keeps_logical_order() {
        let s = render(&with_translation(), OutputFormat::Text, false).unwrap();
        // Stored order, not reversed or reshaped.
        assert!(s.contains("سیلاب ۳ ښارونه ووهل."));
        assert!(s.contains("Pashto (ps) · nllb backend"));
    }
}
