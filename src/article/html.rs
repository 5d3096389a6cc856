//! HTML article extraction: the article text and the page's metadata
//! through dom_smoothie (Mozilla Readability's algorithm), with a
//! block-by-block reading of our own when it finds no article.

use scraper::{ElementRef, Html, Node, Selector};
use serde::{Deserialize, Serialize};

/// Elements whose whole subtree is never article text.
const SKIP: &[&str] = &[
    "script",
    "style",
    "noscript",
    "nav",
    "header",
    "footer",
    "aside",
    "form",
    "button",
    "iframe",
    "svg",
    "figure",
    "figcaption",
    "template",
    "select",
    "menu",
    "dialog",
];
/// Elements that start a new paragraph.
const BLOCKS: &[&str] = &[
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "li",
    "blockquote",
    "pre",
    "div",
    "section",
    "article",
    "main",
    "td",
    "th",
    "dd",
    "dt",
    "br",
    "tr",
    "table",
    "ul",
    "ol",
];
/// Class or id fragments that mark page widgets.
const WIDGET_MARKS: &[&str] = &[
    "share",
    "social",
    "related",
    "comment",
    "newsletter",
    "promo",
    "advert",
    "byline",
    "caption",
    "breadcrumb",
    "sidebar",
    "cookie",
    "subscribe",
    "author-bio",
    "most-read",
    "trending",
    "outbrain",
    "taboola",
];

/// What an HTML page says about itself: the metadata a reader extracts
/// next to the article text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageMeta {
    /// The article's byline (author), when the page names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub byline: Option<String>,
    /// Publication time as the page gives it (usually ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// The site's name ("Dawn", "BBC News").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_name: Option<String>,
    /// The language the page declares (`lang` attribute), as written there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// The canonical URL (`<link rel="canonical">`, else `og:url` or JSON-LD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// An HTML page read: title, body (one paragraph per block, separated by
/// blank lines) and metadata.
#[derive(Debug, Clone, Default)]
pub(super) struct Extracted {
    pub title: Option<String>,
    pub body: String,
    pub meta: PageMeta,
    /// Set when the main extractor found nothing and the page was read
    /// block by block instead.
    pub fallback: Option<String>,
    /// True when the extraction library read the article (its reading is
    /// kept whole).
    pub library: bool,
    /// Set when tags nested too deep were removed before reading.
    pub unwrapped: Option<String>,
}

/// Fewest words the main extractor must find before its reading is used
/// (each character counted as a word in the scripts written without
/// spaces).
const MIN_EXTRACTED_WORDS: usize = 25;

/// Extracts title, body and metadata from an HTML page or fragment with
/// dom_smoothie (Mozilla Readability's algorithm). When it finds no
/// article, the page is read block by block, leaving out scripts,
/// navigation, headers, footers and widgets.
pub(super) fn extract(html: &str) -> Extracted {
    let (depth, flat) = unwrap_deep(html, LIBRARY_DEPTH);
    let mut read = extract_page(flat.as_deref().unwrap_or(html));
    if flat.is_some() {
        read.unwrapped = Some(format!(
            "the page nests elements {depth} deep; the tags past {LIBRARY_DEPTH} were removed and their text kept"
        ));
    }
    read
}

/// [`extract`] on a page nested at most [`LIBRARY_DEPTH`] deep.
fn extract_page(html: &str) -> Extracted {
    let cfg = dom_smoothie::Config {
        text_mode: dom_smoothie::TextMode::Formatted,
        ..Default::default()
    };
    let parsed = dom_smoothie::Readability::new(html, None, Some(cfg)).and_then(|mut r| r.parse());
    let canonical = canonical_url(html);
    match parsed {
        Ok(a) if super::furniture::reading_units(&a.text_content) >= MIN_EXTRACTED_WORDS => {
            let opt = |s: Option<String>| s.map(|s| squash(&s)).filter(|s| !s.is_empty());
            let title = opt(Some(a.title.clone())).map(|t| prefer_h1(&t, html));
            let mut body = paragraphs(&a.text_content);
            if let (Some(t), Some(first)) = (&title, body.first()) {
                if first == t {
                    body.remove(0);
                }
            }
            Extracted {
                title,
                body: body.join("\n\n"),
                meta: PageMeta {
                    byline: opt(a.byline),
                    published: opt(a.published_time),
                    site_name: opt(a.site_name),
                    lang: opt(a.lang),
                    url: canonical.or_else(|| opt(a.url)),
                },
                fallback: None,
                library: true,
                unwrapped: None,
            }
        }
        other => {
            let why = match other {
                Err(e) => format!("the article extractor failed ({e})"),
                Ok(_) => "the article extractor found no article".to_string(),
            };
            let (title, body) = blocks(html);
            Extracted {
                title,
                body,
                meta: PageMeta {
                    url: canonical,
                    ..PageMeta::default()
                },
                fallback: Some(format!("{why}; the page was read block by block")),
                library: false,
                unwrapped: None,
            }
        }
    }
}

