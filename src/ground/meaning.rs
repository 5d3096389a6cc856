//! The meaning check of a claim against its evidence sentences: lexical
//! tests for the errors small models make (a word or name the evidence does
//! not have, a negation or an antonym, two names or a cause and its effect
//! swapped, a future event told as past), and the verdict they give with the
//! model's yes/no judgement beside them.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::{numbers_in, words, STOPWORDS_EN, STOPWORDS_UR_PS};

/// What the evidence says of a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The evidence says it.
    #[default]
    Supported,
    /// The evidence does not say it (a word, name or number it lacks, or
    /// the judge's doubt).
    Unsupported,
    /// The evidence says otherwise (negation, antonym, roles or cause swapped,
    /// tense).
    Contradicted,
}

/// Log-odds of "yes" at or above which the judge's answer counts as support;
/// calibrated on `tests/data/claims/ntrex-dev.jsonl` (see docs/TRUST.md).
pub const JUDGE_THRESHOLD: f32 = 0.0;

/// Words that turn a clause into its negation.
const NEGATIONS: &[&str] = &[
    "not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "without", "cannot",
    "nowhere", "denied", "denies", "deny",
];

/// Words of opposite meaning, each pair once.
const ANTONYMS: &[(&str, &str)] = &[
    ("increase", "decrease"),
    ("rise", "fall"),
    ("rose", "fell"),
    ("risen", "fallen"),
    ("higher", "lower"),
    ("more", "fewer"),
    ("more", "less"),
    ("win", "lose"),
    ("won", "lost"),
    ("accept", "reject"),
    ("approve", "reject"),
    ("approved", "rejected"),
    ("support", "oppose"),
    ("allow", "ban"),
    ("allowed", "banned"),
    ("open", "close"),
    ("opened", "closed"),
    ("first", "last"),
    ("largest", "smallest"),
    ("biggest", "smallest"),
    ("best", "worst"),
    ("strong", "weak"),
    ("stronger", "weaker"),
    ("early", "late"),
    ("earlier", "later"),
    ("before", "after"),
    ("up", "down"),
    ("gain", "loss"),
    ("guilty", "innocent"),
    ("agreed", "refused"),
    ("began", "ended"),
    ("start", "end"),
    ("started", "ended"),
    ("success", "failure"),
    ("successful", "unsuccessful"),
    ("positive", "negative"),
    ("majority", "minority"),
    ("public", "private"),
    ("legal", "illegal"),
    ("happy", "unhappy"),
    ("safe", "dangerous"),
    ("include", "exclude"),
    ("included", "excluded"),
    ("arrived", "left"),
    ("joined", "left"),
    ("hired", "fired"),
    ("bought", "sold"),
    ("buy", "sell"),
    ("affect", "escape"),
    ("affected", "spared"),
    ("killed", "spared"),
    ("north", "south"),
    ("east", "west"),
    ("northern", "southern"),
    ("eastern", "western"),
    ("maximum", "minimum"),
    ("above", "below"),
    ("inside", "outside"),
    ("lead", "trail"),
    ("ahead", "behind"),
    ("victory", "defeat"),
    ("true", "false"),
    ("cheap", "expensive"),
    ("import", "export"),
    ("imports", "exports"),
];

/// Markers of a future or planned event.
const FUTURE: &[&str] = &[
    "will",
    "ll",
    "shall",
    "plans",
    "planned",
    "planning",
    "expected",
    "due",
    "set",
    "scheduled",
    "going",
    "intends",
    "would",
];

