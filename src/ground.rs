//! Checking facts against the source: each key fact gets the source
//! sentences that support it (by overlap of content words, with its numbers
//! and names required to match) and a verdict; every number in the digest
//! is checked against the article's numbers, number words included.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::numbers;
use crate::segment;

pub mod meaning;
pub use meaning::Verdict;

/// English function words ignored when aligning.
pub(crate) const STOPWORDS_EN: &[&str] = &[
    "a", "an", "the", "and", "or", "but", "of", "to", "in", "on", "at", "for", "from", "by",
    "with", "as", "is", "are", "was", "were", "be", "been", "being", "has", "have", "had", "it",
    "its", "this", "that", "these", "those", "he", "she", "they", "them", "his", "her", "their",
    "we", "our", "you", "i", "will", "would", "can", "could", "said", "says", "also", "after",
    "before", "into", "about", "than", "then", "there", "which", "who", "whom", "what", "when",
    "where", "while", "not", "no", "so", "up", "out", "over", "more", "most", "some", "all", "any",
    "such", "per", "s",
];
/// Urdu and Pashto function words ignored when aligning.
pub(crate) const STOPWORDS_UR_PS: &[&str] = &[
    "کے", "کی", "کا", "کو", "نے", "میں", "سے", "پر", "اور", "ہے", "ہیں", "تھا", "تھی", "تھے", "یہ",
    "وہ", "کہ", "بھی", "ایک", "د", "او", "په", "له", "چې", "دا", "هم", "ته", "کې", "شو", "وو",
    "یې", "به",
];
/// Number words and the value they stand for.
const NUMBER_WORDS: &[(&str, u64)] = &[
    ("one", 1),
    ("two", 2),
    ("three", 3),
    ("four", 4),
    ("five", 5),
    ("six", 6),
    ("seven", 7),
    ("eight", 8),
    ("nine", 9),
    ("ten", 10),
    ("eleven", 11),
    ("twelve", 12),
    ("thirteen", 13),
    ("fourteen", 14),
    ("fifteen", 15),
    ("sixteen", 16),
    ("seventeen", 17),
    ("eighteen", 18),
    ("nineteen", 19),
    ("twenty", 20),
    ("thirty", 30),
    ("forty", 40),
    ("fifty", 50),
    ("sixty", 60),
    ("seventy", 70),
    ("eighty", 80),
    ("ninety", 90),
    ("hundred", 100),
    ("thousand", 1000),
    ("million", 1_000_000),
    ("billion", 1_000_000_000),
    ("dozen", 12),
    ("dozens", 12),
    ("hundreds", 100),
    ("thousands", 1000),
    ("millions", 1_000_000),
];

/// The part of the digest a checked claim is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// A key fact.
    #[default]
    KeyFact,
    /// The headline.
    Headline,
    /// One sentence of the summary.
    Summary,
}

/// The check of one key fact (or of the headline or a summary sentence).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FactCheck {
    /// The fact.
    pub fact: String,
    /// What part of the digest it is.
    #[serde(default)]
    pub field: Field,
    /// True when its numbers and names occur in the source, its evidence
    /// covers it and the meaning check finds it supported.
    pub grounded: bool,
    /// The meaning check's verdict.
    #[serde(default)]
    pub verdict: Verdict,
    /// The model's log-odds that the evidence supports it, when the model
    /// judged it (see [`judge`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    /// Why the verdict is what it is.
    #[serde(default)]
    pub reason: String,
    /// Source sentences that support it, best first.
    pub evidence: Vec<String>,
    /// Share of its content words found in the evidence (0..=1).
    pub coverage: f32,
    /// Numbers, names or words of the fact that the source does not have.
    pub unsupported: Vec<String>,
    /// When the model's first fact was unsupported and this one was
    /// regenerated from that fact's evidence: the first fact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regenerated_from: Option<String>,
}

impl FactCheck {
    /// Why the fact is not grounded, in words for a prompt or a warning.
    pub fn problem(&self) -> String {
        if !self.unsupported.is_empty() {
            format!("the article does not have: {}", self.unsupported.join(", "))
        } else if self.evidence.is_empty() || self.verdict == Verdict::Supported {
            "no sentence of the article says it".into()
        } else {
            self.reason.clone()
        }
    }

