//! Page furniture: share links, bylines, captions and credits, "Top Stories"
//! lists, comment sections and author bios that come along when a page is
//! pasted as text. None of it is the story.

use crate::segment::ends_sentence;

/// The reason given for a photo caption or credit.
pub(super) const CAPTION: &str = "photo caption or credit";
/// The rule of a paragraph that opens the comments.
pub(super) const COMMENTS: &str = "comments";

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
    // Urdu (letters as `normalize` writes them: ی, ک).
    "شیئر",
    "مزید پڑھیں",
    "مزید پڑھیے",
    "یہ بھی پڑھیں",
    "یہ بھی پڑھیے",
    "مزید جانیں",
    "تصویر:",
    "تصویر کا ذریعہ",
    "تصویر کا کیپشن",
    "فوٹو:",
    "فوٹو :",
    "فائل فوٹو",
    "ویڈیو:",
    "ٹیگز",
    "متعلقہ عنوانات",
    "جملہ حقوق",
    "جملہ حقوق محفوظ",
    "شائع",
    "اپ ڈیٹ",
    "آخری اپ ڈیٹ",
    "تاریخ اشاعت",
    "اشاعت:",
    "متعلقہ موضوعات",
    "موضوعات:",
    "سبسکرائب",
    "سائن اپ",
    "اشتہار",
    "مواد پر جائیں",
    // Pashto (its own ي kept).
    "شریک یې کړئ",
    "دا هم ولولئ",
    "نور ولولئ",
    "نور لوستل",
    "انځور:",
    "د انځور سرچینه",
    "د انځور عنوان",
    "عکس:",
    "ټګونه",
    "اړوندې موضوعګانې",
    "اړوند سرلیکونه",
    "ټول حقونه",
    "خپور شوی",
    "خپره شوې",
    "تازه شوی",
    "وروستی ځل",
];
/// Services whose names open a row of share links (`Facebook Twitter
/// Email`), and also headlines and sentences about them (`Facebook fined
/// over data breach`); see [`service_links`].
const SERVICES: &[&str] = &[
    "facebook",
    "twitter",
    "whatsapp",
    "linkedin",
    "instagram",
    "youtube",
    "pinterest",
];

/// Words that follow a service's name in a row of share links.
const SERVICE_LINK_WORDS: &[&str] = &[
    "google+", "email", "e-mail", "rss", "share", "print", "copy",
];

/// Whether `p`, whose lower-cased start is `lower`, is a row of share or
/// follow links that opens with a service's name: the name with at most
/// two more words (`Twitter (@mozilla)`, `Facebook Conversations`), or
/// followed by another service or link word. A line that goes on about
/// the service (`Twitter Lite se estrena en 11 países`) is not.
fn service_links(p: &str, lower: &str) -> bool {
    if !SERVICES.iter().any(|s| lower.starts_with(s)) {
        return false;
    }
    let mut ws = split_words(p);
    let second = ws.nth(1);
    let more = ws.nth(1).is_some();
    !more
        || second.is_some_and(|w| {
            let w = w.to_lowercase();
            SERVICES.iter().any(|s| w.starts_with(s)) || SERVICE_LINK_WORDS.contains(&w.as_str())
        })
}