/// Past forms that do not end in "-ed", with their base form.
const IRREGULAR: &[(&str, &str)] = &[
    ("was", "be"),
    ("were", "be"),
    ("had", "have"),
    ("did", "do"),
    ("went", "go"),
    ("made", "make"),
    ("took", "take"),
    ("gave", "give"),
    ("got", "get"),
    ("came", "come"),
    ("saw", "see"),
    ("said", "say"),
    ("told", "tell"),
    ("held", "hold"),
    ("met", "meet"),
    ("left", "leave"),
    ("paid", "pay"),
    ("found", "find"),
    ("kept", "keep"),
    ("brought", "bring"),
    ("began", "begin"),
    ("ran", "run"),
    ("won", "win"),
    ("lost", "lose"),
    ("sent", "send"),
    ("built", "build"),
    ("spent", "spend"),
    ("stood", "stand"),
    ("became", "become"),
    ("sold", "sell"),
    ("bought", "buy"),
    ("thought", "think"),
    ("knew", "know"),
    ("wrote", "write"),
    ("fell", "fall"),
    ("rose", "rise"),
    ("spoke", "speak"),
    ("chose", "choose"),
    ("grew", "grow"),
    ("led", "lead"),
    ("struck", "strike"),
    ("flew", "fly"),
    ("drove", "drive"),
    ("fought", "fight"),
    ("caught", "catch"),
    ("taught", "teach"),
    ("sought", "seek"),
];

/// Connectives whose two sides are a cause and its effect, or an earlier
/// and a later event.
const CAUSAL: &[&str] = &[
    "because",
    "after",
    "since",
    "due",
    "caused",
    "led",
    "resulted",
    "so",
    "following",
];

/// One finding of the lexical check.
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    /// Names or numbers of the claim that no evidence sentence has.
    MissingNames(Vec<String>),
    /// Names that only a sentence sharing nothing else with the claim has.
    NameElsewhere(Vec<String>),
    /// Content words of the claim that the evidence lacks (inflections
    /// allowed), and their share of its content words.
    MissingWords(Vec<String>, f32),
    /// A negation in one and not in the other.
    Negation {
        /// True when the claim has the negation.
        in_claim: bool,
    },
    /// The claim has a word where the evidence has its opposite.
    Antonym(String, String),
    /// Two names of the claim stand the other way round in the evidence.
    RolesSwapped(String, String),
    /// The claim has a name where its evidence sentence, otherwise the
    /// same around it, has another.
    NameSwapped(String, String),
    /// A cause and its effect, or two events, the other way round.
    CauseReversed(String),
    /// The evidence tells of a future event that the claim tells as past, or
    /// the other way round.
    Tense(String),
}

impl Finding {
    /// The verdict this finding gives on its own.
    pub fn verdict(&self) -> Verdict {
        match self {
            Finding::MissingNames(_)
            | Finding::NameElsewhere(_)
            | Finding::NameSwapped(..)
            | Finding::MissingWords(..) => Verdict::Unsupported,
            _ => Verdict::Contradicted,
        }
    }

    /// The finding in words, for `reason`.
    pub fn describe(&self) -> String {
        match self {
            Finding::MissingNames(n) => format!("the evidence does not have: {}", n.join(", ")),
            Finding::NameElsewhere(n) => format!(
                "{} only in a sentence that says nothing else of the claim",
                n.join(", ")
            ),
            Finding::MissingWords(w, share) => format!(
                "{:.0} % of its words are not in the evidence: {}",
                share * 100.0,
                w.join(", ")
            ),
            Finding::Negation { in_claim: true } => {
                "the claim negates what the evidence states".into()
            }
            Finding::Negation { in_claim: false } => {
                "the evidence negates what the claim states".into()
            }
            Finding::Antonym(c, e) => {
                format!("the claim says \"{c}\" where the evidence says \"{e}\"")
            }
            Finding::NameSwapped(c, e) => {
                format!("the claim has \"{c}\" where its evidence sentence has \"{e}\"")
            }
            Finding::RolesSwapped(a, b) => {
                format!("\"{a}\" and \"{b}\" stand the other way round in the evidence")
            }
            Finding::CauseReversed(c) => {
                format!("the two sides of \"{c}\" are the other way round in the evidence")
            }
            Finding::Tense(v) => format!(
                "the evidence tells \"{v}\" as a future or planned event, the claim as done"
            ),
        }
    }
}

