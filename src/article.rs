//! Reading inputs (text, Markdown, HTML, JSON) into a normalized [`Article`].

use std::io::Read;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest as _, Sha256};
use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};
use crate::lang::{self, Lang};

mod furniture;
mod html;
mod markdown;
mod paste;

pub use furniture::Removed;
pub use html::PageMeta;
/// The pasted-page reader's parts, for fitting and scoring it.
pub mod paste_model {
    pub use super::paste::{
        features, story_run, title_candidates, TitleCandidate, FEATURES, FEATURE_NAMES,
        TITLE_FEATURES, TITLE_FEATURE_NAMES,
    };
}

/// Default largest input accepted, in bytes of text.
pub const DEFAULT_MAX_BYTES: usize = 2 * 1024 * 1024;

/// The format an input was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Plain text.
    Text,
    /// Markdown.
    Markdown,
    /// HTML page or fragment.
    Html,
    /// JSON object with `title`/`body` or `text`.
    Json,
}

/// Options for reading inputs.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Largest accepted input in bytes (default 2 MB).
    pub max_bytes: usize,
    /// Remove page furniture (share links, bylines, captions, ...). Default on.
    pub strip_furniture: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BYTES,
            strip_furniture: true,
        }
    }
}

/// A news article, normalized and ready to summarize.
#[derive(Debug, Clone, Serialize)]
pub struct Article {
    /// Where it came from: a path, `-` for stdin, or a batch id.
    pub source: String,
    /// The headline found in the input, if any.
    pub title: Option<String>,
    /// The body: paragraphs separated by blank lines, NFC, whitespace collapsed.
    pub body: String,
    /// The format the input was read as.
    pub format: Format,
    /// The detected language.
    pub lang: Lang,
    /// Number of words in title and body.
    pub word_count: usize,
    /// sha256 of the raw input bytes.
    pub sha256: String,
    /// Lines removed as page furniture, each with its reason.
    pub furniture_removed: Vec<Removed>,
    /// What the page says about itself (HTML): byline, time, site, URL.
    pub meta: PageMeta,
    /// The reader's doubts about this reading (low confidence, a fallback),
    /// carried into the digest's warnings.
    pub warnings: Vec<String>,
}

impl Article {
    /// Title and body as one text, the title first.
    pub fn full_text(&self) -> String {
        match &self.title {
            Some(t) if !self.body.starts_with(t.as_str()) => format!("{t}\n\n{}", self.body),
            _ => self.body.clone(),
        }
    }
}

/// Reads `input` (a path, or `-` for stdin) into an [`Article`].
pub fn read(input: &str, opts: &ReadOptions) -> Result<Article> {
    let (name, bytes) = read_bytes(input, opts.max_bytes)?;
    from_bytes(name, &bytes, opts)
}

/// The raw bytes of a file, or of stdin for `-`, with the display name used
/// in errors; at most `max_bytes` are read.
pub fn read_bytes(input: &str, max_bytes: usize) -> Result<(&str, Vec<u8>)> {
    let bytes = if input == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .lock()
            .take(max_bytes as u64 + 1)
            .read_to_end(&mut buf)
            .map_err(|source| Error::ReadInput {
                input: "<stdin>".into(),
                source,
            })?;
        buf
    } else {
        read_file(input, max_bytes)?
    };
    let name = if input == "-" { "<stdin>" } else { input };
    Ok((name, bytes))
}

fn read_file(input: &str, max_bytes: usize) -> Result<Vec<u8>> {
    let path = Path::new(input);
    let meta = std::fs::metadata(path).map_err(|source| Error::ReadInput {
        input: input.into(),
        source,
    })?;
    if meta.is_dir() {
        return Err(Error::bad_input(
            input,
            "is a folder; pass one article file (folders are for `khulasa batch`)",
        ));
    }
    if meta.len() as usize > max_bytes {
        return Err(too_large(input, meta.len() as usize, max_bytes));
    }
    std::fs::read(path).map_err(|source| Error::ReadInput {
        input: input.into(),
        source,
    })
}

fn too_large(input: &str, len: usize, max: usize) -> Error {
    Error::bad_input(
        input,
        format!(
            "input is {len} bytes, over the limit of {max}; split it or raise --max-input-bytes"
        ),
    )
}