    /// Sets the verdict from the lexical meaning check and `score`, and
    /// `grounded` from it and the word checks.
    fn settle(&mut self, score: Option<f32>) {
        let words_ok =
            self.unsupported.is_empty() && !self.evidence.is_empty() && self.coverage >= 0.5;
        let findings = meaning::lexical(&self.fact, &self.evidence);
        let (verdict, reason) = meaning::verdict(&findings, score);
        (self.verdict, self.reason, self.score) = if verdict == Verdict::Supported && !words_ok {
            (Verdict::Unsupported, self.problem(), score)
        } else {
            (verdict, reason, score)
        };
        self.grounded = words_ok && self.verdict == Verdict::Supported;
    }
}

/// Scores each check that the words find supported with the model's yes/no
/// judgement (the `judge` prompt) and settles its verdict again. A claim the
/// words already find unsupported or contradicted is not sent to the model,
/// nor is one that quotes an evidence sentence word for word
/// ([`meaning::quoted`]). Claims go to the model grouped by their evidence,
/// so that one claim's prompt shares the longest prefix with the one before
/// (the generator reuses it). Returns how many were judged.
pub fn judge(
    checks: &mut [FactCheck],
    g: &mut dyn crate::generate::Generator,
    prompts: &crate::prompt::Prompts,
) -> crate::error::Result<usize> {
    let mut order: Vec<usize> = Vec::new();
    for (i, c) in checks.iter_mut().enumerate() {
        if c.verdict != Verdict::Supported {
            continue;
        }
        if meaning::quoted(&c.fact, &c.evidence) {
            c.reason =
                "it quotes an evidence sentence word for word (not sent to the model)".into();
            continue;
        }
        order.push(i);
    }
    order.sort_by(|&a, &b| checks[a].evidence.cmp(&checks[b].evidence));
    let mut judged = 0;
    for i in order {
        let c = &mut checks[i];
        let vars = std::collections::BTreeMap::from([
            ("claim", minijinja::Value::from(c.fact.as_str())),
            ("evidence", minijinja::Value::from(c.evidence.clone())),
        ]);
        let Some(score) = g.yes_no(&prompts.render("judge", &vars)?)? else {
            return Ok(judged);
        };
        judged += 1;
        c.settle(Some(score));
    }
    Ok(judged)
}

/// Checks the headline and each sentence of the summary like key facts.
pub fn check_claims(headline: &str, summary: &str, source: &str) -> Vec<FactCheck> {
    let mut claims = vec![(Field::Headline, headline.to_string())];
    claims.extend(
        segment::split(summary)
            .into_iter()
            .map(|s| (Field::Summary, s.text.to_string())),
    );
    claims.retain(|(_, c)| !c.trim().is_empty());
    let texts: Vec<String> = claims.iter().map(|(_, c)| c.clone()).collect();
    let mut checks = check_facts(&texts, source);
    for (c, (field, _)) in checks.iter_mut().zip(claims) {
        c.field = field;
    }
    checks
}

/// Words of `text`, lower-cased, split on anything that is not a letter,
/// digit or mark.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || is_mark(c)))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Combining marks of Arabic-script text, and the zero-width non-joiner:
/// parts of a word.
pub(crate) fn is_mark(c: char) -> bool {
    matches!(c as u32, 0x064B..=0x065F | 0x0670 | 0x06D6..=0x06ED | 0x200C)
}

fn content_words(text: &str) -> Vec<String> {
    words(text)
        .into_iter()
        .filter(|w| !STOPWORDS_EN.contains(&w.as_str()) && !STOPWORDS_UR_PS.contains(&w.as_str()))
        .filter(|w| numbers::extract(w).is_empty())
        .collect()
}

/// Names: capitalized words that do not open a sentence, split into the
/// same word pieces as [`words`] ("Beacon's" gives "beacon", "O'Brien"
/// gives "brien"), so that a name is looked up the way the source was indexed.
fn names(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut sentence_start = true;
    for raw in text.split_whitespace() {
        let pieces = words(raw);
        let capital = raw
            .chars()
            .find(|c| c.is_alphanumeric())
            .is_some_and(char::is_uppercase);
        if capital && !sentence_start {
            out.extend(
                pieces
                    .into_iter()
                    .filter(|p| p.chars().count() > 1 && !STOPWORDS_EN.contains(&p.as_str())),
            );
        }
        sentence_start = raw.ends_with(['.', '!', '?', ':', '"']);
    }
    out
}