/// A word reduced to a stem shared by its inflections: "arrested",
/// "arrests" and "arresting" give "arrest"; "cities" and "city" give "citi".
pub fn stem(w: &str) -> String {
    let w = w
        .strip_suffix("'s")
        .or_else(|| w.strip_suffix("’s"))
        .unwrap_or(w);
    if !w.is_ascii() {
        return w.to_string();
    }
    let irregular = IRREGULAR.iter().find(|(p, _)| *p == w).map(|x| x.1);
    let w = irregular.unwrap_or(w);
    for (suffix, keep) in [
        ("ies", "i"),
        ("ied", "i"),
        ("y", "i"),
        ("ing", ""),
        ("ed", ""),
        ("es", ""),
        ("s", ""),
        ("e", ""),
        ("ly", ""),
    ] {
        if suffix == "s" && (w.ends_with("ss") || w.ends_with("us") || w.ends_with("is")) {
            continue;
        }
        if let Some(base) = w.strip_suffix(suffix) {
            if base.len() >= 3 {
                let mut s = format!("{base}{keep}");
                // "stopped" -> "stop", "planned" -> "plan".
                let b = s.as_bytes();
                if b.len() >= 4
                    && b[b.len() - 1] == b[b.len() - 2]
                    && !b"aeiouls".contains(&b[b.len() - 1])
                {
                    s.pop();
                }
                return s;
            }
        }
    }
    w.to_string()
}

fn is_stopword(w: &str) -> bool {
    STOPWORDS_EN.contains(&w) || STOPWORDS_UR_PS.contains(&w) || NEGATIONS.contains(&w)
}

/// Stems of the words of `text`, in order.
fn stems(text: &str) -> Vec<String> {
    words(text).iter().map(|w| stem(w)).collect()
}

/// Capitalized words of `text` that do not open a sentence or a quote, lower-cased.
fn capitalized(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = true;
    for raw in text.split_whitespace() {
        let first = raw.chars().find(|c| c.is_alphanumeric());
        let opens_quote = raw.starts_with(['"', '“', '\'', '‘']);
        if first.is_some_and(char::is_uppercase) && !start && !opens_quote {
            for w in words(raw) {
                if w.chars().count() > 1 && !is_stopword(&w) {
                    out.push(w);
                }
            }
        }
        start = raw.ends_with(['.', '!', '?', ':', '"', '”']);
    }
    out
}

/// Words that, next to a quoted span, can change what the span asserts:
/// attribution to someone who disputes it, a condition, a possibility or a
/// report of a report.
const FRAMING: &[&str] = &[
    "not",
    "no",
    "never",
    "denied",
    "denies",
    "deny",
    "rejected",
    "rejects",
    "dismissed",
    "false",
    "falsely",
    "claim",
    "claims",
    "claimed",
    "alleged",
    "allegedly",
    "reportedly",
    "rumour",
    "rumours",
    "rumor",
    "rumors",
    "if",
    "whether",
    "unless",
    "until",
    "may",
    "might",
    "could",
    "would",
    "should",
    "whom",
    "asked",
    "feared",
    "fears",
    "hoped",
    "hopes",
    "wanted",
    "wants",
    "plan",
    "plans",
    "planned",
    "proposed",
    "proposal",
    "expected",
    "without",
    "instead",
    "failed",
    "fail",
    "refused",
    "refuse",
    "avoid",
    "avoided",
    "escape",
    "escaped",
    "than",
];

/// Shortest claim, in words, that counts as a quoted span.
const QUOTED_MIN_WORDS: usize = 6;