/// Deepest nesting the HTML parser and the extraction library are given:
/// the parser's scope checks and the library's scoring walk every element's
/// ancestors, so their time grows with the square of the depth (20,000
/// nested `<div>`s took 90 s). Real article pages nest a few dozen deep.
const LIBRARY_DEPTH: usize = 400;

/// Elements that never hold others, or that the parser closes by itself
/// when a sibling opens (`<p>`, `<li>`, table cells): they add no depth.
const FLAT: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr", "p", "li", "dt", "dd", "option", "tr", "td", "th", "!doctype",
];

/// A page with the tags of elements nested past `limit` removed (their
/// text kept), in one pass over its tags (comments, scripts and styles
/// skipped), with the deepest nesting found; `None` when nothing is that
/// deep. The depth is an upper bound for well-formed pages.
fn unwrap_deep(html: &str, limit: usize) -> (usize, Option<String>) {
    let b = html.as_bytes();
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    let mut out: Option<String> = None;
    let mut copied = 0;
    while let Some(off) = memchr(b'<', &b[i..]) {
        let lt = i + off;
        i = lt + 1;
        if b[i..].starts_with(b"!--") {
            i = find(b, i, b"-->").map_or(b.len(), |e| e + 3);
            continue;
        }
        let close = b.get(i) == Some(&b'/');
        let start = i + usize::from(close);
        let end = b[start..]
            .iter()
            .position(|c| !(c.is_ascii_alphanumeric() || *c == b'!' || *c == b'-'))
            .map_or(b.len(), |e| start + e);
        let name = html[start..end].to_ascii_lowercase();
        if name.is_empty() || FLAT.contains(&name.as_str()) {
            continue;
        }
        let gt = memchr(b'>', &b[end..]).map_or(b.len(), |e| end + e);
        let deep = if close {
            depth = depth.saturating_sub(1);
            depth >= limit
        } else if b[gt - 1] != b'/' {
            if matches!(name.as_str(), "script" | "style" | "textarea" | "title") {
                let closing = format!("</{name}");
                // Past the closing tag, which adds and takes no depth.
                i = find_ci(b, gt, closing.as_bytes())
                    .and_then(|c| memchr(b'>', &b[c..]).map(|e| c + e + 1))
                    .unwrap_or(b.len());
                continue;
            }
            depth += 1;
            deepest = deepest.max(depth);
            depth > limit
        } else {
            false
        };
        i = (gt + 1).min(b.len());
        if deep {
            let o = out.get_or_insert_with(|| String::with_capacity(html.len()));
            o.push_str(&html[copied..lt]);
            o.push(' ');
            copied = i;
        }
    }
    if let Some(o) = &mut out {
        o.push_str(&html[copied..]);
    }
    (deepest, out)
}

fn memchr(c: u8, b: &[u8]) -> Option<usize> {
    b.iter().position(|x| *x == c)
}

/// First `pat` in `b` from `from`.
fn find(b: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(pat.len())
        .position(|w| w == pat)
        .map(|p| from + p)
}

/// First `pat` (ASCII, any case) in `b` from `from`.
fn find_ci(b: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(pat.len())
        .position(|w| w.eq_ignore_ascii_case(pat))
        .map(|p| from + p)
}

