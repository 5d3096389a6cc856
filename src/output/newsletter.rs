//! Newsletter drafts from digests: grouped by source or date, ordered by
//! publication time, rendered from minijinja templates (overridable), as
//! Markdown or one self-contained HTML file (inline CSS, embedded Noto
//! Nastaliq Urdu for Urdu and Pashto). Same input, same bytes.

use std::collections::BTreeMap;

use base64::Engine as _;
use minijinja::{context, Environment, Value};
use serde::Serialize;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::lang::{Dir, Lang};

const MARKDOWN: &str = include_str!("../../templates/newsletter.md.jinja");
const HTML: &str = include_str!("../../templates/newsletter.html.jinja");
const NASTALIQ: &[u8] =
    include_bytes!("../../assets/fonts/noto-nastaliq-urdu-arabic-400-normal.woff2");
/// The font's family name in the HTML.
pub const FONT_FAMILY: &str = "Noto Nastaliq Urdu";

/// Newsletter format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NewsletterFormat {
    /// Markdown.
    Markdown,
    /// One self-contained HTML file.
    Html,
}

/// How digests are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GroupBy {
    /// By publisher (the URL's host, else the input's folder).
    Source,
    /// By publication date.
    Date,
}

/// Newsletter options.
#[derive(Debug, Clone)]
pub struct NewsletterOptions {
    /// Title at the top.
    pub title: String,
    /// Date line (free text), if any.
    pub date: Option<String>,
    /// Language of the newsletter: digests in it are used.
    pub lang: Lang,
    /// Grouping.
    pub group: GroupBy,
    /// Template source overriding the built-in one.
    pub template: Option<String>,
}

#[derive(Serialize)]
struct ItemView {
    headline: String,
    summary: String,
    key_facts: Vec<String>,
    source: String,
    url: Option<String>,
    published: Option<String>,
    lang: &'static str,
    dir: &'static str,
}

#[derive(Serialize)]
struct GroupView {
    name: String,
    items: Vec<ItemView>,
}

fn dir_name(d: Dir) -> &'static str {
    match d {
        Dir::Ltr => "ltr",
        Dir::Rtl => "rtl",
    }
}

/// The publisher of a digest: the batch item's URL host, the page's site
/// name, its canonical URL's host, else the input's parent folder.
fn publisher(d: &Digest) -> String {
    let url = d.batch.as_ref().and_then(|b| b.url.as_deref());
    if let (None, Some(site)) = (url, d.source.page.site_name.as_deref()) {
        return site.to_string();
    }
    if let Some(url) = url.or(d.source.page.url.as_deref()) {
        let host = url
            .split("://")
            .nth(1)
            .unwrap_or(url)
            .split('/')
            .next()
            .unwrap_or("");
        let host = host.strip_prefix("www.").unwrap_or(host);
        if !host.is_empty() {
            return host.to_string();
        }
    }
    let path = d
        .source
        .path
        .split(".jsonl:")
        .next()
        .unwrap_or(&d.source.path);
    std::path::Path::new(path)
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .map_or_else(|| "Other".to_string(), str::to_string)
}

/// When `d`'s article was published: as its batch item says, else as its
/// page says.
fn published_of(d: &Digest) -> Option<String> {
    d.batch
        .as_ref()
        .and_then(|b| b.published.clone())
        .or_else(|| d.source.page.published.clone())
}

/// The headline, summary and facts of `d` in `lang`: its own text, or a
/// translation it carries.
fn text_in(d: &Digest, lang: Lang) -> Option<(&str, &str, &[String])> {
    if d.language == lang {
        return Some((&d.headline, &d.summary, &d.key_facts));
    }
    d.translations.iter().find(|t| t.lang == lang).map(|t| {
        (
            t.headline.as_str(),
            t.summary.as_str(),
            t.key_facts.as_slice(),
        )
    })
}