/// True when `claim` is, word for word, one unbroken span of an evidence
/// sentence of at least [`QUOTED_MIN_WORDS`] words, and none of the words
/// around the span could change what it asserts ([`FRAMING`]). Such a claim
/// says what its sentence says; dropping words from inside a sentence (a
/// subject's "deputy", "announced that a delegation ...") can change who did
/// what, so only an unbroken span counts.
pub fn quoted(claim: &str, evidence: &[String]) -> bool {
    let c = words(claim);
    if c.len() < QUOTED_MIN_WORDS {
        return false;
    }
    evidence.iter().any(|sentence| {
        let s = words(sentence);
        (0..s.len().saturating_sub(c.len() - 1)).any(|at| {
            s[at..at + c.len()] == c[..]
                && !s[..at]
                    .iter()
                    .chain(&s[at + c.len()..])
                    .any(|w| FRAMING.contains(&w.as_str()))
        })
    })
}

/// The lexical findings on `claim` against `evidence`.
pub fn lexical(claim: &str, evidence: &[String]) -> Vec<Finding> {
    let mut out = Vec::new();
    let joined = evidence.join(" ");
    let ev_words = words(&joined);
    let ev_stems: HashSet<String> = ev_words.iter().map(|w| stem(w)).collect();
    let has = |w: &str| ev_stems.contains(&stem(w));

    // Names and numbers first: each must be in some evidence sentence.
    let names = capitalized(claim);
    let mut missing: Vec<String> = names.iter().filter(|n| !has(n)).cloned().collect();
    let ev_numbers: HashSet<String> = numbers_in(&joined).into_iter().collect();
    missing.extend(
        numbers_in(claim)
            .into_iter()
            .filter(|n| !ev_numbers.contains(n)),
    );
    missing.dedup();
    if !missing.is_empty() {
        out.push(Finding::MissingNames(missing));
    }
    let content: Vec<String> = words(claim)
        .into_iter()
        .filter(|w| !is_stopword(w) && numbers_in(w).is_empty())
        .collect();
    // Names are not the "other words" a name's sentence must share with the
    // claim: nor is the claim's first word where the evidence writes it as a
    // name ("Foreign Office to hold talks").
    let ev_names: HashSet<String> = capitalized(&joined).into_iter().collect();
    let mut capital_words: HashSet<String> = names.iter().cloned().collect();
    capital_words.extend(
        words(claim)
            .into_iter()
            .take(1)
            .filter(|w| ev_names.contains(w)),
    );
    let plain: Vec<String> = content
        .iter()
        .filter(|w| !capital_words.contains(*w))
        .cloned()
        .collect();
    let elsewhere = names_elsewhere(claim, &names, &plain, evidence);
    if !elsewhere.is_empty() {
        out.push(Finding::NameElsewhere(elsewhere));
    }
    let absent: Vec<String> = content
        .iter()
        .filter(|w| !has(w) && !names.contains(w))
        .cloned()
        .collect();
    if !content.is_empty() && !absent.is_empty() {
        let share = absent.len() as f32 / content.len() as f32;
        out.push(Finding::MissingWords(absent.clone(), share));
    }
    let claim_words = words(claim);
    if let Some(f) = negation(&claim_words, &ev_words, &content) {
        out.push(f);
    }
    let claim_stems: HashSet<String> = claim_words.iter().map(|w| stem(w)).collect();
    for (a, b) in ANTONYMS {
        for (x, y) in [(a, b), (b, a)] {
            if claim_stems.contains(&stem(x)) && !has(x) && has(y) {
                out.push(Finding::Antonym(x.to_string(), y.to_string()));
            }
        }
    }
    if let Some(f) = roles_swapped(claim, evidence) {
        out.push(f);
    }
    if let Some(f) = name_swapped(claim, evidence) {
        out.push(f);
    }
    if let Some(f) = cause_reversed(&claim_words, &ev_words) {
        out.push(f);
    }
    if let Some(f) = tense(&claim_words, &ev_words) {
        out.push(f);
    }
    out
}