/// Numbers written in `text`, in digits or as number words, normalized. A
/// scale word right after a number ("8 million", "2.5 billion") is not a
/// number of its own: the product is (see [`scaled_numbers`]).
pub fn numbers_in(text: &str) -> Vec<String> {
    let mut out = numbers::extract(text);
    let ws = words(text);
    for (i, w) in ws.iter().enumerate() {
        let Some(v) = number_word(w) else {
            continue;
        };
        let after_number = i > 0 && word_value(&ws[i - 1]).is_some();
        if !(after_number && scale_value(w).is_some()) {
            out.push(v.to_string());
        }
    }
    out.extend(scaled_numbers(text));
    out
}

/// The value of a number word ("two", "dozens", "million").
pub(crate) fn number_word(w: &str) -> Option<u64> {
    NUMBER_WORDS.iter().find(|(n, _)| *n == w).map(|x| x.1)
}

/// The value of a word or token that is a number: digits (with thousands
/// separators or a decimal point) or a number word.
fn word_value(w: &str) -> Option<f64> {
    if w.starts_with(|c: char| c.is_ascii_digit()) {
        let plain: String = w.chars().filter(|c| *c != ',').collect();
        return plain.parse().ok();
    }
    number_word(w).map(|v| v as f64)
}

/// Scales written as a word or a suffix: "million", "£8m", "1.75bn", "5k".
pub(crate) fn scale_value(s: &str) -> Option<f64> {
    match s {
        "k" | "thousand" => Some(1e3),
        "m" | "mn" | "million" => Some(1e6),
        "b" | "bn" | "billion" => Some(1e9),
        "hundred" => Some(1e2),
        _ => None,
    }
}

/// `base` times `scale`, normalized like the other numbers.
pub(crate) fn scaled(base: f64, scale: f64) -> String {
    format!("{}", (base * scale).round() as u64)
}

/// Products such as "2.5 million", "two hundred", "£8m" or "1.75bn",
/// normalized like the other numbers.
fn scaled_numbers(text: &str) -> Vec<String> {
    let tokens: Vec<String> = text
        .split_whitespace()
        .map(|t| {
            t.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .collect();
    let mut out = Vec::new();
    let mut push = |base: f64, scale: f64| out.push(scaled(base, scale));
    for (i, t) in tokens.iter().enumerate() {
        // "8m", "1.75bn", "35million": digits with a scale suffix.
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
            .unwrap_or(t.len());
        if split > 0 && split < t.len() {
            if let (Some(b), Some(s)) = (word_value(&t[..split]), scale_value(&t[split..])) {
                push(b, s);
            }
        }
        // "8 million", "two hundred".
        if let (Some(b), Some(s)) = (
            i.checked_sub(1).and_then(|p| word_value(&tokens[p])),
            scale_value(t).filter(|_| t.len() > 2),
        ) {
            push(b, s);
        }
    }
    out
}

/// Numbers the source supports: its digits, its number words (scale words
/// on their own included) and products such as "2.5 million" or "£8m".
pub(crate) fn source_numbers(source: &str) -> HashSet<String> {
    let mut set: HashSet<String> = numbers_in(source).into_iter().collect();
    for w in words(source) {
        if let Some(v) = number_word(&w) {
            set.insert(v.to_string());
        }
    }
    set
}

/// Numbers of `text` that `source` does not support.
pub fn unsupported_numbers(text: &str, source: &str) -> Vec<String> {
    let set = source_numbers(source);
    let mut out: Vec<String> = numbers_in(text)
        .into_iter()
        .filter(|n| !set.contains(n))
        .collect();
    out.dedup();
    out
}

/// Most source sentences taken as one claim's evidence: a fact may join
/// what three sentences say (who, what, and who said it).
const MAX_EVIDENCE: usize = 3;

/// Checks `facts` against `source`.
pub fn check_facts(facts: &[String], source: &str) -> Vec<FactCheck> {
    let sentences: Vec<&str> = segment::split(source).into_iter().map(|s| s.text).collect();
    let sent_words: Vec<HashSet<String>> = sentences
        .iter()
        .map(|s| words(s).into_iter().collect())
        .collect();
    let source_words: HashSet<String> = sent_words.iter().flatten().cloned().collect();
    let source_stems: HashSet<String> = source_words.iter().map(|w| meaning::stem(w)).collect();
    let source = Source {
        text: source,
        sentences: &sentences,
        sent_words: &sent_words,
        words: &source_words,
        stems: &source_stems,
    };
    facts.iter().map(|f| check_one(f, &source)).collect()
}

/// The article, split and indexed once for all the claims checked against it.
struct Source<'a> {
    text: &'a str,
    sentences: &'a [&'a str],
    sent_words: &'a [HashSet<String>],
    words: &'a HashSet<String>,
    stems: &'a HashSet<String>,
}