/// Paragraphs that open the comments: everything after them is dropped.
const COMMENT_MARKERS: &[&str] = &[
    "comments",
    "leave a comment",
    "join the conversation",
    "reader comments",
    "show comments",
    "تبصرے",
    "قارئین کے تبصرے",
    "اپنی رائے کا اظہار کریں",
    "نظرونه",
    "خپل نظر ولیکئ",
    "د لوستونکو نظرونه",
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
    "see also",
    "in case you missed it",
    "other stories",
    "most popular stories",
    "متعلقہ خبریں",
    "متعلقہ",
    "اسی بارے میں",
    "اس سے متعلق",
    "سب سے زیادہ پڑھی جانے والی",
    "سب سے زیادہ پڑھی جانے والی خبریں",
    "مقبول ترین",
    "تازہ ترین",
    "اہم خبریں",
    "مزید خبریں",
    "اړوند خبرونه",
    "اړوند",
    "په دې اړه نور",
    "ډېر لوستل شوي",
    "تر ټولو ډېر لوستل شوي",
    "تر ټولو ډېر لوستل شوې",
    "تازه خبرونه",
    "نور خبرونه",
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
    "اے ایف پی",
    "رائٹرز",
    "اے پی",
    "تصویر:",
    "فوٹو:",
    "فوٹو :",
    "بشکریہ",
    "گیٹی",
    "اې اف پي",
    "رویټرز",
    "انځور:",
    "عکس:",
    "ګېټي",
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

/// Words that make a short Urdu or Pashto sentence an author bio when a
/// copula follows them (`… ایک صحافی ہیں`, `… یو خبریال دی`).
const BIO_WORDS_UR_PS: &[&str] = &[
    "صحافی",
    "نامہ نگار",
    "کالم نگار",
    "تجزیہ کار",
    "مصنف",
    "رپورٹر",
    "خبریال",
    "لیکوال",
    "شنونکی",
    "کالم لیکونکی",
];
/// Copulas that close such a bio sentence.
const COPULAS_UR_PS: &[&str] = &["ہیں", "ہے", "تھے", "دی", "ده", "دي"];
/// Openings of an Urdu or Pashto byline (`تحریر: …`, `بی بی سی اردو،
/// اسلام آباد`).
const BYLINE_OPENINGS_UR_PS: &[&str] = &[
    "تحریر:",
    "تحریر :",
    "رپورٹ:",
    "لیکوال:",
    "راپور:",
    "ویب ڈیسک",
    "بی بی سی اردو",
    "بی بی سی پښتو",
];
/// Titles that close an Urdu or Pashto byline after a comma (`سارہ ملک،
/// نامہ نگار`).
const BYLINE_TITLES_UR_PS: &[&str] = &["نامہ نگار", "نمائندہ خصوصی", "رپورٹر", "خبریال"];

/// Most words of an Urdu or Pashto byline.
const BYLINE_WORDS_UR_PS: usize = 14;

/// Whether a short Urdu or Pashto line is a byline: it opens like one, or
/// ends with a reporter's title after a comma. A headline that names a
/// reporter (`طالبانو خبریال ونیو`) has no comma before the title. A date
/// may follow the title (`سارہ ملک، نامہ نگار شائع 3 مارچ`).
fn is_byline_ur_ps(p: &str, n: usize) -> bool {
    if n > BYLINE_WORDS_UR_PS || ends_sentence(p) {
        return false;
    }
    BYLINE_OPENINGS_UR_PS.iter().any(|o| p.starts_with(o))
        || p.rsplit_once(['،', ',']).is_some_and(|(_, rest)| {
            // The title, then perhaps the date run on after it.
            BYLINE_TITLES_UR_PS
                .iter()
                .any(|t| rest.trim().starts_with(t))
        })
}

/// Whether an Urdu or Pashto line says what its author is: a bio word
/// among its first words, a copula right after it (`… ایک صحافی ہیں جو
/// …`, `… یو خبریال دی چې …`).
fn is_bio_ur_ps(p: &str) -> bool {
    // The bio words split into their words once.
    static BIOS: std::sync::OnceLock<Vec<Vec<&'static str>>> = std::sync::OnceLock::new();
    let bios = BIOS.get_or_init(|| {
        BIO_WORDS_UR_PS
            .iter()
            .map(|b| b.split(' ').collect())
            .collect()
    });
    let ws: Vec<&str> = split_words(p).take(10).collect();
    (0..ws.len()).any(|i| {
        bios.iter().any(|b| {
            ws[i..].starts_with(b)
                && ws[i + b.len()..]
                    .iter()
                    .take(2)
                    .any(|w| COPULAS_UR_PS.contains(&w.trim_end_matches(['۔', '.', '،'])))
        })
    })
}

/// Month names of the Gregorian calendar in Urdu and Pashto, as bylines
/// date stories (`شائع 3 مارچ 2024`, `خپور شوی 5 اکتوبر 2025`).
const MONTHS_UR_PS: &[&str] = &[
    "جنوری",
    "فروری",
    "مارچ",
    "اپریل",
    "مئی",
    "جون",
    "جولائی",
    "اگست",
    "ستمبر",
    "اکتوبر",
    "نومبر",
    "دسمبر",
    "جنوري",
    "فبروري",
    "اپرېل",
    "مۍ",
    "جولای",
    "اګست",
    "سپتمبر",
    "ډسمبر",
];

/// Whether `l` is a date stamp, perhaps after a byline (`Sara Khan — Dawn,
/// Islamabad Published 21 June 2024 09:19`): a year with a month's name or
/// a clock time. A headline that names a year (`The 2024 budget`) has
/// neither beside it.
pub(super) fn dateline(l: &str) -> bool {
    // Both a year and a clock time have digits.
    if !l.bytes().any(|b| b.is_ascii_digit()) {
        return false;
    }
    let ws: Vec<&str> = split_words(l).take(31).collect();
    let year = ws.iter().any(|w| {
        let t = w.trim_matches(|c: char| !c.is_ascii_digit());
        t.len() == 4 && (t.starts_with("19") || t.starts_with("20"))
    });
    year && ws.iter().any(|w| {
        let t = w.trim_matches(|c: char| c.is_ascii_punctuation());
        let clock = t.split_once(':').is_some_and(|(h, m)| {
            (1..=2).contains(&h.len())
                && m.len() == 2
                && h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit())
        });
        clock || english_month(t) || MONTHS_UR_PS.contains(&t)
    })
}