/// Names of the claim that occur only in evidence sentences sharing none of
/// its `plain` (lower-case content) words: a name moved in from another
/// sentence.
fn names_elsewhere(
    claim: &str,
    names: &[String],
    plain: &[String],
    evidence: &[String],
) -> Vec<String> {
    if evidence.len() < 2 {
        return Vec::new();
    }
    let per: Vec<HashSet<String>> = evidence
        .iter()
        .map(|e| stems(e).into_iter().collect())
        .collect();
    let mut others: Vec<String> = plain.iter().map(|w| stem(w)).collect();
    // "..., said Officer O'Brien": an attribution from the sentence where the
    // speaker speaks shares its saying verb with the claim.
    const SAYING: &[&str] = &["say", "tell", "accord", "announc"];
    if let Some(v) = SAYING
        .iter()
        .find(|v| stems(claim).contains(&v.to_string()))
    {
        others.push(v.to_string());
    }
    const DAYS_AND_MONTHS: &[&str] = &[
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    // The day or month of the story is often said once, in another sentence.
    names
        .iter()
        .filter(|n| !DAYS_AND_MONTHS.contains(&n.as_str()))
        .filter(|n| {
            let n = stem(n);
            let holders: Vec<&HashSet<String>> = per.iter().filter(|s| s.contains(&n)).collect();
            !holders.is_empty()
                && holders
                    .iter()
                    .all(|s| others.iter().filter(|w| s.contains(*w)).count() == 0)
        })
        .cloned()
        .collect()
}

fn negated(words: &[String]) -> usize {
    words
        .iter()
        .filter(|w| NEGATIONS.contains(&w.as_str()) || w.ends_with("n't") || *w == "t")
        .count()
}

/// A negation in the claim that the evidence lacks, or one of the evidence
/// that the claim drops while keeping the word it negated.
fn negation(claim: &[String], ev: &[String], content: &[String]) -> Option<Finding> {
    let (c, e) = (negated(claim), negated(ev));
    if c > 0 && e == 0 {
        return Some(Finding::Negation { in_claim: true });
    }
    if c == 0 && e > 0 {
        // The word after each negation of the evidence (skipping auxiliaries):
        // if the claim keeps it, it states what the evidence denies.
        let stems_c: HashSet<String> = content.iter().map(|w| stem(w)).collect();
        for (i, w) in ev.iter().enumerate() {
            if NEGATIONS.contains(&w.as_str()) || w == "t" {
                let next = ev[i + 1..].iter().find(|x| {
                    !STOPWORDS_EN.contains(&x.as_str())
                        && !["be", "been", "have"].contains(&x.as_str())
                });
                if next.is_some_and(|x| stems_c.contains(&stem(x))) {
                    return Some(Finding::Negation { in_claim: false });
                }
            }
        }
    }
    None
}

/// Most words between the matching context on both sides of a swapped
/// name (the other name the evidence has there).
const NAME_CONTEXT: usize = 7;

/// Lower-cased words of `text` written with a capital, in order, the first
/// word of the text included: names, unless a function word or a single
/// letter.
fn capital_words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .filter(|raw| {
            raw.chars()
                .find(|c| c.is_alphanumeric())
                .is_some_and(char::is_uppercase)
        })
        .flat_map(words)
        .filter(|w| w.chars().count() > 1 && !is_stopword(w))
        .collect()
}

