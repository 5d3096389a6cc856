//! Page furniture: share links, bylines, captions and credits, "Top Stories"
//! lists, comment sections and author bios that come along when a page is
//! pasted as text. None of it is the story.

use crate::segment::ends_sentence;

/// Paragraph openings that are never article text.
const FURNITURE_STARTS: &[&str] = &[
    "share",
    "save",
    "follow ",
    "join our",
    "download the",
    "get the latest",
    "sign in",
    "log in",
    "listen",
    "watch",
    "image:",
    "getty images",
    "(ap)",
    "file image",
    "follow us",
    "follow @",
    "tweet",
    "email this",
    "print",
    "facebook",
    "twitter",
    "whatsapp",
    "linkedin",
    "copy link",
    "subscribe",
    "sign up",
    "advertisement",
    "skip to",
    "read more",
    "click here",
    "listen to",
    "image copyright",
    "image caption",
    "media caption",
    "image source",
    "photo:",
    "photograph:",
    "photo credit",
    "credit:",
    "caption:",
    "(photo",
    "file photo",
    "updated",
    "published",
    "last updated",
    "posted on",
    "posted:",
    "all rights reserved",
    "copyright",
    "©",
    "watch:",
    "video:",
    "also read",
    "see also",
];
/// Paragraphs that open the comments: everything after them is dropped.
const COMMENT_MARKERS: &[&str] = &[
    "comments",
    "leave a comment",
    "join the conversation",
    "reader comments",
    "show comments",
];
/// Paragraphs that open a block of links, after which short lines are dropped.
const SECTION_MARKERS: &[&str] = &[
    "top stories",
    "related topics",
    "related content",
    "around the web",
    "sponsored",
    "from our partners",
    "you might also like",
    "more to explore",
    "related",
    "related stories",
    "related articles",
    "related news",
    "more on this story",
    "most read",
    "most popular",
    "comments",
    "you may also like",
    "trending",
    "recommended",
    "latest news",
    "latest",
    "more from",
    "more stories",
    "in other news",
    "editor's picks",
    "popular",
    "read next",
];
/// Agencies and photo services that mark a credit line.
const CREDITS: &[&str] = &[
    "afp",
    "reuters",
    "ap photo",
    "getty",
    "epa",
    "/photo",
    "photo by",
    "image:",
    "xinhua",
    "anadolu",
    "shutterstock",
    "courtesy",
];
/// Words that make a sentence an author bio.
const BIO_WORDS: &[&str] = &[
    "reporter",
    "correspondent",
    "journalist",
    "writer",
    "editor",
    "columnist",
    "contributor",
    "covers ",
    "covering ",
];

fn words(s: &str) -> usize {
    s.split_whitespace().count()
}

/// True for prose: a long paragraph that ends like a sentence.
fn is_prose(p: &str) -> bool {
    words(p) >= 10 && ends_sentence(p)
}

/// True when `p` could be a headline: short, and not ending with a period.
pub(super) fn looks_like_headline(p: &str) -> bool {
    let n = words(p);
    (2..=20).contains(&n) && !p.ends_with(['.', '۔', ':'])
}

fn is_marker(lower: &str) -> bool {
    let l = lower.trim_end_matches([':', '.']).trim();
    SECTION_MARKERS.contains(&l) || (l.starts_with("more from ") && words(l) <= 5)
}

fn is_byline(p: &str) -> bool {
    let Some(rest) = p.strip_prefix("By ").or_else(|| p.strip_prefix("by ")) else {
        return false;
    };
    words(p) <= 12
        && rest.chars().next().is_some_and(char::is_uppercase)
        && !ends_sentence(p.trim_end_matches(|c: char| c.is_alphabetic()))
}

fn is_credit(lower: &str) -> bool {
    words(lower) <= 15 && !is_prose(lower) && CREDITS.iter().any(|c| lower.contains(c))
}

fn is_bio(p: &str, lower: &str) -> bool {
    let head: Vec<&str> = p.split_whitespace().take(5).collect();
    let names = head
        .iter()
        .take_while(|w| w.chars().next().is_some_and(char::is_uppercase))
        .count();
    let is_a = lower.contains(" is a ") || lower.contains(" is an ") || lower.contains(" is the ");
    (1..=4).contains(&names)
        && is_a
        && words(p) <= 40
        && BIO_WORDS.iter().any(|w| lower.contains(w))
}

