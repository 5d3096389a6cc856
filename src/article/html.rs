//! HTML article extraction: title, headings and paragraphs, without scripts,
//! styles, navigation, headers, footers, asides and page widgets.

use scraper::{ElementRef, Html, Node, Selector};

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

/// Extracts `(title, body)` from an HTML page or fragment. The body has one
/// paragraph per block, separated by blank lines.
pub(super) fn extract(html: &str) -> (Option<String>, String) {
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
    walk(root, &mut blocks, &mut cur);
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

fn walk(el: ElementRef<'_>, blocks: &mut Vec<String>, cur: &mut String) {
    for child in el.children() {
        match child.value() {
            Node::Text(t) => cur.push_str(t),
            Node::Element(e) => {
                let name = e.name();
                if SKIP.contains(&name) || is_widget(e) {
                    continue;
                }
                let block = BLOCKS.contains(&name);
                if block {
                    flush(blocks, cur);
                }
                if let Some(child_el) = ElementRef::wrap(child) {
                    walk(child_el, blocks, cur);
                }
                if block {
                    flush(blocks, cur);
                } else {
                    cur.push(' ');
                }
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