/// A name of the claim put in the place of another: an evidence sentence
/// reads the same on both sides of the claim's name (two words of context
/// at least), with a different name between ("KSWB-TV said at first" for
/// "Hammel said at first", "Rangers host Graham Dorrans on Thursday" for
/// "Rangers host Rapid Vienna on Thursday").
fn name_swapped(claim: &str, evidence: &[String]) -> Option<Finding> {
    let cw = words(claim);
    let names: HashSet<String> = capital_words(claim).into_iter().collect();
    let ev_words: Vec<Vec<String>> = evidence.iter().map(|e| words(e)).collect();
    for (sentence, es) in evidence.iter().zip(&ev_words) {
        let present: HashSet<&String> = es.iter().collect();
        let ev_capitals: HashSet<String> = capital_words(sentence).into_iter().collect();
        let is_new = |w: &String| names.contains(w) && !present.contains(w);
        let mut a = 0;
        while a < cw.len() {
            if !is_new(&cw[a]) {
                a += 1;
                continue;
            }
            let mut b = a;
            while b < cw.len() && is_new(&cw[b]) {
                b += 1;
            }
            let run = &cw[a..b];
            // The name with its neighbours, as some evidence sentence has it:
            // no swap.
            let with_context = &cw[a.saturating_sub(1)..(b + 1).min(cw.len())];
            let said_so = ev_words
                .iter()
                .any(|e| e.windows(with_context.len()).any(|w| w == with_context));
            if said_so {
                a = b;
                continue;
            }
            // Positions in `es` of the words just before and after the run
            // (None: the claim starts or ends there).
            let lefts: Vec<Option<usize>> = if a == 0 {
                vec![None]
            } else {
                (0..es.len())
                    .filter(|&i| es[i] == cw[a - 1])
                    .map(Some)
                    .collect()
            };
            for left in lefts {
                let from = left.map_or(0, |i| i + 1);
                let until = (from + NAME_CONTEXT).min(es.len());
                for j in from + 1..=until {
                    let right_ok = match cw.get(b) {
                        Some(r) => es.get(j) == Some(r),
                        None => j == es.len(),
                    };
                    if !right_ok {
                        continue;
                    }
                    let span = &es[from..j];
                    // Context: the words around must match for two words
                    // at least, counting one more on each side.
                    let mut context =
                        usize::from(left.is_some()) + usize::from(cw.get(b).is_some());
                    if a >= 2 && left.is_some_and(|i| i >= 1 && es[i - 1] == cw[a - 2]) {
                        context += 1;
                    }
                    if cw.get(b + 1).is_some() && es.get(j + 1) == cw.get(b + 1) {
                        context += 1;
                    }
                    if context >= 2
                        && span.iter().any(|w| ev_capitals.contains(w))
                        && !span.iter().any(|w| run.contains(w))
                    {
                        return Some(Finding::NameSwapped(run.join(" "), span.join(" ")));
                    }
                }
            }
            a = b;
        }
    }
    None
}

/// Two names whose order around a shared word is reversed: "A beat B" told
/// as "B beat A". Passives ("by") are left alone.
fn roles_swapped(claim: &str, evidence: &[String]) -> Option<Finding> {
    let cw = stems(claim);
    if passive(&words(claim)) {
        return None;
    }
    // Capitalized words of the claim, its first included, that the evidence
    // also writes with a capital: names.
    // A count that opens a sentence ("Six officers hurt") is not a name.
    let caps = |t: &str| -> Vec<String> {
        capital_words(t)
            .iter()
            .filter(|w| numbers_in(w).is_empty())
            .map(|w| stem(w))
            .collect()
    };
    let ev_caps: HashSet<String> = evidence.iter().flat_map(|e| caps(e)).collect();
    let uniq: Vec<String> = caps(claim)
        .into_iter()
        .filter(|n| ev_caps.contains(n))
        .fold(Vec::new(), |mut v, n| {
            if !v.contains(&n) {
                v.push(n);
            }
            v
        });
    for e in evidence {
        let ew = stems(e);
        if passive(&words(e)) {
            continue;
        }
        let pos = |ws: &[String], n: &str| ws.iter().position(|w| w == n);
        for (i, a) in uniq.iter().enumerate() {
            for b in &uniq[i + 1..] {
                let (Some(ca), Some(cb), Some(ea), Some(eb)) =
                    (pos(&cw, a), pos(&cw, b), pos(&ew, a), pos(&ew, b))
                else {
                    continue;
                };
                if (ca < cb) == (ea < eb) {
                    continue;
                }
                // A content word between them in both: the verb they share.
                let between_c: HashSet<&String> = cw[ca.min(cb) + 1..ca.max(cb)].iter().collect();
                let shared = ew[ea.min(eb) + 1..ea.max(eb)]
                    .iter()
                    .any(|w| between_c.contains(w) && !is_stopword(w) && !uniq.contains(w));
                if shared {
                    return Some(Finding::RolesSwapped(a.clone(), b.clone()));
                }
            }
        }
    }
    None
}

