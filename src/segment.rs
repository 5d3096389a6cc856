//! Sentence segmentation for English, Urdu and Pashto.
//!
//! Sentences end at `. ! ?`, the Urdu full stop `۔` and the Arabic question
//! mark `؟` (taking closing quotes and brackets along), and at paragraph
//! breaks. A sentence never ends inside a number (2,600; 1.5; 10.30) or after
//! a common abbreviation (Mr., Dr., Gen., U.S., Jan., No.).

/// Abbreviations (without the final period) after which a period does not
/// end a sentence. Compared case-insensitively.
pub(crate) const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "gen", "lt", "col", "maj", "capt", "cpt", "sgt", "cmdr", "adm",
    "prof", "sen", "rep", "gov", "pres", "jr", "sr", "st", "rev", "hon", "messrs", "jan", "feb",
    "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "no", "nos", "vs",
    "inc", "ltd", "co", "corp", "mt", "ft", "approx", "dept", "est", "fig", "vol", "pp", "ref",
    "e.g", "i.e", "u.s", "u.k", "u.n", "a.m", "p.m", "u.s.a", "d.c",
];

const TERMINATORS: &[char] = &['.', '!', '?', '۔', '؟', '…'];
const CLOSERS: &[char] = &['"', '\'', '”', '’', ')', ']', '»', '›', '」', '』', '）'];

/// True when `s` ends like a sentence: a full stop, question or exclamation
/// mark (Latin or Arabic script, or the full-width marks of Chinese and
/// Japanese), possibly followed by closing quotes or brackets.
pub(crate) fn ends_sentence(s: &str) -> bool {
    s.trim_end_matches(CLOSERS)
        .ends_with(['.', '!', '?', '۔', '؟', '。', '！', '？'])
}

/// A sentence: its text and byte span in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sentence<'a> {
    /// The sentence text, trimmed.
    pub text: &'a str,
    /// Byte offset of the first character in the source.
    pub start: usize,
    /// True when the sentence starts a new paragraph.
    pub para_start: bool,
}

/// True when the word ending just before a period is an abbreviation or an
/// initial, so the period does not end the sentence.
pub(crate) fn is_abbreviation(word: &str) -> bool {
    let w = word.trim_start_matches(|c: char| !c.is_alphanumeric());
    if w.is_empty() {
        return false;
    }
    let lower = w.to_lowercase();
    if ABBREVIATIONS.contains(&lower.as_str()) {
        return true;
    }
    let mut chars = w.chars();
    let single_initial =
        matches!((chars.next(), chars.next()), (Some(c), None) if c.is_uppercase());
    // Dotted acronyms such as "U.S" or "N.W.F.P".
    let dotted = w.contains('.') && w.split('.').all(|p| p.chars().count() <= 2);
    single_initial || dotted
}

/// Splits `text` into sentences.
pub fn split(text: &str) -> Vec<Sentence<'_>> {
    let mut out = Vec::new();
    let mut start = 0usize;
    let mut para_start = true;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (pos, c) = chars[i];
        if c == '\n' {
            // A line break ends the sentence and starts a paragraph.
            push(&mut out, text, start, pos, &mut para_start);
            para_start = true;
            start = pos + 1;
            i += 1;
            continue;
        }
        if !TERMINATORS.contains(&c) {
            i += 1;
            continue;
        }
        // Run of terminators and closers: "?!", '."', '.)'.
        let mut j = i + 1;
        while j < chars.len()
            && (TERMINATORS.contains(&chars[j].1) || CLOSERS.contains(&chars[j].1))
        {
            j += 1;
        }
        let end = chars.get(j).map_or(text.len(), |(p, _)| *p);
        let at_end = j >= chars.len();
        let followed_by_space = at_end || chars[j].1.is_whitespace();
        if followed_by_space && ends_here(text, &chars, start, i, j) {
            push(&mut out, text, start, end, &mut para_start);
            start = end;
        }
        i = j;
    }
    push(&mut out, text, start, text.len(), &mut para_start);
    out
}