/// Groups, orders and renders `digests`. Returns the text and how many
/// digests were left out because they are in another language and carry no
/// translation into it.
pub fn render(
    digests: &[Digest],
    format: NewsletterFormat,
    opts: &NewsletterOptions,
) -> Result<(String, usize)> {
    let mut chosen: Vec<&Digest> = digests
        .iter()
        .filter(|d| text_in(d, opts.lang).is_some())
        .collect();
    let left_out = digests.len() - chosen.len();
    let published = |d: &Digest| published_of(d).unwrap_or_default();
    let id = |d: &Digest| {
        d.batch
            .as_ref()
            .map_or_else(|| d.source.sha256.clone(), |b| b.id.clone())
    };
    chosen.sort_by(|a, b| {
        published(a)
            .cmp(&published(b))
            .then_with(|| id(a).cmp(&id(b)))
    });
    let mut groups: BTreeMap<String, Vec<ItemView>> = BTreeMap::new();
    for d in chosen {
        let name = match opts.group {
            GroupBy::Source => publisher(d),
            GroupBy::Date => {
                let p = published(d);
                if p.len() >= 10 {
                    p[..10].to_string()
                } else {
                    "Undated".to_string()
                }
            }
        };
        let (headline, summary, key_facts) =
            text_in(d, opts.lang).expect("chosen digests have text in the language");
        groups.entry(name).or_default().push(ItemView {
            headline: headline.to_string(),
            summary: summary.to_string(),
            key_facts: key_facts.to_vec(),
            source: d.source.title.clone().unwrap_or_else(|| publisher(d)),
            url: d
                .batch
                .as_ref()
                .and_then(|b| b.url.clone())
                .or_else(|| d.source.page.url.clone()),
            published: published_of(d),
            lang: opts.lang.code(),
            dir: dir_name(opts.lang.dir()),
        });
    }
    let mut models: Vec<String> = digests
        .iter()
        .map(|d| format!("{} ({})", d.model.id, d.model.licence))
        .collect();
    models.sort();
    models.dedup();
    let groups: Vec<GroupView> = groups
        .into_iter()
        .map(|(name, items)| GroupView { name, items })
        .collect();
    let rtl = opts.lang.dir() == Dir::Rtl;
    let (name, builtin) = match format {
        NewsletterFormat::Markdown => ("newsletter.md", MARKDOWN),
        NewsletterFormat::Html => ("newsletter.html", HTML),
    };
    let font_css = if rtl && format == NewsletterFormat::Html {
        let b64 = base64::engine::general_purpose::STANDARD.encode(NASTALIQ);
        format!("@font-face {{ font-family: '{FONT_FAMILY}'; font-style: normal; font-weight: 400; font-display: block; src: url(data:font/woff2;base64,{b64}) format('woff2'); }}")
    } else {
        String::new()
    };
    let mut env = Environment::new();
    env.add_template(name, opts.template.as_deref().unwrap_or(builtin))
        .map_err(|source| Error::Template {
            name: name.into(),
            source,
        })?;
    let text = env
        .get_template(name)
        .and_then(|t| {
            t.render(context! {
                title => opts.title,
                date => opts.date,
                lang => opts.lang.code(),
                dir => dir_name(opts.lang.dir()),
                rtl => rtl,
                groups => groups,
                model => models.join(", "),
                models_licence => "",
                font_css => Value::from_safe_string(font_css),
                font_stack => Value::from_safe_string(if rtl { format!("'{FONT_FAMILY}', serif") } else { "Georgia, 'Times New Roman', serif".into() }),
                line_height => if rtl { "2.2" } else { "1.5" },
                font_licence => if rtl { "Noto Nastaliq Urdu © The Noto Project Authors, SIL Open Font License 1.1" } else { "" },
            })
        })
        .map_err(|source| Error::Template { name: name.into(), source })?;
    Ok((text, left_out))
}

/// Reads digests from a JSONL file (or a batch folder's `digests.jsonl`).
pub fn read_digests(path: &std::path::Path) -> Result<Vec<Digest>> {
    let file = if path.is_dir() {
        path.join("digests.jsonl")
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|source| Error::Json {
                what: format!("{}:{}", file.display(), i + 1),
                source,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