/// A passive clause: a form of "be", a participle, then "by".
fn passive(ws: &[String]) -> bool {
    let participle = |w: &String| {
        w.ends_with("ed") || w.ends_with("en") || IRREGULAR.iter().any(|(p, _)| p == w)
    };
    ws.iter().enumerate().any(|(i, w)| {
        ["was", "were", "is", "are", "be", "been", "being"].contains(&w.as_str())
            && ws[i + 1..].iter().take(2).any(participle)
            && ws[i + 1..].iter().take(6).any(|x| x == "by")
    })
}

/// The content stems before and after `at` in `ws`.
fn sides(ws: &[String], at: usize) -> (HashSet<String>, HashSet<String>) {
    let pick = |s: &[String]| {
        s.iter()
            .filter(|w| !is_stopword(w))
            .map(|w| stem(w))
            .collect::<HashSet<String>>()
    };
    (pick(&ws[..at]), pick(&ws[at + 1..]))
}

/// The same connective in both, with the claim's two sides found on the
/// opposite sides in the evidence.
fn cause_reversed(claim: &[String], ev: &[String]) -> Option<Finding> {
    for c in CAUSAL {
        let (Some(ci), Some(ei)) = (
            claim.iter().position(|w| w == c),
            ev.iter().position(|w| w == c),
        ) else {
            continue;
        };
        let (cb, ca) = sides(claim, ci);
        let (eb, ea) = sides(ev, ei);
        let crossed = cb.intersection(&ea).count() + ca.intersection(&eb).count();
        let kept = cb.intersection(&eb).count() + ca.intersection(&ea).count();
        if crossed >= 2 && crossed > 2 * kept {
            return Some(Finding::CauseReversed(c.to_string()));
        }
    }
    None
}

/// A verb that follows a future marker in the evidence and stands in the
/// past in the claim with no future marker of its own (or the reverse).
fn tense(claim: &[String], ev: &[String]) -> Option<Finding> {
    let participle =
        |w: &str| w.ends_with("ed") || w.ends_with("en") || w.ends_with("ing") || is_past(w);
    // Each future verb, and for "be" the word after it ("will be the
    // last" is told as done only by "was the last").
    let future_verbs = |ws: &[String]| -> Vec<(String, Option<String>)> {
        let mut out = Vec::new();
        for (i, w) in ws.iter().enumerate() {
            if ["will", "ll", "shall"].contains(&w.as_str())
                || (w == "to" && i > 0 && FUTURE.contains(&ws[i - 1].as_str()))
            {
                let next = &ws[i + 1..];
                // "will be the last": "be" is the verb; "will be charged":
                // the participle is.
                if next.first().is_some_and(|x| x == "be")
                    && next.get(1).is_some_and(|x| !participle(x))
                {
                    out.push(("be".to_string(), next.get(1).cloned()));
                } else if let Some(v) = next
                    .iter()
                    .take(3)
                    .find(|x| !FUTURE_FILLERS.contains(&x.as_str()))
                {
                    out.push((v.clone(), None));
                }
            }
        }
        out
    };
    let check = |future_side: &[String], past_side: &[String]| -> Option<Finding> {
        let also_future: Vec<String> = future_verbs(past_side).into_iter().map(|v| v.0).collect();
        for (v, after) in future_verbs(future_side) {
            if also_future.contains(&v) {
                continue;
            }
            let s = stem(&v);
            let before = |j: usize| &past_side[j.saturating_sub(3)..j];
            // Told as done: a past form, or the verb itself where its past
            // is the same word ("set", "cut"), with no future or modal word
            // just before it.
            let done = |j: usize| {
                let w = past_side[j].as_str();
                let marked = before(j)
                    .iter()
                    .any(|a| FUTURE.contains(&a.as_str()) || MODALS.contains(&a.as_str()));
                // "a delegation led by": a participle, not a telling.
                let passive = past_side.get(j + 1).is_some_and(|a| a == "by");
                let same_after = after
                    .as_ref()
                    .is_none_or(|a| past_side.get(j + 1) == Some(a));
                !marked
                    && !passive
                    && same_after
                    && (is_past(w)
                        || (SAME_PAST.contains(&w) && w == v)
                        || before(j).iter().any(|a| {
                            ["did", "didn", "had", "has", "have", "was", "were"]
                                .contains(&a.as_str())
                        }))
            };
            if (0..past_side.len()).any(|j| stem(&past_side[j]) == s && done(j)) {
                return Some(Finding::Tense(v));
            }
        }
        None
    };
    check(ev, claim).or_else(|| check(claim, ev))
}