/// Removes an inline preamble of bylines and timestamps written as
/// `By . Name . PUBLISHED: . 14:11 EST, 25 October 2013 . | . UPDATED: . …`
/// (as news sites' text exports carry it) from the start of a paragraph.
fn strip_preamble(p: &str, removed: &mut Vec<String>) -> String {
    let parts: Vec<&str> = p.split(" . ").collect();
    if parts.len() < 3 {
        return p.to_string();
    }
    let mut i = 0;
    while i < parts.len() - 1 {
        let part = parts[i].trim();
        let lower = part.to_lowercase();
        let takes_next = matches!(
            lower.as_str(),
            "by" | "published:" | "updated:" | "last updated:" | "created:"
        );
        let timestamp = part.chars().any(|c| c.is_ascii_digit())
            && ["est", "gmt", "bst", "pkt", "utc", " pm", " am"]
                .iter()
                .any(|z| lower.contains(z))
            && words(part) <= 8;
        if takes_next {
            removed.push(format!("{part} . {}", parts[i + 1].trim()));
            i += 2;
        } else if part == "|" || timestamp || (lower.starts_with("by ") && words(part) <= 6) {
            removed.push(part.to_string());
            i += 1;
        } else {
            break;
        }
    }
    if i == 0 {
        return p.to_string();
    }
    parts[i.min(parts.len())..].join(" . ")
}

/// Removes furniture from `paragraphs` in place and returns what it removed.
pub(super) fn strip(paragraphs: &mut Vec<String>) -> Vec<String> {
    let mut removed = Vec::new();
    if let Some(first) = paragraphs.first_mut() {
        *first = strip_preamble(first, &mut removed);
    }
    let mut kept = Vec::with_capacity(paragraphs.len());
    let mut in_links = false;
    let mut in_comments = false;
    for (i, p) in std::mem::take(paragraphs).into_iter().enumerate() {
        let lower = p.to_lowercase();
        let bare = lower.trim_end_matches([':', '.']).trim();
        let comment_count = (bare.ends_with(" comments") && bare.split_whitespace().count() == 2)
            || (bare.starts_with("comments (") && bare.split_whitespace().count() <= 2);
        in_comments |= i > 0 && (COMMENT_MARKERS.contains(&bare) || comment_count);
        let drop = if in_comments {
            true
        } else if is_marker(&lower) {
            in_links = true;
            true
        } else if in_links && !is_prose(&p) {
            true
        } else {
            in_links = false;
            FURNITURE_STARTS
                .iter()
                .any(|s| lower.starts_with(s) && !is_prose(&p))
                || is_byline(&p)
                || is_credit(&lower)
                || (i > 0 && is_bio(&p, &lower))
                || (words(&p) <= 2 && !ends_sentence(&p))
                || (i > 0 && words(&p) <= 3 && !ends_sentence(&p))
        };
        if drop {
            removed.push(p);
        } else {
            kept.push(p);
        }
    }
    *paragraphs = kept;
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip_vec(v: &[&str]) -> (Vec<String>, Vec<String>) {
        let mut p: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        let r = strip(&mut p);
        (p, r)
    }

    #[test]
    fn keeps_prose_that_mentions_agencies() {
        let (kept, _) = strip_vec(&[
            "Title here today",
            "ISLAMABAD (Reuters) - Pakistan's central bank raised its key rate by 100 basis points on Monday.",
        ]);
        assert_eq!(kept.len(), 2);
    }

    #[test]
    fn drops_inline_byline_and_timestamp_preamble() {
        let (kept, removed) = strip_vec(&["By . Associated Press . PUBLISHED: . 14:11 EST, 25 October 2013 . | . UPDATED: . 15:36 EST, 25 October 2013 . The bishop of the Fargo Catholic Diocese in North Dakota has exposed church members to the virus."]);
        assert_eq!(kept, ["The bishop of the Fargo Catholic Diocese in North Dakota has exposed church members to the virus."]);
        assert_eq!(removed.len(), 4, "{removed:?}");
    }

    #[test]
    fn drops_bylines_and_links_blocks() {
        let (kept, removed) = strip_vec(&[
            "Headline of story",
            "By Sara Ali and John Doe",
            "The story begins here with a long sentence about events in the city today.",
            "Related stories",
            "Another headline",
            "Yet another headline",
            "The story continues with another long sentence about what officials said later.",
        ]);
        assert_eq!(kept.len(), 3, "{kept:?}");
        assert_eq!(removed.len(), 4);
    }
}