/// Whether `t` is an English month's name (`March`) or its abbreviation
/// (`Mar`, `Sept`).
pub(super) fn english_month(t: &str) -> bool {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    (3..=9).contains(&t.len())
        && t.is_char_boundary(3)
        && MONTHS.iter().any(|m| t[..3].eq_ignore_ascii_case(m))
}

/// Most words of a date line (`Published 21 June 2024 09:19`).
const DATELINE_WORDS: usize = 8;

/// Whether a line is a cookie or consent banner: it names cookies and
/// asks to accept them or says the site uses them.
fn is_consent(p: &str) -> bool {
    let has = |s: &str| p.contains(s);
    if !(has("ookie") || has("OOKIE") || has("کوکی")) {
        return false;
    }
    let lower = crate::lang::to_lowercase(p);
    [
        "use",
        "accept",
        "policy",
        "consent",
        "استعمال",
        "قبول",
        "پالیسی",
        "کارو",
        "ومنئ",
        "تګلار",
    ]
    .iter()
    .any(|w| lower.contains(w))
}

/// Words of `s` as [`words`] counts them, plus one for each character of
/// the scripts written without spaces between words (from U+3000 on, as
/// [`char_tally`] counts them: Chinese, Japanese), where one space-separated
/// "word" can be a whole sentence.
pub(super) fn reading_units(s: &str) -> usize {
    words(s) + char_tally(s).2
}

/// Words of `s`, split at whitespace: the count of [`split_words`].
pub(super) fn words(s: &str) -> usize {
    let b = s.as_bytes();
    if !has_unicode_space(b) {
        // Only ASCII bytes can be spaces: a word starts at each non-space
        // byte that opens the string or follows a space (the bytes of a
        // multi-byte character are never spaces). No byte depends on the
        // count so far, and a block's count fits a byte, so the compiler
        // vectorizes the pass.
        let mut n = usize::from(b.first().is_some_and(|&c| !ascii_space(c)));
        let mut i = 1;
        while i < b.len() {
            let end = (i + usize::from(u8::MAX)).min(b.len());
            let starts = b[i - 1..end - 1]
                .iter()
                .zip(&b[i..end])
                .fold(0u8, |k, (&x, &y)| {
                    k + u8::from(ascii_space(x) & !ascii_space(y))
                });
            n += usize::from(starts);
            i = end;
        }
        return n;
    }
    let mut n = 0;
    let mut after_space = true;
    let mut i = 0;
    while i < b.len() {
        let (space, len) = space_at(b, i);
        n += usize::from(after_space & !space);
        after_space = space;
        i += len;
    }
    n
}

/// The ASCII bytes that `str::split_whitespace` splits at.
#[inline]
pub(super) fn ascii_space(b: u8) -> bool {
    (b == b' ') | (b.wrapping_sub(b'\t') <= b'\r' - b'\t')
}

/// Whether `b` (UTF-8) holds a whitespace character beyond ASCII. Only the
/// lead bytes that can start one are decoded, so text in other scripts,
/// and curly quotes and dashes, cost one byte test each.
fn has_unicode_space(b: &[u8]) -> bool {
    if b.is_ascii() {
        return false;
    }
    let lead = |c: u8| matches!(c, 0xC2 | 0xE1 | 0xE2 | 0xE3);
    // Blocks of bytes are tested without an early exit, which vectorizes;
    // only a block with a possible lead byte is looked at byte by byte.
    let mut at = 0;
    for block in b.chunks(32) {
        if block.iter().fold(false, |any, &c| any | lead(c)) {
            let found = (0..block.len()).any(|k| lead(block[k]) && space_at(b, at + k).0);
            if found {
                return true;
            }
        }
        at += block.len();
    }
    false
}

/// Whether the character that starts at byte `i` of `b` (a UTF-8 string)
/// is whitespace, and its length in bytes. ASCII is read byte by byte;
/// only the lead bytes that can start a Unicode space (U+0085, U+00A0,
/// U+1680, U+2000–U+205F, U+3000) are decoded.
#[inline]
fn space_at(b: &[u8], i: usize) -> (bool, usize) {
    let c = b[i];
    if c < 0x80 {
        return (ascii_space(c), 1);
    }
    let len = match c {
        0xF0.. => 4,
        0xE0.. => 3,
        _ => 2,
    };
    let space = matches!(c, 0xC2 | 0xE1 | 0xE2 | 0xE3)
        && std::str::from_utf8(&b[i..(i + len).min(b.len())])
            .ok()
            .and_then(|ch| ch.chars().next())
            .is_some_and(char::is_whitespace);
    (space, len)
}