/// Builds an [`Article`] from raw bytes; `name` is used in errors.
pub fn from_bytes(name: &str, bytes: &[u8], opts: &ReadOptions) -> Result<Article> {
    if bytes.len() > opts.max_bytes {
        return Err(too_large(name, bytes.len(), opts.max_bytes));
    }
    let decoded;
    let bytes = match utf16(bytes) {
        None => bytes,
        Some(Ok(text)) => {
            decoded = text.into_bytes();
            &decoded[..]
        }
        Some(Err(at)) => {
            return Err(Error::bad_input(
                name,
                format!("starts as UTF-16 but holds invalid data near byte {at}; convert it to UTF-8, e.g. with iconv"),
            ))
        }
    };
    if bytes.contains(&0) {
        return Err(Error::bad_input(
            name,
            "looks like a binary file (it contains NUL bytes); give a text, Markdown, HTML or JSON article",
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Error::bad_input(
            name,
            format!(
                "is not valid UTF-8 (bad byte at offset {}); convert it to UTF-8, e.g. with iconv",
                e.valid_up_to()
            ),
        )
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(Error::bad_input(
            name,
            "input is empty; give an article with some text",
        ));
    }
    let format = detect_format(name, text);
    let page = match format {
        Format::Json => from_json(name, text)?,
        Format::Html => html::extract(text),
        Format::Markdown => {
            let (title, body) = markdown::strip(text);
            html::Extracted {
                title,
                body,
                ..Default::default()
            }
        }
        Format::Text => html::Extracted {
            body: text.to_string(),
            ..Default::default()
        },
    };
    build(name, bytes, format, page, opts)
}

/// Text saved as UTF-16 with a byte-order mark (as Windows editors save it),
/// decoded; `None` without the mark, `Err(byte offset)` when invalid.
fn utf16(bytes: &[u8]) -> Option<std::result::Result<String, usize>> {
    let little = match bytes {
        [0xFF, 0xFE, ..] => true,
        [0xFE, 0xFF, ..] => false,
        _ => return None,
    };
    let body = &bytes[2..];
    if body.len() % 2 == 1 {
        return Some(Err(bytes.len() - 1));
    }
    let units = body.chunks_exact(2).map(|c| {
        if little {
            u16::from_le_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], c[1]])
        }
    });
    let mut text = String::with_capacity(body.len());
    for (i, c) in char::decode_utf16(units).enumerate() {
        match c {
            Ok(c) => text.push(c),
            Err(_) => return Some(Err(2 + 2 * i)),
        }
    }
    Some(Ok(text))
}

/// Below this confidence a reading carries a warning.
const LOW_CONFIDENCE: f64 = 0.6;

fn build(
    name: &str,
    raw: &[u8],
    format: Format,
    page: html::Extracted,
    opts: &ReadOptions,
) -> Result<Article> {
    let detected = lang::detect(&page.body).lang;
    let mut paragraphs = normalized_paragraphs(&page.body, detected);
    let mut title = page
        .title
        .map(|t| normalize(&t, detected))
        .filter(|t| !t.is_empty());
    // In the extraction library's reading, only the lines that a furniture
    // rule names (captions and credits, bylines, bios, sign-ups, consent
    // banners) are removed, each on its own: its lists and subheadings are
    // the article's. Our own block-by-block reading, used when the library
    // finds no article, gets every rule.
    let extracted = page.library;
    let mut warnings: Vec<String> = page.unwrapped.into_iter().chain(page.fallback).collect();
    let pasted = matches!(format, Format::Text | Format::Markdown) && title.is_none();
    let removed = if !opts.strip_furniture {
        Vec::new()
    } else if extracted {
        furniture::strip_named(&mut paragraphs)
    } else if pasted {
        let reading = paste::read(std::mem::take(&mut paragraphs));
        paragraphs = reading.kept;
        title = reading.title;
        if reading.confidence < LOW_CONFIDENCE && !paragraphs.is_empty() {
            warnings.push(format!(
                "the reader is unsure this is the article (confidence {:.2}); check the text with `khulasa read`",
                reading.confidence
            ));
        }
        reading.removed
    } else {
        furniture::strip(&mut paragraphs)
    };
    if !opts.strip_furniture
        && title.is_none()
        && format == Format::Text
        && paragraphs.len() > 1
        && furniture::looks_like_headline(&paragraphs[0])
    {
        title = Some(paragraphs.remove(0));
    }
    let body = paragraphs.join("\n\n");
    if opts.strip_furniture && (body.trim().is_empty() || !looks_like_article(&paragraphs)) {
        return Err(Error::bad_input(
            name,
            "no article found: what remains is mostly short or link-like lines, not running text; pass --keep-furniture to summarize it anyway",
        ));
    }
    if body.trim().is_empty() {
        return Err(Error::bad_input(
            name,
            "no article text found (only markup); give the article body",
        ));
    }
    if plain_words(&body, MIN_PLAIN_WORDS) < MIN_PLAIN_WORDS {
        return Err(Error::bad_input(
            name,
            "has no running text (only links, numbers or symbols); give an article",
        ));
    }
    let lang = lang::detect(&body).lang;
    let word_count = title.as_deref().map_or(0, count_words) + count_words(&body);
    Ok(Article {
        source: name.to_string(),
        title,
        body,
        format,
        lang,
        word_count,
        sha256: sha256_hex(raw),
        furniture_removed: removed,
        meta: page.meta,
        warnings,
    })
}