/// Decides whether the terminator at `chars[i]` (run ending before `j`) ends
/// a sentence.
fn ends_here(text: &str, chars: &[(usize, char)], start: usize, i: usize, j: usize) -> bool {
    if chars[i].1 == '.' && (j == i + 1 || CLOSERS.contains(&chars[i + 1].1)) {
        // The whitespace before the word may be wider than a byte (U+00A0).
        let word_start = text[start..chars[i].0]
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace())
            .map_or(start, |(p, c)| start + p + c.len_utf8());
        if is_abbreviation(&text[word_start..chars[i].0]) {
            return false;
        }
    }
    // A lower-case continuation means the mark did not end the sentence.
    let next = chars[j..]
        .iter()
        .map(|(_, c)| *c)
        .find(|c| !c.is_whitespace());
    !next.is_some_and(|c| c.is_lowercase())
}

fn push<'a>(out: &mut Vec<Sentence<'a>>, text: &'a str, start: usize, end: usize, para: &mut bool) {
    let raw = &text[start..end];
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return;
    }
    let offset = start + (raw.len() - raw.trim_start().len());
    out.push(Sentence {
        text: trimmed,
        start: offset,
        para_start: *para,
    });
    *para = false;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn texts(s: &str) -> Vec<&str> {
        split(s).into_iter().map(|x| x.text).collect()
    }

    #[test]
    fn wide_whitespace_before_a_full_stop_word() {
        // A no-break space (two bytes in UTF-8) before "Dr." or "jail.".
        assert_eq!(
            texts("He faces 15 years in\u{a0}jail. Roman Shilov was\u{a0}Dr. Smith's patient."),
            vec![
                "He faces 15 years in\u{a0}jail.",
                "Roman Shilov was\u{a0}Dr. Smith's patient."
            ]
        );
    }

    #[test]
    fn english_rules() {
        let s = "Mr. Khan met Dr. Ali at 10.30 in the U.S. embassy. The bill cost $2,600 or 1.5%! \
                 Was it Jan. 5? \"Yes,\" he said. Gen. Bajwa left. No. 10 said so.";
        assert_eq!(
            texts(s),
            vec![
                "Mr. Khan met Dr. Ali at 10.30 in the U.S. embassy.",
                "The bill cost $2,600 or 1.5%!",
                "Was it Jan. 5?",
                "\"Yes,\" he said.",
                "Gen. Bajwa left.",
                "No. 10 said so.",
            ]
        );
    }

    #[test]
    fn closing_quotes_and_brackets_stay() {
        assert_eq!(
            texts("He said \"stop.\" Then (it ended.) Next"),
            vec!["He said \"stop.\"", "Then (it ended.)", "Next"]
        );
    }

    #[test]
    fn urdu_and_pashto() {
        let ur = "وزیر اعظم نے کہا۔ کیا یہ درست ہے؟ جی ہاں";
        assert_eq!(
            texts(ur),
            vec!["وزیر اعظم نے کہا۔", "کیا یہ درست ہے؟", "جی ہاں"]
        );
        let ps = "ولسمشر وویل. دا ښه ده؟ هو";
        assert_eq!(texts(ps).len(), 3);
    }

    #[test]
    fn paragraphs_split_and_mark() {
        let s = split("First line without stop\n\nSecond para. Third");
        assert_eq!(s.len(), 3);
        assert!(s[0].para_start && s[1].para_start && !s[2].para_start);
    }

    proptest! {
        #[test]
        fn covers_text_in_order(words in proptest::collection::vec("[A-Za-z]{1,8}|[0-9]{1,3}[.,][0-9]{1,3}|Mr\\.|U\\.S\\.|[.!?۔؟]|\n|وزیر", 0..60)) {
            let text = words.join(" ");
            let sents = split(&text);
            let joined: String = sents.iter().map(|s| s.text).collect::<Vec<_>>().join("");
            let strip = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
            prop_assert_eq!(strip(&joined), strip(&text));
            let mut last = 0;
            for s in &sents {
                prop_assert!(!s.text.is_empty());
                prop_assert!(s.start >= last);
                prop_assert_eq!(&text[s.start..s.start + s.text.len()], s.text);
                last = s.start + s.text.len();
            }
        }

        #[test]
        fn never_splits_numbers(a in 0u32..10000, b in 0u32..1000, sep in "[.,]") {
            let text = format!("The count was {a}{sep}{b} people. Then more.");
            let sents = split(&text);
            let number = format!("{a}{sep}{b}");
            prop_assert!(sents[0].text.contains(&number));
        }
    }
}