/// Characters of `s` that are not whitespace, ASCII digits, characters
/// from U+3000 on (the scripts written without spaces), and commas (Latin,
/// Arabic, and the full-width and enumeration commas of Chinese and
/// Japanese), in one byte scan.
pub(super) fn char_tally(s: &str) -> (usize, usize, usize, usize) {
    let b = s.as_bytes();
    // `،` (U+060C) is D8 8C, `，` (U+FF0C) EF BC 8C and `、` (U+3001) E3 80
    // 81; U+3000 is E3 80 80, and every character from it on leads with E3
    // or more.
    let arabic_comma = |i: usize| {
        matches!(
            b[i..],
            [0xD8, 0x8C, ..] | [0xEF, 0xBC, 0x8C, ..] | [0xE3, 0x80, 0x81, ..]
        )
    };
    if !has_unicode_space(b) {
        // Each byte counts on its own: a character is a byte that is not
        // a continuation byte (10xxxxxx) or an ASCII space. The counts of
        // a block fit a byte each, so the block's loop vectorizes.
        let (mut chars, mut digits, mut dense, mut commas) = (0, 0, 0, 0);
        for block in b.chunks(u8::MAX as usize) {
            let mut n = [0u8; 4];
            for &c in block {
                n[0] += u8::from((c & 0xC0) != 0x80 && !ascii_space(c));
                n[1] += u8::from(c.is_ascii_digit());
                n[2] += u8::from(c >= 0xE3);
                n[3] += u8::from(c == b',');
            }
            chars += usize::from(n[0]);
            digits += usize::from(n[1]);
            dense += usize::from(n[2]);
            commas += usize::from(n[3]);
        }
        if dense > 0 || b.contains(&0xD8) {
            commas += (0..b.len()).filter(|&i| arabic_comma(i)).count();
        }
        return (chars, digits, dense, commas);
    }
    let (mut chars, mut digits, mut dense, mut commas) = (0, 0, 0, 0);
    let mut i = 0;
    while i < b.len() {
        let (space, len) = space_at(b, i);
        chars += usize::from(!space);
        digits += usize::from(b[i].is_ascii_digit());
        dense += usize::from(b[i] >= 0xE3);
        commas += usize::from(b[i] == b',' || arabic_comma(i));
        i += len;
    }
    (chars, digits, dense, commas)
}

/// `1. Finland`, `2) Norway`: an item of a numbered list, which in a story
/// is the story's (a ranking, steps), however short; not a date or a
/// number (`21.dez.2018`, `08.04.2015 12:46`, `13.0%`).
pub(super) fn numbered(p: &str) -> bool {
    let t = p.trim_start();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &t[digits..];
    digits > 0
        && digits <= 3
        && rest.starts_with(['.', ')'])
        && rest[1..].starts_with(char::is_whitespace)
}

/// A line's size in words: its [`words`], or for text in scripts written
/// without spaces (Chinese, Japanese) one word for every two characters.
pub(super) fn size(s: &str) -> usize {
    let spaced = words(s);
    if s.is_ascii() {
        return spaced;
    }
    spaced.max(dense_words(char_tally(s).2))
}

/// Words in `dense` characters of a script written without spaces.
pub(super) fn dense_words(dense: usize) -> usize {
    dense / 2
}

/// The words of `s`, as `str::split_whitespace` gives them, found by the
/// byte scan of [`words`].
pub(super) fn split_words(s: &str) -> impl Iterator<Item = &str> + '_ {
    let b = s.as_bytes();
    let unicode = has_unicode_space(b);
    let mut i = 0;
    std::iter::from_fn(move || {
        if !unicode {
            // Without Unicode spaces, every space is one ASCII byte: byte
            // scans find the next word's start and end.
            let start = i + b[i..].iter().position(|&c| !ascii_space(c))?;
            i = b[start..]
                .iter()
                .position(|&c| ascii_space(c))
                .map_or(b.len(), |k| start + k);
            return Some(&s[start..i]);
        }
        while i < b.len() {
            let (space, len) = space_at(b, i);
            if !space {
                break;
            }
            i += len;
        }
        if i >= b.len() {
            return None;
        }
        let start = i;
        while i < b.len() {
            let (space, len) = space_at(b, i);
            if space {
                break;
            }
            i += len;
        }
        Some(&s[start..i])
    })
}

/// True for prose: a long paragraph (of `n` words) that ends like a
/// sentence.
fn prose_of(p: &str, n: usize) -> bool {
    n >= 10 && ends_sentence(p)
}

/// True when `p` could be a headline: short, and not ending with a period.
pub(super) fn looks_like_headline(p: &str) -> bool {
    let n = words(p);
    (2..=20).contains(&n) && !p.ends_with(['.', '۔', ':'])
}

/// Most words of a line of navigation links.
const MENU_WORDS: usize = 30;