/// True when most longer words of `text` after the first are capitalized,
/// as in a headline written in title case ("Shark Attacks Boy Diving for
/// Lobster"); a capital there does not mark a name.
fn title_case(text: &str) -> bool {
    let long: Vec<bool> = text
        .split_whitespace()
        .skip(1)
        .filter(|w| w.chars().filter(|c| c.is_alphabetic()).count() > 3)
        .map(|w| {
            w.chars()
                .find(|c| c.is_alphabetic())
                .is_some_and(char::is_uppercase)
        })
        .collect();
    long.len() >= 2 && long.iter().filter(|&&c| c).count() * 5 >= long.len() * 3
}

fn check_one(fact: &str, src: &Source) -> FactCheck {
    let (source, sentences, sent_words, source_words) =
        (src.text, src.sentences, src.sent_words, src.words);
    let cw: Vec<String> = content_words(fact);
    let nums = numbers_in(fact);
    // A name counts twice, like a number: a sentence that adds one is evidence.
    let fact_names: HashSet<String> = names(fact).into_iter().collect();
    let score = |i: usize, covered: &HashSet<String>| -> f32 {
        let new_words = cw
            .iter()
            .filter(|w| sent_words[i].contains(*w) && !covered.contains(*w))
            .map(|w| if fact_names.contains(w) { 2 } else { 1 })
            .sum::<usize>() as f32;
        let new_nums = nums
            .iter()
            .filter(|n| numbers_in(sentences[i]).contains(n))
            .count() as f32;
        new_words + 2.0 * new_nums
    };
    // Greedy: the best sentence, then more while each adds coverage.
    let mut evidence: Vec<usize> = Vec::new();
    let mut covered: HashSet<String> = HashSet::new();
    for _ in 0..MAX_EVIDENCE {
        let best = (0..sentences.len())
            .filter(|i| !evidence.contains(i))
            .map(|i| (i, score(i, &covered)))
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
        match best {
            Some((i, s)) if s >= 1.0 && (evidence.is_empty() || s >= 2.0) => {
                covered.extend(cw.iter().filter(|w| sent_words[i].contains(*w)).cloned());
                evidence.push(i);
            }
            _ => break,
        }
    }
    let coverage = if cw.is_empty() {
        1.0
    } else {
        cw.iter().filter(|w| covered.contains(*w)).count() as f32 / cw.len() as f32
    };
    let mut unsupported = unsupported_numbers(fact, source);
    // In a title-case headline a capitalized word may be an ordinary one,
    // inflected ("Attacks" for "attacked"): it is missing only when no
    // source word shares its stem.
    let title = title_case(fact);
    unsupported.extend(
        names(fact)
            .into_iter()
            .filter(|n| !source_words.contains(n))
            .filter(|n| !(title && src.stems.contains(&meaning::stem(n)))),
    );
    let grounded = unsupported.is_empty() && !evidence.is_empty() && coverage >= 0.5;
    if !grounded && unsupported.is_empty() {
        unsupported.extend(cw.iter().filter(|w| !source_words.contains(*w)).cloned());
    }
    let mut check = FactCheck {
        fact: fact.to_string(),
        field: Field::KeyFact,
        grounded,
        verdict: Verdict::Supported,
        score: None,
        reason: String::new(),
        evidence: evidence.iter().map(|&i| sentences[i].to_string()).collect(),
        coverage,
        unsupported,
        regenerated_from: None,
    };
    check.settle(None);
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "Flash floods killed 30 people in the Swat valley on Sunday, officials said. \
        The disaster authority said 2,600 homes were damaged and roads to 14 villages were cut. \
        Chief Minister Ali Amin Gandapur ordered an emergency response. About two million people live in the region.";

    #[test]
    fn a_title_case_headline_is_not_all_names() {
        let c = check_facts(
            &[
                "Flash Floods Kill 30 People in Swat Valley".into(),
                "Flash Floods Kill 30 People in Swat and Karachi".into(),
            ],
            SOURCE,
        );
        assert!(c[0].unsupported.is_empty(), "{:?}", c[0]);
        assert!(c[0].grounded, "{:?}", c[0]);
        assert_eq!(c[1].unsupported, vec!["karachi".to_string()], "{:?}", c[1]);
        assert!(title_case("Shark Attacks Boy Diving for Lobster"));
        assert!(!title_case(
            "A shark attacked a boy diving for lobster off Encinitas"
        ));
    }

    #[test]
    fn supported_fact_gets_its_sentence() {
        let c = check_facts(
            &["Floods in Swat killed 30 people on Sunday.".into()],
            SOURCE,
        );
        assert!(c[0].grounded, "{c:?}");
        assert!(c[0].evidence[0].starts_with("Flash floods killed 30"));
        assert!(c[0].coverage >= 0.75);
    }

    #[test]
    fn wrong_number_or_name_is_ungrounded() {
        let c = check_facts(
            &[
                "Floods in Swat killed 40 people.".into(),
                "Prime Minister Imran Khan ordered an emergency response.".into(),
            ],
            SOURCE,
        );
        assert!(
            !c[0].grounded && c[0].unsupported.contains(&"40".to_string()),
            "{c:?}"
        );
        assert!(
            !c[1].grounded && c[1].unsupported.contains(&"imran".to_string()),
            "{c:?}"
        );
    }

    #[test]
    fn possessive_and_apostrophe_names_match_the_source() {
        let src = "The boy was taken to Rady Children's Hospital near Beacon's Beach. Officer O'Brien said he was stable.";
        let c = check_facts(
            &[
                "The boy was taken to Rady Children's Hospital.".into(),
                "The attack was near Beacon's Beach, said Officer O'Brien.".into(),
                "The boy was taken to Scripps Hospital.".into(),
            ],
            src,
        );
        assert!(c[0].grounded, "{c:?}");
        assert!(c[1].grounded, "{c:?}");
        assert!(
            !c[2].grounded && c[2].unsupported == vec!["scripps".to_string()],
            "{c:?}"
        );
    }

    #[test]
    fn fact_spanning_two_sentences_gets_both() {
        let c = check_facts(
            &["Gandapur ordered an emergency response after 2,600 homes were damaged.".into()],
            SOURCE,
        );
        assert!(c[0].grounded, "{c:?}");
        assert_eq!(c[0].evidence.len(), 2);
    }

    #[test]
    fn number_words_units_and_scripts() {
        assert!(
            unsupported_numbers("2 million people and 2,600-home damage and ۳۰ dead", SOURCE)
                .is_empty()
        );
        assert_eq!(
            unsupported_numbers("three dozen homes", SOURCE),
            vec!["3".to_string(), "12".to_string()]
        );
        assert!(unsupported_numbers("a 48-hour curfew", SOURCE) == vec!["48".to_string()]);
    }

    #[test]
    fn scales_in_words_and_suffixes() {
        let src = "The club paid £8m for him, a £1.75million bonus and 2.5 billion rupees. A million fans watched.";
        for ok in [
            "The transfer cost around £8 million.",
            "A bonus of £1.75 million.",
            "2.5 billion rupees were paid.",
            "It cost 8m.",
            "A million fans.",
        ] {
            assert!(
                unsupported_numbers(ok, src).is_empty(),
                "{ok}: {:?}",
                unsupported_numbers(ok, src)
            );
        }
        // A wrong scale or a wrong base is caught.
        assert_eq!(
            unsupported_numbers("£8 billion", src),
            vec!["8000000000".to_string()]
        );
        assert_eq!(
            unsupported_numbers("£9 million", src),
            vec!["9".to_string(), "9000000".to_string()]
        );
        assert_eq!(
            unsupported_numbers("2.5 million rupees", src),
            vec!["2500000".to_string()]
        );
    }

    #[test]
    fn urdu_alignment() {
        let src = "سوات میں سیلاب سے 30 افراد ہلاک ہو گئے۔ حکام نے کہا کہ 2600 گھروں کو نقصان پہنچا۔";
        let c = check_facts(&["سیلاب سے 30 افراد ہلاک ہوئے۔".into()], src);
        assert!(c[0].grounded, "{c:?}");
        assert!(c[0].evidence[0].contains("سیلاب"));
    }
}