/// Words between "will" and its verb.
const FUTURE_FILLERS: &[&str] = &[
    "not",
    "be",
    "have",
    "been",
    "likely",
    "also",
    "soon",
    "then",
    "now",
    "still",
    "only",
    "again",
    "probably",
    "eventually",
    "finally",
    "never",
    "first",
    "either",
    "both",
];

/// A past form: "-ed", or an irregular one.
fn is_past(w: &str) -> bool {
    w.ends_with("ed") || IRREGULAR.iter().any(|(p, _)| *p == w)
}

/// Words before a verb that keep it from being told as done.
const MODALS: &[&str] = &[
    "to", "can", "could", "may", "might", "must", "should", "would", "shall", "will", "ll",
    "going", "likely",
];

/// Verbs whose past is the same word.
const SAME_PAST: &[&str] = &[
    "set", "put", "cut", "hit", "let", "hurt", "cost", "quit", "shut", "spread", "read", "cast",
    "bid", "beat",
];

/// The verdict and its reason from the lexical `findings` and the judge's
/// log-odds of "yes" (`None` when no judge ran). A contradiction stands on
/// its own; a missing name or number too; missing ordinary words count
/// only when they are most of the claim or the judge doubts it.
pub fn verdict(findings: &[Finding], judge: Option<f32>) -> (Verdict, String) {
    verdict_at(findings, judge, JUDGE_THRESHOLD)
}

/// [`verdict`] with the judge's doubt counted below `threshold`.
pub fn verdict_at(findings: &[Finding], judge: Option<f32>, threshold: f32) -> (Verdict, String) {
    let doubt = judge.is_some_and(|s| s < threshold);
    let strong = |f: &&Finding| match f {
        Finding::MissingWords(_, share) => *share > 0.5 || doubt,
        _ => true,
    };
    let reasons: Vec<&Finding> = findings.iter().filter(strong).collect();
    if let Some(f) = reasons
        .iter()
        .find(|f| f.verdict() == Verdict::Contradicted)
    {
        return (Verdict::Contradicted, f.describe());
    }
    if let Some(f) = reasons.first() {
        return (Verdict::Unsupported, f.describe());
    }
    match judge {
        Some(s) if doubt => (
            Verdict::Unsupported,
            format!("the model judges that the evidence does not say it (log-odds {s:.2})"),
        ),
        Some(s) => (
            Verdict::Supported,
            format!("the evidence says it (log-odds {s:.2})"),
        ),
        None => (
            Verdict::Supported,
            "the evidence has its words, names and numbers".into(),
        ),
    }
}

#[cfg(test)]
mod tests;