/// Whether `p` is a line of navigation links: three or more items of one
/// to three words between ` | `, ` • ` or ` · ` (`Home | News | Sport`), or
/// a trail of sections (`Home › World`, `News » Asia`). The separators
/// stand between spaces (a middle dot inside a name, `马克·吐温`, is
/// none). A line with digits, sentence punctuation at its end, or a
/// leading `|` (a Markdown table row) is not one.
fn is_menu(p: &str) -> bool {
    let t = p.trim();
    if t.starts_with('|')
        || t.ends_with(['.', '۔', '?', '!'])
        || t.contains(|c: char| c.is_ascii_digit())
    {
        return false;
    }
    const SEPARATORS: [&str; 5] = [" | ", " • ", " · ", " › ", " » "];
    // Without a separator the line is one item, never a menu: one scan
    // instead of a search for each separator.
    if !t.contains(['|', '•', '·', '›', '»']) {
        return false;
    }
    let trail = t.contains(" › ") || t.contains(" » ");
    let mut items = vec![t];
    for sep in SEPARATORS {
        items = items.iter().flat_map(|i| i.split(sep)).collect();
    }
    let short = items
        .iter()
        .all(|i| (1..=3).contains(&split_words(i).count()) && i.chars().count() <= 30);
    short && items.len() >= if trail { 2 } else { 3 }
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
        && !ends_sentence(p.trim_end_matches(crate::lang::is_alphabetic))
}

/// Whether a short line that is not prose names an agency or photo service
/// (one scan for all of [`CREDITS`]).
fn is_credit(lower: &str) -> bool {
    static CREDIT_FINDER: std::sync::OnceLock<aho_corasick::AhoCorasick> =
        std::sync::OnceLock::new();
    CREDIT_FINDER
        .get_or_init(|| {
            // A contiguous NFA: the lines searched are short, and a DFA of
            // the Urdu and Pashto credits costs more to build than a run of
            // pages spends searching.
            aho_corasick::AhoCorasick::builder()
                .kind(Some(aho_corasick::AhoCorasickKind::ContiguousNFA))
                .build(CREDITS)
                .expect("the credit list is a valid pattern set")
        })
        .is_match(lower)
}

/// Whether `p` ends with a photo credit, as a caption does: in brackets
/// (`… after his party's victory. (Thomas Coex/AFP/Getty Images)`), after
/// `Credit:` (`… in 2006 Credit: DESMOND KWANDE/ AFP`), or as a few words
/// after the last sentence (`… in Tunis. Fethi Belaid/AFP/Getty Images`).
fn credit_at_end(p: &str) -> bool {
    // A credit is at most `CREDIT_BYTES` long: only the line's end is
    // searched.
    let p = p.trim_end();
    let mut from = p.len().saturating_sub(CREDIT_BYTES + 8);
    while !p.is_char_boundary(from) {
        from += 1;
    }
    let p = &p[from..];
    // Every form below has a `)`, a `:` or a `/` in it.
    if !p.bytes().any(|b| matches!(b, b')' | b':' | b'/')) {
        return false;
    }
    let tail = if let Some(body) = p.strip_suffix(')') {
        body.rfind('(').map(|i| &body[i + 1..])
    } else if let Some(i) = p.rfind("Credit:").or_else(|| p.rfind("credit:")) {
        Some(&p[i..])
    } else {
        p.rfind(". ")
            .map(|i| &p[i + 2..])
            .filter(|t| words(t) <= CREDIT_TAIL_WORDS && t.contains('/') && !ends_sentence(t))
    };
    tail.is_some_and(|t| t.len() <= CREDIT_BYTES && is_credit(&crate::lang::to_lowercase(t)))
}

/// Most bytes of a credit at the end of a caption.
const CREDIT_BYTES: usize = 80;

/// Most words of a credit written after a caption's last sentence.
const CREDIT_TAIL_WORDS: usize = 6;

/// Whether `p` opens with one to four capitalized words (a name).
fn bio_names(p: &str) -> bool {
    let names = p
        .split_whitespace()
        .take(5)
        .take_while(|w| w.chars().next().is_some_and(char::is_uppercase))
        .count();
    (1..=4).contains(&names)
}

/// Whether `p` has " is " in any case (before it is lower-cased for
/// [`is_bio`]).
fn has_is_a(p: &str) -> bool {
    p.as_bytes()
        .windows(4)
        .any(|w| w.eq_ignore_ascii_case(b" is "))
}

/// Whether a line of at most 40 words that opens with a name says what
/// the person "is" with the words of a bio.
fn is_bio(lower: &str) -> bool {
    let is_a = lower.contains(" is a ") || lower.contains(" is an ") || lower.contains(" is the ");
    is_a && BIO_WORDS.iter().any(|w| lower.contains(w))
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
        let lower = crate::lang::to_lowercase(part);
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
    rule_sized(p, words(p), first)
}