/// The page's first `<h1>` instead of a `<title>` that is the site's name
/// and a fragment of it (`Site | Quake` beside `<h1>Quake strikes north`).
fn prefer_h1(title: &str, html: &str) -> String {
    let Some((a, b)) = [" | ", " - ", " – ", " — ", " :: "]
        .iter()
        .find_map(|sep| title.split_once(sep))
    else {
        return title.to_string();
    };
    let Some(h1) = first_h1(html) else {
        return title.to_string();
    };
    let words = |s: &str| -> Vec<String> {
        s.split_whitespace()
            .map(|w| super::paste::trim_word(w).to_lowercase())
            .filter(|w| !w.is_empty())
            .collect()
    };
    let h = words(&h1);
    let inside = |part: &str| {
        let p = words(part);
        !p.is_empty() && p.len() <= h.len() && p.iter().all(|w| h.contains(w))
    };
    if h.len() >= 3 && (inside(a) || inside(b)) {
        h1
    } else {
        title.to_string()
    }
}

/// The text of the page's first `<h1>` element, found by a scan.
fn first_h1(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let open = lower.find("<h1")?;
    let body = open + lower[open..].find('>')? + 1;
    let close = body + lower[body..].find("</h1")?;
    let text = squash(
        &Html::parse_fragment(&html[body..close])
            .root_element()
            .text()
            .collect::<String>(),
    );
    (!text.is_empty()).then_some(text)
}

/// The extractor's text as paragraphs: one per non-empty line.
fn paragraphs(text: &str) -> Vec<String> {
    text.lines().map(squash).filter(|l| !l.is_empty()).collect()
}

/// The `href` of `<link rel="canonical">`, or the `content` of
/// `<meta property="og:url">`, found by a scan of the page's head.
fn canonical_url(html: &str) -> Option<String> {
    let end = html
        .char_indices()
        .nth(256 * 1024)
        .map_or(html.len(), |(i, _)| i);
    let head = &html[..end];
    let lower = head.to_ascii_lowercase();
    let tag_with = |tag: &str, needle: &str, attr: &str| -> Option<String> {
        let mut from = 0;
        while let Some(i) = lower[from..].find(tag) {
            let start = from + i;
            let stop = lower[start..].find('>').map_or(lower.len(), |j| start + j);
            let t = &lower[start..stop];
            if t.contains(needle) {
                return attr_value(&head[start..stop], t, attr);
            }
            from = stop;
        }
        None
    };
    tag_with("<link", "canonical", "href")
        .or_else(|| tag_with("<meta", "og:url", "content"))
        .filter(|u| u.starts_with("http"))
}

/// The value of `attr` in one tag's text (`lower` is the same text in
/// lower case, for finding the attribute).
fn attr_value(tag: &str, lower: &str, attr: &str) -> Option<String> {
    let key = format!("{attr}=");
    let i = lower.find(&key)? + key.len();
    let rest = &tag[i..];
    let (quote, rest) = match rest.chars().next()? {
        q @ ('"' | '\'') => (Some(q), &rest[1..]),
        _ => (None, rest),
    };
    let end = match quote {
        Some(q) => rest.find(q)?,
        None => rest
            .find(|c: char| c.is_whitespace() || c == '/')
            .unwrap_or(rest.len()),
    };
    Some(rest[..end].trim().to_string()).filter(|v| !v.is_empty())
}

/// Reads `(title, body)` block by block: headings, paragraphs and list
/// items of the `article`, `main` or `body`, without page chrome.
fn blocks(html: &str) -> (Option<String>, String) {
    let doc = Html::parse_document(html);
    let root = ["article", "main", "body"]
        .iter()
        .find_map(|s| {
            doc.select(&Selector::parse(s).expect("static selector"))
                .next()
        })
        .unwrap_or_else(|| doc.root_element());
    let mut blocks = Vec::new();
    let mut cur = String::new();
    walk(root, &mut blocks, &mut cur, true);
    flush(&mut blocks, &mut cur);

    let h1 = root
        .select(&Selector::parse("h1").expect("static selector"))
        .next()
        .map(|e| squash(&e.text().collect::<String>()));
    let title = h1.filter(|t| !t.is_empty()).or_else(|| {
        doc.select(&Selector::parse("title").expect("static selector"))
            .next()
            .map(|e| page_title(&e.text().collect::<String>()))
            .filter(|t| !t.is_empty())
    });
    if let Some(t) = &title {
        if blocks.first() == Some(t) {
            blocks.remove(0);
        }
    }
    (title, blocks.join("\n\n"))
}

/// All the text of an HTML fragment, one paragraph per block (for scoring
/// readers against an expected extraction).
pub(super) fn text(html: &str) -> String {
    let doc = Html::parse_fragment(html);
    let mut blocks = Vec::new();
    let mut cur = String::new();
    walk(doc.root_element(), &mut blocks, &mut cur, false);
    flush(&mut blocks, &mut cur);
    blocks.join("\n\n")
}