/// Characters of running text needed, at least, for an article.
const MIN_PROSE_CHARS: usize = 80;
/// A paragraph of at least this many characters is running text, whatever
/// its punctuation (scripts written without spaces).
const PROSE_LINE_CHARS: usize = 50;

/// True when `paragraphs` read like an article: some running text
/// (sentences of five words or more, or long paragraphs; counted in
/// characters, each character of a script written without spaces as
/// three), making up at least a quarter of the whole, rather than a page of
/// short menu and link lines.
fn looks_like_article(paragraphs: &[String]) -> bool {
    let (mut all, mut prose) = (0, 0);
    for p in paragraphs {
        // Characters that are not spaces, each of Chinese or Japanese
        // counted as three: it carries about what three letters of a
        // spaced script do. One scan of the paragraph gives both counts.
        let (chars, _, dense, _) = furniture::char_tally(p);
        let chars = chars + 2 * dense;
        all += chars;
        if chars >= PROSE_LINE_CHARS || (count_words(p) >= 5 && crate::segment::ends_sentence(p)) {
            prose += chars;
        }
    }
    prose >= MIN_PROSE_CHARS.min(all) && prose * 4 >= all
}

/// Fewest words of letters (not links, handles or numbers) in an article.
const MIN_PLAIN_WORDS: usize = 3;

/// Words of `s` that hold a letter and are not links or handles, counted up
/// to `enough`.
fn plain_words(s: &str, enough: usize) -> usize {
    s.split_whitespace()
        .filter(|w| {
            w.chars().any(crate::lang::is_alphabetic)
                && !w.contains("://")
                && !w.starts_with("www.")
                && !w.starts_with('@')
                && !w.contains('@')
        })
        .take(enough)
        .count()
}

/// All the text of an HTML fragment, one paragraph per block (for scoring
/// a reader against an expected extraction).
pub fn html_text(html: &str) -> String {
    html::text(html)
}

/// The paragraphs a text input is split into before the reader looks at
/// them, normalized as the reader sees them.
pub fn text_paragraphs(text: &str) -> Vec<String> {
    normalized_paragraphs(text, lang::detect(text).lang)
}

/// The paragraphs of `text` (see [`split_paragraphs`]), each normalized
/// for `lang`, the empty ones left out.
fn normalized_paragraphs(text: &str, lang: Lang) -> Vec<String> {
    split_paragraphs(text)
        .map(|p| {
            if is_normal(&p, lang) {
                p
            } else {
                normalize(&p, lang)
            }
        })
        .filter(|p| !p.is_empty())
        .collect()
}

/// True when [`normalize`] would return `s` unchanged, as it does for most
/// lines: NFC, no letters to fix (see [`lang::letter_is_normal`]), and
/// single spaces between words. Checked without building a copy.
fn is_normal(s: &str, lang: Lang) -> bool {
    let ends_clean = |c: Option<char>| c.is_none_or(|c| !c.is_whitespace());
    if !ends_clean(s.chars().next()) || !ends_clean(s.chars().next_back()) {
        return false;
    }
    let ascii = s.is_ascii();
    if !ascii && !lang::is_nfc(s) {
        return false;
    }
    // ASCII whitespace other than single spaces, in scans without an early
    // exit (they vectorize).
    let b = s.as_bytes();
    let control_space = b.iter().fold(false, |any, &c| {
        any | (c.wrapping_sub(b'\t') <= b'\r' - b'\t')
    });
    let double_space = b
        .iter()
        .zip(&b[1.min(b.len())..])
        .fold(false, |any, (&x, &y)| any | ((x == b' ') & (y == b' ')));
    if control_space || double_space {
        return false;
    }
    // Every whitespace character beyond ASCII lies in U+0085–U+3000, the
    // Arabic script's letters outside it, so they skip the table search.
    let space = |c: char| matches!(c as u32, 0x85..=0xFF | 0x1680..=0x3000) && c.is_whitespace();
    ascii
        || s.chars()
            .all(|c| c.is_ascii() || (lang::letter_is_normal(c, lang) && !space(c)))
}

