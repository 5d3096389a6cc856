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
    "continue reading",
    "read later",
    "read the full",
    "story continues",
    "accept cookies",
    "we use cookies",
    "this site uses cookies",
    "manage cookies",
    "cookie settings",
    "your privacy",
    "enter your email",
    "get our newsletter",
    "sign up for",
    "newsletter",
    "go to permalink",
    "report an error",
    "leave a reply",
    "view comments",
    "show caption",
    "hide caption",
    "enlarge this image",
    "toggle caption",
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
    "source:",
    "photo:",
    "photograph:",
    "illustration:",
    "file photo",
    "photo/",
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
pub(super) fn is_prose(p: &str) -> bool {
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
fn strip_preamble(p: &str, removed: &mut Vec<Removed>) -> String {
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
            removed.push(Removed::new(
                format!("{part} . {}", parts[i + 1].trim()),
                "byline or timestamp",
            ));
            i += 2;
        } else if part == "|" || timestamp || (lower.starts_with("by ") && words(part) <= 6) {
            removed.push(Removed::new(part, "byline or timestamp"));
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

/// A line removed from an input, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Removed {
    /// The line's text.
    pub text: String,
    /// Why it was removed ("byline", "photo caption or credit", ...).
    pub reason: &'static str,
    /// The pasted-page reader's story probability for the line, when it
    /// was removed for lying outside the story.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

impl Removed {
    pub(super) fn new(text: impl Into<String>, reason: &'static str) -> Self {
        Self {
            text: text.into(),
            reason,
            score: None,
        }
    }

    /// The same, with the reader's story probability for the line.
    #[must_use]
    pub(super) fn with_score(mut self, p: f64) -> Self {
        self.score = Some((p * 1000.0).round() / 1000.0);
        self
    }
}

/// Why a single paragraph is furniture on its own, if it is: a byline, a
/// caption or credit, an author bio, a share or sign-up prompt, the opening
/// of a links section or of the comments. `first` is true for the first
/// paragraph of the story.
pub(super) fn rule(p: &str, first: bool) -> Option<&'static str> {
    // A long paragraph of running text is none of these; only a prompt
    // written as one long line can be.
    if words(p) > 40 {
        let lower = p.chars().take(40).collect::<String>().to_lowercase();
        let prompt = FURNITURE_STARTS.iter().any(|s| lower.starts_with(s));
        return (prompt && !is_prose(p)).then_some("share, sign-up or page prompt");
    }
    let lower = p.to_lowercase();
    let bare = lower.trim_end_matches([':', '.']).trim();
    if opens_comments(bare) && !first {
        Some("comments")
    } else if is_marker(&lower) {
        Some("list of links (Top stories, Related, ...)")
    } else if is_byline(p) {
        Some("byline")
    } else if is_credit(&lower) {
        Some("photo caption or credit")
    } else if !first && is_bio(p, &lower) {
        Some("author bio")
    } else if FURNITURE_STARTS
        .iter()
        .any(|s| lower.starts_with(s) && !is_prose(p))
    {
        Some("share, sign-up or page prompt")
    } else {
        None
    }
}

fn opens_comments(bare: &str) -> bool {
    let n = bare.split_whitespace().count();
    COMMENT_MARKERS.contains(&bare)
        || (bare.ends_with(" comments") && n == 2)
        || (bare.starts_with("comments (") && n <= 2)
}

/// Removes furniture from `paragraphs` in place and returns what it removed,
/// each line with its reason.
pub(super) fn strip(paragraphs: &mut Vec<String>) -> Vec<Removed> {
    let mut removed = Vec::new();
    if let Some(first) = paragraphs.first_mut() {
        *first = strip_preamble(first, &mut removed);
    }
    let mut kept = Vec::with_capacity(paragraphs.len());
    let mut in_links = false;
    let mut in_comments = false;
    for (i, p) in std::mem::take(paragraphs).into_iter().enumerate() {
        let why = rule(&p, i == 0);
        in_comments |= why == Some("comments");
        let reason = if in_comments {
            Some("comments")
        } else if why == Some("list of links (Top stories, Related, ...)") {
            in_links = true;
            why
        } else if in_links && !is_prose(&p) {
            Some("list of links (Top stories, Related, ...)")
        } else {
            in_links = false;
            why.or_else(|| {
                let short = words(&p) <= 2 || (i > 0 && words(&p) <= 3);
                (short && !ends_sentence(&p)).then_some("short line, not running text")
            })
        };
        match reason {
            Some(r) => removed.push(Removed::new(p, r)),
            None => kept.push(p),
        }
    }
    *paragraphs = kept;
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip_vec(v: &[&str]) -> (Vec<String>, Vec<Removed>) {
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