/// [`rule`] for a paragraph of `n` words.
pub(super) fn rule_sized(p: &str, n: usize, first: bool) -> Option<&'static str> {
    if credit_at_end(p) {
        return Some(CAPTION);
    }
    // A long paragraph of running text is none of these; only a prompt
    // written as one long line can be.
    if n > 40 {
        return (starts_like_furniture(p) && !prose_of(p, n))
            .then_some("share, sign-up or page prompt");
    }
    // Lines are lower-cased only for the tests that need it: the markers
    // and credits are short lines, and a bio says "is a".
    let short = n <= MARKER_WORDS.max(CREDIT_WORDS);
    let bio_like = !first && bio_names(p) && has_is_a(p);
    let mut buf = [0u8; LOWER_BYTES];
    let owned;
    let lower: Option<&str> = if !(short || bio_like) {
        None
    } else if p.is_ascii() && p.len() <= LOWER_BYTES {
        // Short ASCII lines are lower-cased on the stack.
        let b = &mut buf[..p.len()];
        b.copy_from_slice(p.as_bytes());
        b.make_ascii_lowercase();
        std::str::from_utf8(b).ok()
    } else {
        owned = crate::lang::to_lowercase(p);
        Some(owned.as_str())
    };
    let bare = lower.map(|l| l.trim_end_matches([':', '.', '۔']).trim());
    // Urdu and Pashto lines have their own bylines and bios.
    let arabic = p.bytes().any(|b| matches!(b, 0xD8..=0xDB));
    if bare.is_some_and(opens_comments) && !first {
        Some(COMMENTS)
    } else if n <= MARKER_WORDS && lower.is_some_and(is_marker) {
        Some("list of links (Top stories, Related, ...)")
    } else if n <= MENU_WORDS && is_menu(p) {
        Some("navigation links")
    } else if is_byline(p) || (arabic && is_byline_ur_ps(p, n)) {
        Some("byline")
    } else if is_consent(p) {
        Some("cookie or consent banner")
    } else if n <= DATELINE_WORDS && !ends_sentence(p) && dateline(p) {
        Some("date line")
    } else if n <= CREDIT_WORDS && !prose_of(p, n) && lower.is_some_and(is_credit) {
        Some(CAPTION)
    } else if (bio_like && lower.is_some_and(is_bio)) || (!first && arabic && is_bio_ur_ps(p)) {
        Some("author bio")
    } else if starts_like_furniture(p) && !prose_of(p, n) {
        Some("share, sign-up or page prompt")
    } else {
        None
    }
}

/// Longest line lower-cased on the stack by [`rule_sized`].
const LOWER_BYTES: usize = 160;

/// Most words of a line that opens the comments or a links section (Urdu
/// says "most read" in six: سب سے زیادہ پڑھی جانے والی).
const MARKER_WORDS: usize = 7;
/// Most words of a caption or credit line.
const CREDIT_WORDS: usize = 15;
/// Bytes of a line's start that [`FURNITURE_STARTS`] are matched against
/// (more than the longest of them).
const START_BYTES: usize = 32;

/// Whether `p` opens like one of [`FURNITURE_STARTS`], in any case: only
/// the start of the line is lower-cased, on the stack when it is ASCII.
fn starts_like_furniture(p: &str) -> bool {
    let mut end = p.len().min(START_BYTES);
    while !p.is_char_boundary(end) {
        end -= 1;
    }
    let head = &p[..end];
    let mut buf = [0u8; START_BYTES];
    let owned;
    let lower: &str = if head.is_ascii() {
        let b = &mut buf[..head.len()];
        b.copy_from_slice(head.as_bytes());
        b.make_ascii_lowercase();
        std::str::from_utf8(b).unwrap_or(head)
    } else {
        owned = crate::lang::to_lowercase(head);
        &owned
    };
    let Some(&first) = lower.as_bytes().first() else {
        return false;
    };
    // The starts, grouped by their first byte.
    static BY_FIRST: std::sync::OnceLock<Vec<Vec<&'static str>>> = std::sync::OnceLock::new();
    BY_FIRST.get_or_init(|| {
        let mut by_first = vec![Vec::new(); 256];
        for s in FURNITURE_STARTS {
            by_first[usize::from(s.as_bytes()[0])].push(*s);
        }
        by_first
    })[usize::from(first)]
    .iter()
    .any(|s| lower.starts_with(s))
        || service_links(p, lower)
}

fn opens_comments(bare: &str) -> bool {
    let n = words(bare);
    COMMENT_MARKERS.contains(&bare)
        || (bare.ends_with(" comments") && n == 2)
        || bare
            .split_once(" (")
            .is_some_and(|(head, _)| COMMENT_MARKERS.contains(&head) && n <= words(head) + 1)
}

/// Removes the paragraphs that a rule names, each on its own: no run of
/// links or comments is followed past its heading and no short line is
/// dropped for being short. For an extraction library's reading, whose
/// lists and subheadings are the article's.
pub(super) fn strip_named(paragraphs: &mut Vec<String>) -> Vec<Removed> {
    let mut removed = Vec::new();
    let mut i = 0;
    paragraphs.retain(|p| {
        let why = rule(p, i == 0);
        i += 1;
        match why {
            Some(r) => {
                removed.push(Removed::new(p.clone(), r));
                false
            }
            None => true,
        }
    });
    removed
}