/// Collects the text under `el` into `blocks`, one per block element;
/// `skip_chrome` leaves out navigation, headers, footers and widgets,
/// otherwise only scripts and styles are left out.
fn walk(el: ElementRef<'_>, blocks: &mut Vec<String>, cur: &mut String, skip_chrome: bool) {
    // An explicit stack rather than recursion: a page can nest its elements
    // thousands deep. `Exit(block)` ends an element after its children.
    type TreeNode<'a> = <ElementRef<'a> as std::ops::Deref>::Target;
    enum Step<'a> {
        Enter(TreeNode<'a>),
        Exit(bool),
    }
    let mut stack: Vec<Step<'_>> = el.children().rev().map(Step::Enter).collect();
    while let Some(step) = stack.pop() {
        let child = match step {
            Step::Exit(block) => {
                if block {
                    flush(blocks, cur);
                } else {
                    cur.push(' ');
                }
                continue;
            }
            Step::Enter(child) => child,
        };
        match child.value() {
            Node::Text(t) => cur.push_str(t),
            Node::Element(e) => {
                let name = e.name();
                let chrome = SKIP.contains(&name) || is_widget(e);
                if (skip_chrome && chrome) || matches!(name, "script" | "style") {
                    continue;
                }
                let block = BLOCKS.contains(&name);
                if block {
                    flush(blocks, cur);
                }
                stack.push(Step::Exit(block));
                stack.extend(child.children().rev().map(Step::Enter));
            }
            _ => {}
        }
    }
}

fn is_widget(e: &scraper::node::Element) -> bool {
    let marks = [e.attr("class"), e.attr("id"), e.attr("role")];
    marks.iter().flatten().any(|v| {
        let v = v.to_ascii_lowercase();
        WIDGET_MARKS.iter().any(|m| v.contains(m)) || v == "navigation" || v == "banner"
    })
}

fn flush(blocks: &mut Vec<String>, cur: &mut String) {
    let text = squash(cur);
    cur.clear();
    if !text.is_empty() {
        blocks.push(text);
    }
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `"Quake hits north | The Daily Site"` → `"Quake hits north"`.
fn page_title(raw: &str) -> String {
    let t = squash(raw);
    for sep in [" | ", " - ", " – ", " — "] {
        if let Some((head, _)) = t.rsplit_once(sep) {
            if head.split_whitespace().count() >= 3 {
                return head.to_string();
            }
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(n: usize, inner: &str) -> String {
        format!(
            "<html><body>{}{inner}{}</body></html>",
            "<div>".repeat(n),
            "</div>".repeat(n)
        )
    }

    #[test]
    fn real_nesting_is_left_alone_and_void_or_self_closing_tags_add_no_depth() {
        let page = "<!doctype html><html><head><meta charset=utf-8><script>if (a<b) x('<div>')</script>\
                    </head><body><!-- <div><div> --><p>One<p>Two<br><img src=x/><ul><li>a<li>b</ul></body></html>";
        assert_eq!(unwrap_deep(page, 400), (3, None));
        assert_eq!(unwrap_deep(&nested(398, "x"), 400), (400, None));
    }

    #[test]
    fn deep_nesting_is_unwrapped_to_the_limit_in_one_pass_and_its_text_kept() {
        for n in [401, 20_000, 200_000] {
            let page = nested(n, "<p>Floods hit Swat on Sunday, officials said.</p>");
            let (depth, flat) = unwrap_deep(&page, LIBRARY_DEPTH);
            assert_eq!(depth, n + 2);
            let flat = flat.expect("unwrapped");
            // What the parser and the library get nests no deeper than the
            // limit, so their per-element ancestor walks stay bounded.
            assert_eq!(unwrap_deep(&flat, LIBRARY_DEPTH), (LIBRARY_DEPTH, None));
            assert!(flat.len() < page.len());
        }
        let read = extract(&nested(
            20_000,
            "<p>Floods hit Swat on Sunday, officials said.</p>",
        ));
        assert_eq!(read.body, "Floods hit Swat on Sunday, officials said.");
        assert!(read.unwrapped.unwrap().contains("20002 deep"));
    }
}