/// Number of whitespace-separated words.
pub fn count_words(s: &str) -> usize {
    furniture::words(s)
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// NFC, letter forms for Urdu/Pashto, and collapsed whitespace (one line).
pub fn normalize(s: &str, lang: Lang) -> String {
    // ASCII text is already in NFC, and most other text is too: the quick
    // check settles it without composing.
    let nfc: std::borrow::Cow<'_, str> = if s.is_ascii() || lang::is_nfc(s) {
        std::borrow::Cow::Borrowed(s)
    } else {
        std::borrow::Cow::Owned(s.nfc().collect())
    };
    let fixed = if lang == Lang::En
        && (nfc.is_ascii()
            || !nfc
                .chars()
                .any(|c| lang::is_arabic_script(c) || lang::is_direction_mark(c)))
    {
        nfc
    } else {
        std::borrow::Cow::Owned(lang::normalize_letters(&nfc, lang))
    };
    let mut out = String::with_capacity(fixed.len());
    for w in fixed.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// Splits text into paragraphs. Blank lines separate paragraphs. Within a
/// block, lines are joined when the block is hard-wrapped text (lines of
/// similar length that run on), or when a line runs on into a lower-case
/// continuation; otherwise each line is a paragraph, as in a pasted page.
fn split_paragraphs(text: &str) -> impl Iterator<Item = String> + '_ {
    let mut out = Vec::new();
    let mut block: Vec<&str> = Vec::new();
    for line in text.lines().chain(std::iter::once("")) {
        let line = line.trim();
        if !line.is_empty() {
            block.push(line);
            continue;
        }
        if block.is_empty() {
            continue;
        }
        if is_wrapped(&block) {
            out.push(block.join(" "));
        } else {
            let mut cur = String::new();
            for l in &block {
                let runs_on = !cur.is_empty()
                    && !ends_sentence_line(&cur)
                    && l.chars().next().is_some_and(char::is_lowercase);
                if runs_on {
                    cur.push(' ');
                } else if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                cur.push_str(l);
            }
            out.push(cur);
        }
        block.clear();
    }
    out.into_iter()
}

fn ends_sentence_line(s: &str) -> bool {
    crate::segment::ends_sentence(s) || s.ends_with(':')
}

/// A block of three or more lines, most of which run on without a full
/// stop at a similar width: text wrapped at a fixed column.
fn is_wrapped(block: &[&str]) -> bool {
    if block.len() < 3 {
        return false;
    }
    let body = &block[..block.len() - 1];
    let width = body.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let wrapped = body
        .iter()
        .filter(|l| !ends_sentence_line(l) && l.chars().count() * 4 >= width * 3 && width >= 40)
        .count();
    wrapped * 10 >= body.len() * 6
}

fn detect_format(name: &str, text: &str) -> Format {
    let ext = Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let head = text.trim_start();
    // The first 2,048 characters, lower-cased.
    let end = head.char_indices().nth(2048).map_or(head.len(), |(i, _)| i);
    let lower = head[..end].to_ascii_lowercase();
    let looks_json =
        head.starts_with('{') && serde_json::from_str::<serde_json::Value>(text).is_ok();
    let looks_html = lower.starts_with("<!doctype html")
        || lower.starts_with("<html")
        || ["<body", "<p>", "<p ", "<article", "<div", "<head"]
            .iter()
            .any(|t| lower.contains(t));
    match ext.as_deref() {
        Some("json") => Format::Json,
        Some("html" | "htm" | "xhtml") => Format::Html,
        Some("md" | "markdown") => Format::Markdown,
        _ if looks_json => Format::Json,
        _ if looks_html => Format::Html,
        _ if markdown::looks_like(head) => Format::Markdown,
        _ => Format::Text,
    }
}

fn from_json(name: &str, text: &str) -> Result<html::Extracted> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|source| Error::Json {
        what: name.into(),
        source,
    })?;
    let field = |k: &str| value.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let title = field("title").or_else(|| field("headline"));
    if let Some(body) = field("body")
        .or_else(|| field("text"))
        .or_else(|| field("article"))
    {
        return Ok(html::Extracted {
            title,
            body,
            ..Default::default()
        });
    }
    if let Some(h) = field("html") {
        let mut page = html::extract(&h);
        page.title = title.or(page.title);
        return Ok(page);
    }
    Err(Error::bad_input(
        name,
        "JSON article needs a \"body\" or \"text\" string field (with an optional \"title\")",
    ))
}

#[cfg(test)]
mod tests;