/// Removes furniture from `paragraphs` in place and returns what it removed,
/// each line with its reason.
pub(super) fn strip(paragraphs: &mut Vec<String>) -> Vec<Removed> {
    strip_with(paragraphs, |i, p, n| rule_sized(p, n, i == 0)).0
}

/// [`strip`], with the rule each paragraph meets given by `rule(index,
/// paragraph, words)` (a caller that knows them already); also says which
/// of the paragraphs it kept.
pub(super) fn strip_with(
    paragraphs: &mut Vec<String>,
    rule: impl Fn(usize, &str, usize) -> Option<&'static str>,
) -> (Vec<Removed>, Vec<bool>) {
    let mut removed = Vec::new();
    let mut kept = Vec::with_capacity(paragraphs.len());
    let mut mask = Vec::with_capacity(paragraphs.len());
    let mut in_links = false;
    let mut in_comments = false;
    for (i, p) in std::mem::take(paragraphs).into_iter().enumerate() {
        // The story's first line may open with a preamble of bylines and
        // timestamps, also when lines before it (a menu) are removed.
        let p = if kept.is_empty() {
            strip_preamble(&p, &mut removed)
        } else {
            p
        };
        let n = size(&p);
        let why = rule(i, &p, n);
        in_comments |= why == Some(COMMENTS);
        let reason = if in_comments {
            Some("comments")
        } else if why == Some("list of links (Top stories, Related, ...)") {
            in_links = true;
            why
        } else if in_links && !prose_of(&p, n) {
            Some("list of links (Top stories, Related, ...)")
        } else {
            in_links = false;
            why.or_else(|| {
                let short = n <= 2 || (i > 0 && n <= 3);
                (short && !ends_sentence(&p) && !numbered(&p))
                    .then_some("short line, not running text")
            })
        };
        mask.push(reason.is_none());
        match reason {
            Some(r) => removed.push(Removed::new(p, r)),
            None => kept.push(p),
        }
    }
    *paragraphs = kept;
    (removed, mask)
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
    fn a_preamble_is_cut_from_the_first_line_kept_after_a_menu() {
        let story = "By . Associated Press . PUBLISHED: . 14:11 EST, 25 October 2013 . | . UPDATED: . 15:36 EST, 25 October 2013 . The bishop of the diocese has exposed hundreds of church members to the virus.";
        for page in [vec![story], vec!["Home | News | Sport | Weather", story]] {
            let (kept, removed) = strip_vec(&page);
            assert_eq!(
                kept,
                ["The bishop of the diocese has exposed hundreds of church members to the virus."],
                "{page:?}"
            );
            assert!(
                removed.iter().any(|r| r.text == "By . Associated Press"),
                "{removed:?}"
            );
        }
    }

    #[test]
    fn navigation_lines_are_furniture_and_tables_and_titles_are_not() {
        for menu in [
            "Home | News | Sport | Weather",
            "World • Pakistan • Afghanistan • Business",
            "Home › World",
            "خبریں | پاکستان | کھیل | کاروبار",
        ] {
            assert_eq!(rule(menu, true), Some("navigation links"), "{menu}");
        }
        for not in [
            "Apple's Vision Pro hands-on | The Verge",
            "| Name | Province | Deaths |",
            "Results | 2024 | 2023 | 2022",
            "Talks in Doha resume | Taliban | US envoys say progress was made.",
            "外交部发言人·华春莹·表示·欢迎",
            "Prime minister says budget | will be | presented on Friday after long talks with lenders",
        ] {
            assert_eq!(rule(not, true), None, "{not}");
        }
    }

    #[test]
    fn words_are_split_as_split_whitespace_splits_them() {
        for s in [
            "",
            "  ",
            "one",
            " two  words ",
            "Lupita\u{a0}Nyong’o’s dress\u{2003}— stolen\u{3000}今日は 晴れ",
            "پاکستان کی حکومت\tنے\n اعلان، کیا, 12",
            "tab\tand\u{85}next\u{2028}line\u{202f}end\u{205f}x\u{1680}y",
            "é ü ñ ¿qué? ‘quoted’",
            "vertical\x0Btab\x0Cfeed\r\n",
            "\u{a0}lead and trail\u{3000}",
            "عدد، و، ثلاثة",
            "北京，上海、广州 12,3。",
            "北京，上海、广州\u{3000}12,3。",
        ] {
            let ours: Vec<&str> = split_words(s).collect();
            let std: Vec<&str> = s.split_whitespace().collect();
            assert_eq!(ours, std, "{s:?}");
            assert_eq!(words(s), std.len(), "{s:?}");
            let chars = s.chars().filter(|c| !c.is_whitespace()).count();
            let digits = s.chars().filter(char::is_ascii_digit).count();
            let dense = s.chars().filter(|&c| c >= '\u{3000}').count();
            let commas = s.matches([',', '،', '，', '、']).count();
            assert_eq!(char_tally(s), (chars, digits, dense, commas), "{s:?}");
        }
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
    fn a_numbered_list_in_a_story_is_kept_and_dates_are_not_list_items() {
        let (kept, removed) = strip_vec(&[
            "The report ranks 30 rich countries by how much a child's chances depend on their parents' income.",
            "1. Finland",
            "2. Norway",
            "3) Australia",
            "Menu",
            "The United States came 28th, the report said, below every country in western Europe.",
        ]);
        assert_eq!(kept.len(), 5, "{kept:?}");
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].text, "Menu");
        for not_item in [
            "21.dez.2018 às 12h55",
            "08.04.2015 12:46",
            "13.0%",
            "1.Finland",
            "2024. Year",
        ] {
            assert!(!numbered(not_item), "{not_item}");
        }
    }

    #[test]
    fn share_rows_are_furniture_and_news_about_the_services_is_not() {
        for row in [
            "Facebook",
            "Twitter (@mozilla)",
            "Facebook Twitter Google+ Mobile RSS",
            "WhatsApp Email Print",
        ] {
            assert_eq!(
                rule(row, false),
                Some("share, sign-up or page prompt"),
                "{row}"
            );
        }
        for news in [
            "Facebook Is Tracking Me Even Though I’m Not on Facebook",
            "Twitter Lite se estrena en 11 países de América Latina",
            "Facebook declined to comment.",
        ] {
            assert_eq!(rule(news, false), None, "{news}");
        }
    }

    #[test]
    fn a_caption_with_its_credit_is_furniture_at_any_length() {
        let caption = "Israeli Prime Minister Benjamin Netanyahu reacts as he visits the Western Wall in Jerusalem on March 18 following his party's victory in Israel's general election. (Thomas Coex/AFP/Getty Images)";
        assert_eq!(rule(caption, false), Some("photo caption or credit"));
        for caption in [
            "March 18, 2015 Tunisian security forces secure the area after gunmen attacked the museum in Tunis, the capital. Fethi Belaid/AFP/Getty Images",
            "A man walks past an armoured personnel carrier parked on a Harare street on Thursday Credit: STR/AFP",
        ] {
            assert_eq!(rule(caption, false), Some("photo caption or credit"), "{caption}");
        }
        let prose = "Officials said the talks would resume on Monday (after a break) and that both sides had agreed to keep the terms of the ceasefire in place.";
        assert_eq!(rule(prose, false), None);
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

    #[test]
    fn urdu_and_pashto_furniture_is_named_and_headlines_are_not() {
        for (line, first, reason) in [
            ("سارہ ملک، نامہ نگار", false, Some("byline")),
            ("زرغونه وردګ، خبریال خپور شوی 5 اکتوبر 2025", false, Some("byline")),
            ("تحریر: عمران خالد", false, Some("byline")),
            ("تبصرے (7)", false, Some(COMMENTS)),
            ("نظرونه", false, Some(COMMENTS)),
            ("سب سے زیادہ پڑھی جانے والی", false, Some("list of links (Top stories, Related, ...)")),
            ("اړوند خبرونه", false, Some("list of links (Top stories, Related, ...)")),
            ("جائے وقوعہ پر موجود لوگ (تصویر: اے ایف پی)", false, Some(CAPTION)),
            ("د غونډې یوه صحنه — انځور: رویټرز", false, Some(CAPTION)),
            ("مزید پڑھیں: پشاور میں سیلاب", false, Some("share, sign-up or page prompt")),
            ("دا هم ولولئ: په کابل کې باران", false, Some("share, sign-up or page prompt")),
            (
                "احمد نواز ایک صحافی ہیں جو پندرہ سال سے سیاست کی رپورٹنگ کر رہے ہیں۔",
                false,
                Some("author bio"),
            ),
            ("نصیر احمد یو خبریال دی چې لس کاله یې کار کړی.", false, Some("author bio")),
            (
                "یہ ویب سائٹ کوکیز استعمال کرتی ہے۔ قبول کریں",
                true,
                Some("cookie or consent banner"),
            ),
            ("We use cookies to improve your experience. Accept", true, Some("cookie or consent banner")),
            // Headlines and story lines that share words with furniture.
            ("طالبانو خبریال ونیول", true, None),
            ("صحافیوں پر حملے کے خلاف احتجاج", true, None),
            ("Girl Scout cookie sales rise in Lahore", true, None),
            (
                "وزیر اعظم نے کہا کہ حکومت شائع ہونے والی رپورٹ پر عمل کرے گی اور اس کے نتائج جلد عوام کے سامنے لائے جائیں گے۔",
                false,
                None,
            ),
        ] {
            assert_eq!(rule(line, first), reason, "{line}");
        }
    }
}
