//! The pasted-page reader: a whole page selected in a browser and pasted
//! as text. Each paragraph (line) is scored as story or page furniture by a
//! logistic model over features of the line and its neighbours; the story
//! is the one run of lines with the highest total score; the title is the
//! headline line next to the start of that run. The weights are fitted on
//! saved pages by `tools/fit-paste-reader.py` and kept in [`WEIGHTS`].

use super::furniture::{self, Removed, CAPTION};
use crate::ground::{STOPWORDS_EN, STOPWORDS_UR_PS};
use crate::segment::ends_sentence;

/// Number of features per line.
pub const FEATURES: usize = 17;

/// Features of the first reading (all but `story_words`, which needs a
/// story to compare with).
pub const FIRST_FEATURES: usize = 16;

/// Names of the features, in order (for the fitting script's report).
pub const FEATURE_NAMES: [&str; FEATURES] = [
    "bias",
    "log_words",
    "ends_sentence",
    "stopword_share",
    "capitalized_share",
    "link_like",
    "furniture_rule",
    "digit_share",
    "repeated",
    "window_log_words",
    "window_ends_sentence",
    "position",
    "log_commas",
    "short",
    "window_stopword_share",
    "list_item",
    "story_words",
];

/// Logistic weights over the first [`FIRST_FEATURES`] of
/// [`FEATURE_NAMES`] (the first reading), fitted by
/// `tools/fit-paste-reader.py` on the pasted dev pages.
pub const FIRST_WEIGHTS: [f64; FIRST_FEATURES] = [
    -3.188, 0.950, 0.289, 1.141, -1.170, 0.533, -2.194, 1.000, 0.067, 4.293, 1.898, -1.883, 0.047,
    0.073, -0.373, 1.734,
];

/// Logistic weights over [`FEATURE_NAMES`] of the second reading, fitted
/// by `tools/fit-paste-reader.py` on the pasted dev pages.
pub const WEIGHTS: [f64; FEATURES] = [
    -4.084, 0.828, 0.295, 0.793, -1.337, 0.603, -1.874, 1.870, -0.151, 3.844, 1.707, -1.675, 0.151,
    0.395, -0.773, 1.419, 2.778,
];

/// Lines on each side that make a line's neighbourhood.
const WINDOW: usize = 3;

/// What the reader made of a pasted page.
#[derive(Debug, Clone, Default)]
pub(super) struct Reading {
    /// The headline line, when one was found.
    pub title: Option<String>,
    /// The story's paragraphs, in order.
    pub kept: Vec<String>,
    /// Every other line, with its reason.
    pub removed: Vec<Removed>,
    /// Mean story probability of the kept lines, weighted by words.
    pub confidence: f64,
}

/// Function words of other languages whose pages a desk also pastes
/// (French, Spanish, Portuguese, German, Italian, Czech); English, Urdu and
/// Pashto come from the fact check's lists.
const STOPWORDS_OTHER: &[&str] = &[
    "le", "la", "les", "des", "du", "de", "et", "est", "une", "un", "en", "que", "qui", "dans",
    "pour", "pas", "sur", "au", "aux", "avec", "il", "elle", "el", "los", "las", "del", "y", "es",
    "por", "con", "para", "una", "se", "lo", "como", "o", "os", "do", "da", "dos", "das", "em",
    "um", "uma", "não", "der", "die", "das", "und", "ist", "nicht", "mit", "den", "dem", "von",
    "zu", "ein", "eine", "auf", "il", "di", "che", "è", "per", "non", "gli", "della", "je", "na",
    "se", "v", "ve", "to", "že", "s", "z", "jako", "ale",
];

/// A fast hash for the reader's keys (whole lines, hashed words): eight
/// bytes a step, each step a rotation, an exclusive or and one
/// multiplication (as rustc's FxHash), so a long line costs an eighth of the
/// serial multiplications of a byte-wise hash.
#[derive(Default, Clone, Copy)]
struct LineHash;

/// The running state of [`LineHash`].
struct LineHasher(u64);

impl LineHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl std::hash::BuildHasher for LineHash {
    type Hasher = LineHasher;
    fn build_hasher(&self) -> LineHasher {
        LineHasher(0)
    }
}

impl std::hash::Hasher for LineHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            // The length tells `ab` from `ab\0`.
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    fn finish(&self) -> u64 {
        // The table takes its slot from the low bits, which a last
        // multiplication mixes least.
        self.0.rotate_left(26)
    }
}

use furniture::size as words;

/// The function words of every language the reader knows, by the FNV-1a
/// hash of their bytes (see [`word_hashes`]); no two of them share one (a
/// test checks).
fn stopwords() -> &'static std::collections::HashMap<u64, &'static str, LineHash> {
    static MAP: std::sync::OnceLock<std::collections::HashMap<u64, &'static str, LineHash>> =
        std::sync::OnceLock::new();
    MAP.get_or_init(|| {
        [STOPWORDS_EN, STOPWORDS_UR_PS, STOPWORDS_OTHER]
            .concat()
            .into_iter()
            .map(|w| (word_hashes(w).0, w))
            .collect()
    })
}

/// Whether the lower-cased word `l`, whose [`word_hashes`] hash is `h`, is a
/// function word.
fn is_stopword(l: &str, h: u64) -> bool {
    stopwords().get(&h).is_some_and(|&w| w == l)
}

/// The FNV-1a hashes of a lower-cased word and of its stem (its first five
/// characters, enough to match a word's inflections), in one pass.
fn word_hashes(l: &str) -> (u64, u64) {
    let b = l.as_bytes();
    let stem_end = if b.len() <= 5 {
        b.len()
    } else if l.is_ascii() {
        5
    } else {
        l.char_indices().nth(5).map_or(b.len(), |(i, _)| i)
    };
    let fnv = |h: u64, bytes: &[u8]| {
        bytes
            .iter()
            .fold(h, |h, &c| (h ^ u64::from(c)).wrapping_mul(0x0100_0000_01b3))
    };
    let stem = fnv(0xcbf2_9ce4_8422_2325, &b[..stem_end]);
    (fnv(stem, &b[stem_end..]), stem)
}

/// `w` without the punctuation around it.
pub(super) fn trim_word(w: &str) -> &str {
    if w.is_ascii() {
        w.trim_matches(|c: char| !c.is_ascii_alphanumeric())
    } else {
        w.trim_matches(|c: char| !crate::lang::is_alphanumeric(c))
    }
}

/// Whether `w` is a function word; if it is a content word (of three
/// characters or more), it is added to `key` (see [`repeat_key`]) and its
/// hashed stem (see [`content_stems`]) to `stems`.
fn stopword_or_key(w: &str, key: &mut LineHasher, stems: Option<&mut Vec<u64>>) -> bool {
    use std::hash::Hasher;
    let t = trim_word(w);
    with_lower(t, |l| {
        let (h, stem) = word_hashes(l);
        let stop = t.len() <= 12 && is_stopword(l, h);
        let long = if t.is_ascii() {
            t.len() > 2
        } else {
            t.chars().count() > 2
        };
        if !stop && long {
            key.write_u64(h);
            if let Some(stems) = stems {
                stems.push(stem);
            }
        }
        stop
    })
}

/// Longest ASCII word that [`with_lower`] lower-cases on the stack.
const SHORT_WORD: usize = 24;

/// Calls `f` with `w` lower-cased; an ASCII word is lower-cased on the
/// stack, or in a buffer kept per thread when it is long, with no
/// allocation.
fn with_lower<R>(w: &str, f: impl FnOnce(&str) -> R) -> R {
    thread_local! {
        static SCRATCH: std::cell::Cell<String> = const { std::cell::Cell::new(String::new()) };
    }
    if w.is_ascii() {
        if !w.bytes().any(|b| b.is_ascii_uppercase()) {
            return f(w);
        }
        if w.len() <= SHORT_WORD {
            let mut buf = [0u8; SHORT_WORD];
            let b = &mut buf[..w.len()];
            b.copy_from_slice(w.as_bytes());
            b.make_ascii_lowercase();
            return f(std::str::from_utf8(b).unwrap_or(w));
        }
        let mut buf = SCRATCH.take();
        buf.clear();
        buf.push_str(w);
        buf.make_ascii_lowercase();
        let r = f(&buf);
        SCRATCH.set(buf);
        r
    } else if w
        .chars()
        .any(|c| !crate::lang::is_arabic_script(c) && c.is_uppercase())
    {
        f(w.to_lowercase().as_str())
    } else {
        f(w)
    }
}

fn share(n: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        n as f64 / of as f64
    }
}

fn link_like(s: &str) -> bool {
    links_in_text(s) || furniture::split_words(s).any(link_word)
}

/// Whether a line has an address or a separator of links.
fn links_in_text(s: &str) -> bool {
    s.contains("http://")
        || s.contains("https://")
        || s.contains("www.")
        || s.contains(" | ")
        || s.contains(" • ")
}

/// A handle, an e-mail address or a `.com` name.
fn link_word(w: &str) -> bool {
    (w.starts_with('@') && w.len() > 2)
        || (w.contains('@') && w.contains('.'))
        || w.ends_with(".com")
}

/// Adds to `stems` the hashed stem (see [`word_hashes`]) of each content
/// word of `s`, as [`stopword_or_key`] finds them: lower-cased, three
/// characters or more, not a function word.
fn content_stems(s: &str, stems: &mut Vec<u64>) {
    use std::hash::BuildHasher;
    let mut key = LineHash.build_hasher();
    for w in furniture::split_words(s) {
        stopword_or_key(w, &mut key, Some(stems));
    }
}

/// Words, function words, words that start with a Latin letter, those of
/// them that start with a capital, and [`link_word`]s; and the line's
/// [`repeat_key`].
fn tally<'a>(
    ws: impl Iterator<Item = &'a str>,
    mut stems: Option<&mut Vec<u64>>,
) -> ([usize; 5], u64) {
    use std::hash::{BuildHasher, Hasher};
    let mut t = [0usize; 5];
    let mut key = LineHash.build_hasher();
    for w in ws {
        t[0] += 1;
        t[1] += usize::from(stopword_or_key(w, &mut key, stems.as_deref_mut()));
        if let Some(&c) = w.as_bytes().first().filter(|c| c.is_ascii_alphabetic()) {
            t[2] += 1;
            t[3] += usize::from(c.is_ascii_uppercase());
        }
        t[4] += usize::from(link_word(w));
    }
    (t, key.finish())
}

/// The per-line features that do not look at neighbours.
fn own_features(p: &str, first: bool) -> [f64; FEATURES] {
    own_features_and_rule(p, first, None).0
}

/// What the reader knows of one line: its features, the furniture rule it
/// meets (if any) and its [`repeat_key`].
type LineFacts = ([f64; FEATURES], Option<&'static str>, u64, usize);

/// [`own_features`], the furniture rule the line meets, its
/// [`repeat_key`] and its size in words.
fn own_features_and_rule(p: &str, first: bool, stems: Option<&mut Vec<u64>>) -> LineFacts {
    let ([n, stop, latin, caps, link_words], key) = tally(furniture::split_words(p), stems);
    let (chars, digits, dense, commas) = furniture::char_tally(p);
    let size = n.max(furniture::dense_words(dense));
    let mut f = [0.0; FEATURES];
    f[0] = 1.0;
    f[1] = (1.0 + size as f64).ln() / 3.0;
    f[2] = f64::from(u8::from(ends_sentence(p)));
    f[3] = share(stop, n);
    f[4] = share(caps, latin);
    f[5] = f64::from(u8::from(link_words > 0 || links_in_text(p)));
    let rule = furniture::rule_sized(p, size, first);
    f[6] = f64::from(u8::from(rule.is_some()));
    f[7] = share(digits, chars);
    f[12] = (1.0 + commas as f64).ln();
    f[13] = f64::from(u8::from(size <= 3));
    f[15] = f64::from(u8::from(is_list_item(p)));
    (f, rule, key, size)
}

/// `1. Finland`, `- item`, `• item`: a line of a list.
fn is_list_item(p: &str) -> bool {
    furniture::numbered(p) || p.trim_start().starts_with(['•', '-', '–', '*', '·'])
}

/// The features of every line of a page, neighbours and the first
/// reading's story included.
pub fn features(lines: &[String]) -> Vec<[f64; FEATURES]> {
    story_and_facts(lines).1.features
}

/// What the reader computes for every line of a page, in one pass over
/// its words.
struct PageFacts {
    features: Vec<[f64; FEATURES]>,
    /// The furniture rule each line meets, if any (the first line taken as
    /// a story's first).
    rules: Vec<Option<&'static str>>,
    /// Each line's [`repeat_key`].
    keys: Vec<u64>,
    /// Each line's size in words (see [`words`]) and whether it ends like
    /// a sentence.
    sizes: Vec<usize>,
    ends: Vec<bool>,
    /// Whether each line trails off (`...`, `…`).
    trails_off: Vec<bool>,
    /// The hashed stems of every line's content words, line after line;
    /// line `i`'s are `stems[stem_at[i]..stem_at[i + 1]]`, sorted, each
    /// once.
    stems: Vec<u64>,
    stem_at: Vec<usize>,
}

fn page_facts(lines: &[String]) -> PageFacts {
    let n = lines.len();
    let mut counts = std::collections::HashMap::with_capacity_and_hasher(n, LineHash);
    for l in lines {
        *counts.entry(l.as_str()).or_insert(0usize) += 1;
    }
    let mut f = Vec::with_capacity(n);
    let mut rules = Vec::with_capacity(n);
    let mut keys = Vec::with_capacity(n);
    let (mut sizes, mut ends) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut trails_off = Vec::with_capacity(n);
    let (mut stems, mut stem_at) = (Vec::new(), Vec::with_capacity(n + 1));
    stem_at.push(0);
    for (i, l) in lines.iter().enumerate() {
        let at = stems.len();
        let (features, rule, key, size) = own_features_and_rule(l, i == 0, Some(&mut stems));
        sizes.push(size);
        ends.push(features[2] > 0.0);
        let t = l.trim_end();
        trails_off.push(t.ends_with("...") || t.ends_with('…'));
        stems[at..].sort_unstable();
        let mut kept = at;
        for k in at..stems.len() {
            if k == at || stems[k] != stems[kept - 1] {
                stems[kept] = stems[k];
                kept += 1;
            }
        }
        stems.truncate(kept);
        stem_at.push(kept);
        f.push(features);
        rules.push(rule);
        keys.push(key);
    }
    // Running sums make each window mean O(1), so a page of any length
    // costs time linear in its lines.
    let prefix = |k: usize| -> Vec<f64> {
        let mut s = vec![0.0; n + 1];
        for i in 0..n {
            s[i + 1] = s[i] + f[i][k];
        }
        s
    };
    let (pw, pe, ps) = (prefix(1), prefix(2), prefix(3));
    for i in 0..n {
        let (lo, hi) = (i.saturating_sub(WINDOW), (i + WINDOW + 1).min(n));
        let others = (hi - lo - 1) as f64;
        let own = f[i];
        // A line alone (a text of one paragraph) is its own neighbourhood:
        // empty neighbours would read it as an island of furniture.
        let mean = |s: &[f64], k: usize| {
            if others == 0.0 {
                own[k]
            } else {
                (s[hi] - s[lo] - own[k]) / others
            }
        };
        let (w, e, st) = (mean(&pw, 1), mean(&pe, 2), mean(&ps, 3));
        f[i][8] = f64::from(u8::from(counts[lines[i].as_str()] > 1));
        f[i][9] = w;
        f[i][10] = e;
        f[i][11] = share(i, n.max(1));
        f[i][14] = st;
    }
    PageFacts {
        features: f,
        rules,
        keys,
        sizes,
        ends,
        trails_off,
        stems,
        stem_at,
    }
}

impl PageFacts {
    fn stems_of(&self, i: usize) -> &[u64] {
        &self.stems[self.stem_at[i]..self.stem_at[i + 1]]
    }

    /// Sets each line's `story_words`: the share of its content stems that
    /// also occur in another paragraph of the first reading's story (lines
    /// of `run` with story probability `p` of ½ or more and eight words or
    /// more): a teaser for another story shares few of them.
    /// Returns the number of such paragraphs.
    fn set_story_words(&mut self, lines: &[String], p: &[f64], run: (usize, usize)) -> usize {
        let core = |i: usize| p[i] >= 0.5 && self.sizes[i] >= CORE_WORDS;
        let run_stems = self.stem_at[run.1] - self.stem_at[run.0];
        let mut counts = std::collections::HashMap::with_capacity_and_hasher(run_stems, LineHash);
        let mut paragraphs = 0;
        for i in (run.0..run.1).filter(|&i| core(i)) {
            paragraphs += 1;
            for &h in self.stems_of(i) {
                *counts.entry(h).or_insert(0u32) += 1;
            }
        }
        for i in 0..lines.len() {
            let own = u32::from(i >= run.0 && i < run.1 && core(i));
            let stems = self.stems_of(i);
            let shared = stems
                .iter()
                .filter(|h| counts.get(*h).is_some_and(|&c| c > own))
                .count();
            self.features[i][16] = share(shared, stems.len());
        }
        paragraphs
    }
}

/// Paragraphs the first reading's story needs for the second reading.
const MIN_CORE: usize = 3;

/// Words of a paragraph of the first reading's story that the
/// `story_words` feature compares lines with.
const CORE_WORDS: usize = 8;

/// Story probability of a line with features `f`.
pub fn probability(f: &[f64; FEATURES]) -> f64 {
    logistic(f, &WEIGHTS)
}

/// Story probability of a line in the first reading (without
/// `story_words`).
pub fn first_probability(f: &[f64; FEATURES]) -> f64 {
    logistic(&f[..FIRST_FEATURES], &FIRST_WEIGHTS)
}

fn logistic(f: &[f64], w: &[f64]) -> f64 {
    let z: f64 = f.iter().zip(w).map(|(x, w)| x * w).sum();
    1.0 / (1.0 + (-z).exp())
}

/// The run `[start, end)` with the largest total of `values` (Kadane).
fn best_run(values: &[f64]) -> (usize, usize) {
    let (mut best, mut best_run) = (f64::NEG_INFINITY, (0, 0));
    let (mut sum, mut start) = (0.0, 0);
    for (i, v) in values.iter().enumerate() {
        if sum <= 0.0 {
            sum = 0.0;
            start = i;
        }
        sum += v;
        if sum > best {
            best = sum;
            best_run = (start, i + 1);
        }
    }
    best_run
}

/// Lines before the story's first paragraph searched for its headline.
const TITLE_REACH: usize = 80;

/// Paragraphs of the story whose words a headline is compared with.
const STORY_WORDS_FROM: usize = 30;

/// Number of features of a headline candidate.
pub const TITLE_FEATURES: usize = 13;

/// Names of the headline candidates' features, in order.
pub const TITLE_FEATURE_NAMES: [&str; TITLE_FEATURES] = [
    "story_similarity",
    "five_words_or_more",
    "twenty_words_or_fewer",
    "repeated",
    "headlines_around",
    "distance",
    "capitalized_share",
    "story_probability",
    "stopword_share",
    "byline_or_date_after",
    "byline_or_date_before",
    "dek_after",
    "paragraph_after",
];

/// Weights over [`TITLE_FEATURE_NAMES`] of a choice among a page's
/// candidates (the highest score is the headline), fitted by
/// `tools/fit-paste-reader.py` on the pasted dev pages.
pub const TITLE_WEIGHTS: [f64; TITLE_FEATURES] = [
    3.573, 0.939, 0.250, 0.563, -0.296, -0.760, 1.045, 0.565, 0.843, 1.669, -0.163, 0.457, 0.669,
];

/// A headline candidate: its line, its text (without a byline run on after
/// it) and its features.
#[derive(Debug, Clone)]
pub struct TitleCandidate {
    /// The line's index.
    pub line: usize,
    /// The headline text.
    pub text: String,
    /// Its features, over [`TITLE_FEATURE_NAMES`].
    pub features: [f64; TITLE_FEATURES],
}

/// The headline-like lines before the story's first paragraph (the first of
/// a cluster of paragraphs: a teaser or a dek alone does not start it),
/// with their features. `p` is each line's story probability, and the story
/// runs over `start..end`.
pub fn title_candidates(
    lines: &[String],
    p: &[f64],
    start: usize,
    end: usize,
) -> Vec<TitleCandidate> {
    candidates_keyed(lines, p, &page_facts(lines), start, end)
}

/// [`title_candidates`] with what the reader knows of each line.
fn candidates_keyed(
    lines: &[String],
    p: &[f64],
    facts: &PageFacts,
    start: usize,
    end: usize,
) -> Vec<TitleCandidate> {
    let keys = &facts.keys;
    let prose = |i: usize| facts.sizes[i] >= 15 && facts.ends[i];
    let first = (start..end)
        .find(|&i| prose(i) && (i + 1..(i + 5).min(end)).filter(|&j| prose(j)).count() >= 2)
        .or_else(|| (start..end).find(|&i| prose(i)))
        .unwrap_or(start);
    let mut story: std::collections::HashSet<u64, LineHash> =
        std::collections::HashSet::with_hasher(LineHash);
    for i in first..end.min(first + STORY_WORDS_FROM) {
        story.extend(facts.stems_of(i));
    }
    let lo = first.saturating_sub(TITLE_REACH);
    let mut counts = std::collections::HashMap::with_capacity_and_hasher(end - lo, LineHash);
    for &k in &keys[lo..end] {
        *counts.entry(k).or_insert(0usize) += 1;
    }
    // A line of running prose is a story's line, never a headline with its
    // byline: "A delegation led by the minister will ..." keeps its "by".
    let texts: Vec<Option<std::borrow::Cow<'_, str>>> = (lo..first.max(1).min(lines.len()))
        .map(|i| {
            let l = headline_part(&lines[i]);
            (headline_like(&l) && !(prose(i) && matches!(l, std::borrow::Cow::Owned(_))))
                .then_some(l)
        })
        .collect();
    // Each candidate's content stems: its line's, unless a byline was cut
    // off it.
    let stems: Vec<std::borrow::Cow<'_, [u64]>> = texts
        .iter()
        .enumerate()
        .map(|(k, c)| match c {
            Some(std::borrow::Cow::Owned(l)) => {
                let mut v = Vec::new();
                content_stems(l, &mut v);
                v.sort_unstable();
                v.dedup();
                std::borrow::Cow::Owned(v)
            }
            Some(_) => std::borrow::Cow::Borrowed(facts.stems_of(lo + k)),
            None => std::borrow::Cow::Borrowed(&[][..]),
        })
        .collect();
    // Shared words count for more in a longer line: a two-word label
    // shares all its words with many stories.
    let sims: Vec<f64> = stems
        .iter()
        .map(|st| {
            let shared = st.iter().filter(|h| story.contains(*h)).count();
            share(shared, st.len()) * (st.len() as f64 / 5.0).min(1.0)
        })
        .collect();
    // Which lines near the candidates are bylines or dates, each line
    // checked once.
    let meta_lo = lo.saturating_sub(META_REACH);
    let meta_lines: Vec<bool> = lines
        [meta_lo.min(lines.len())..(lo + texts.len() + META_REACH).min(lines.len())]
        .iter()
        .map(|l| byline_or_date(l))
        .collect();
    let meta = |r: std::ops::Range<usize>| {
        let from = (r.start - meta_lo).min(meta_lines.len());
        meta_lines[from..(r.end - meta_lo).min(meta_lines.len())]
            .iter()
            .any(|&m| m)
    };
    let mut out = Vec::new();
    for (k, c) in texts.iter().enumerate() {
        let Some(l) = c else { continue };
        let i = lo + k;
        let sim = sims[k];
        // Headlines in a list of other headlines are links to other stories.
        let listed = (k.saturating_sub(2)..(k + 3).min(texts.len()))
            .filter(|&j| j != k && texts[j].as_ref().is_some_and(|o| o != l))
            .count();
        let (n, own, key) = match l {
            std::borrow::Cow::Owned(l) => (words(l), own_features(l, false), repeat_key(l)),
            std::borrow::Cow::Borrowed(_) => (facts.sizes[i], facts.features[i], facts.keys[i]),
        };
        let features = [
            sim,
            f64::from(u8::from(n >= 5)),
            f64::from(u8::from(n <= 20)),
            f64::from(u8::from(counts.get(&key).is_some_and(|&c| c > 1))),
            listed as f64,
            (first - i) as f64 / TITLE_REACH as f64,
            own[4],
            p[i],
            own[3],
            f64::from(u8::from(meta(i + 1..i + 1 + META_REACH))),
            f64::from(u8::from(meta(i.saturating_sub(META_REACH)..i))),
            // A dek: a line just after, itself like a headline, that
            // shares the story's words.
            f64::from(u8::from(
                (k + 1..(k + 3).min(texts.len())).any(|j| sims[j] >= DEK_SIMILARITY),
            )),
            f64::from(u8::from(
                lines
                    .get(i + 1)
                    .is_some_and(|n| (8..=45).contains(&words(n))),
            )),
        ];
        out.push(TitleCandidate {
            line: i,
            text: l.to_string(),
            features,
        });
    }
    out
}

/// The headline: the candidate with the highest fitted score.
fn find_title(
    lines: &[String],
    p: &[f64],
    facts: &PageFacts,
    start: usize,
    end: usize,
) -> Option<(usize, String)> {
    let score = |f: &[f64; TITLE_FEATURES]| -> f64 {
        f.iter().zip(TITLE_WEIGHTS.iter()).map(|(x, w)| x * w).sum()
    };
    candidates_keyed(lines, p, facts, start, end)
        .into_iter()
        .map(|c| (score(&c.features), c))
        .fold(
            None,
            |best: Option<(f64, TitleCandidate)>, (s, c)| match best {
                Some((b, _)) if b >= s => best,
                _ => Some((s, c)),
            },
        )
        .map(|(_, c)| (c.line, c.text))
}

/// True when `l` could be a headline: a few words, not a sentence or a
/// label, no links, dates or lists.
fn headline_like(l: &str) -> bool {
    let n = words(l);
    let digits = l.chars().filter(char::is_ascii_digit).count();
    (3..=30).contains(&n)
        && (!l.ends_with(['.', '۔', ':', ',', ';']) || ends_with_abbreviation(l))
        && !link_like(l)
        && !breadcrumb(l)
        && !furniture::dateline(l)
        && furniture::rule(l, true).is_none()
        && digits * 4 < l.chars().count()
        && l.matches(',').count() < 3
}

/// Whether `l` is a trail of section names (`Home › World`, `News » Asia`,
/// `کور > نړۍ`, `首页 >> 新闻`), never a headline.
fn breadcrumb(l: &str) -> bool {
    l.contains(['›', '»', '→']) || l.contains(" > ") || l.contains(" >> ")
}

/// Lines on each side of a headline searched for its byline or date.
const META_REACH: usize = 3;

/// Story similarity of a line after a headline that makes it the dek.
const DEK_SIMILARITY: f64 = 0.3;

/// Whether `w` (its letters and digits) is an English month's name or its
/// abbreviation.
fn month_name(w: &str) -> bool {
    furniture::english_month(w.trim_matches(|c: char| !c.is_ascii_alphanumeric()))
}

/// A short line that is a byline (`By Sara Khan`) or carries a date or a
/// time (`Feb. 21, 2019`, `2/26/2015 7:11 AM`, `Sunday, Feb 1, 2015`).
fn byline_or_date(l: &str) -> bool {
    // Counted first by the vectorized count: most lines are longer.
    if furniture::words(l) > 12 {
        return false;
    }
    let ws: Vec<&str> = furniture::split_words(l).collect();
    if ws.first().is_some_and(|w| w.eq_ignore_ascii_case("by")) {
        return true;
    }
    ws.iter().enumerate().any(|(k, w)| {
        let t = w.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        // A year that opens a label (`2014 elections`) is not a date.
        let label = k == 0
            && ws
                .get(1)
                .is_some_and(|n| n.starts_with(crate::lang::is_alphabetic) && !month_name(n));
        if t.starts_with(|c: char| c.is_ascii_digit()) {
            let year =
                t.len() == 4 && digits(t) && (t.starts_with("19") || t.starts_with("20")) && !label;
            let (mut parts, mut all_numbers) = (0, true);
            for p in t.split(['/', '.', ':']) {
                parts += 1;
                all_numbers &= digits(p) && p.len() <= 4;
            }
            let numeric = all_numbers && (parts == 3 || (parts == 2 && t.contains(':')));
            return year || numeric;
        }
        furniture::english_month(t)
            && ws
                .get(k + 1)
                .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit()))
    })
}

/// Whether `l` ends with an abbreviation written with inner points
/// (`N.Y.C.`, `U.S.`), not with a sentence's full stop.
fn ends_with_abbreviation(l: &str) -> bool {
    let last = l.rsplit(' ').next().unwrap_or(l);
    let inner = last.trim_end_matches('.');
    last.ends_with('.') && inner.contains('.') && inner.split('.').all(|p| p.chars().count() <= 2)
}

/// A hash of a line's content words, lower-cased, for telling repeated
/// lines apart (the words of [`content_stems`], whole).
fn repeat_key(l: &str) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = LineHash.build_hasher();
    for w in furniture::split_words(l) {
        stopword_or_key(w, &mut h, None);
    }
    h.finish()
}

/// A headline line without a byline run on after it: `Floods in Swat by
/// Sara Khan @sara February 1, 2016` → `Floods in Swat`.
fn headline_part(l: &str) -> std::borrow::Cow<'_, str> {
    let ws: Vec<&str> = furniture::split_words(l).collect();
    for i in 3..ws.len().saturating_sub(1) {
        let by = ws[i].trim_end_matches(':');
        if by.eq_ignore_ascii_case("by") && ws[i + 1].chars().next().is_some_and(char::is_uppercase)
        {
            return std::borrow::Cow::Owned(ws[..i].join(" "));
        }
    }
    std::borrow::Cow::Borrowed(l)
}

/// Each line's story probability, and the story: the run `start..end` of
/// lines with the largest total of (probability − ½) × words.
pub fn story_run(lines: &[String]) -> (Vec<f64>, usize, usize) {
    let (p, _, start, end) = story_and_facts(lines);
    (p, start, end)
}

/// [`story_run`], with what it computed for each line.
fn story_and_facts(lines: &[String]) -> (Vec<f64>, PageFacts, usize, usize) {
    let mut facts = page_facts(lines);
    // The first reading finds a story; the second also asks of each line
    // how many of its words that story shares.
    let p: Vec<f64> = facts.features.iter().map(first_probability).collect();
    let (start, end) = run_of(&p, &facts);
    if facts.set_story_words(lines, &p, (start, end)) < MIN_CORE {
        // Too short a story to compare lines with: the first reading
        // stands.
        return (p, facts, start, end);
    }
    let p: Vec<f64> = facts.features.iter().map(probability).collect();
    let (start, end) = run_of(&p, &facts);
    (p, facts, start, end)
}

/// The story given each line's probability: the run with the largest total
/// of (probability − ½) × words, widened over captions by [`extend`].
fn run_of(p: &[f64], facts: &PageFacts) -> (usize, usize) {
    let values: Vec<f64> = facts
        .sizes
        .iter()
        .zip(p)
        .map(|(&n, p)| (p - 0.5) * n as f64)
        .collect();
    let (mut start, mut end) = best_run(&values);
    (start, end) = densest_part(p, facts, &values, start, end);
    let prose = |i: usize| facts.sizes[i] >= 8 && facts.ends[i];
    if values[start..end].iter().sum::<f64>() <= 0.0 || !(start..end).any(prose) {
        // No line reads like a story's (a short page whose neighbours all
        // look like furniture), or the lines that do hold no sentence (a
        // credit, a heading: a front page of teasers). The page's running
        // text is the story.
        let prose: Vec<usize> = (0..p.len()).filter(|&i| prose(i)).collect();
        if let (Some(&a), Some(&b)) = (prose.first(), prose.last()) {
            (start, end) = (a, b + 1);
        }
    }
    extend(p, facts, start, end)
}

/// Lines in a row, none of them a paragraph of running text, that part a
/// run into pieces read apart (see [`densest_part`]).
const SEAM: usize = 4;

/// Pieces in a row that may add up to the share a stretch needs to join.
const REACH_PIECES: usize = 3;

/// Share of the best piece's total that another piece needs to join it.
const KEEP_PIECE: f64 = 0.1;

/// The story within the run `start..end`: a stream of teasers for other
/// stories (a paragraph each, between their headlines, sources and
/// counters) can add up to more than the story beside it. The run is cut
/// at every [`SEAM`] lines in a row without a paragraph; the piece with the
/// largest total is the story. It takes in the pieces on either side in
/// stretches: the next up to [`REACH_PIECES`] pieces outward join when
/// their totals add up to [`KEEP_PIECE`] of its total (a story that a box
/// of links or a list interrupts stays whole). A seam that opens a comment
/// section is not crossed.
fn densest_part(
    p: &[f64],
    facts: &PageFacts,
    values: &[f64],
    start: usize,
    end: usize,
) -> (usize, usize) {
    let paragraph = |i: usize| p[i] >= 0.5 && facts.sizes[i] >= CORE_WORDS && facts.ends[i];
    // The pieces, as (start, end, total), without the seams between them.
    let mut pieces: Vec<(usize, usize, f64)> = Vec::new();
    let (mut from, mut gap) = (start, 0);
    for i in start..=end {
        if i == end || paragraph(i) {
            let to = if gap >= SEAM { i - gap } else { i };
            if i == end || gap >= SEAM {
                if to > from {
                    pieces.push((from, to, values[from..to].iter().sum()));
                }
                from = i;
            }
            gap = 0;
        } else {
            gap += 1;
        }
    }
    if pieces.len() <= 1 {
        return (start, end);
    }
    let best = (0..pieces.len())
        .max_by(|&a, &b| pieces[a].2.total_cmp(&pieces[b].2).then(b.cmp(&a)))
        .unwrap_or(0);
    let bar = pieces[best].2 * KEEP_PIECE;
    // Whether the seam between pieces `j - 1` and `j` may be crossed.
    let open = |j: usize| {
        !(pieces[j - 1].1..pieces[j].0).any(|i| facts.rules[i] == Some(furniture::COMMENTS))
    };
    // Pieces join in stretches: the next few pieces outward join together
    // when their totals add up to the bar.
    let (mut lo, mut hi) = (best, best);
    let (mut acc, mut j) = (0.0, hi + 1);
    while j < pieces.len() && j <= hi + REACH_PIECES && open(j) {
        acc += pieces[j].2;
        if acc >= bar {
            (hi, acc) = (j, 0.0);
        }
        j += 1;
    }
    let (mut acc, mut j) = (0.0, lo);
    while j >= 1 && j + REACH_PIECES >= lo && open(j) {
        acc += pieces[j - 1].2;
        if acc >= bar {
            (lo, acc) = (j - 1, 0.0);
        }
        j -= 1;
    }
    // The seams at the run's own ends stay with it.
    let from = if lo == 0 { start } else { pieces[lo].0 };
    let to = if hi + 1 == pieces.len() {
        end
    } else {
        pieces[hi].1
    };
    (from, to)
}

/// Short lines (a caption, a credit) the story may step over to take in
/// one more paragraph.
const STEP_OVER: usize = 2;

/// Story probability a paragraph beside the run needs to be taken in.
const EXTEND_P: f64 = 0.3;

/// Widens the run `start..end` over up to [`STEP_OVER`] short lines on
/// either side when a likely paragraph of running text lies beyond them:
/// on a short page one caption outweighs a paragraph's margin.
fn extend(p: &[f64], facts: &PageFacts, mut start: usize, mut end: usize) -> (usize, usize) {
    let n = p.len();
    // A line that trails off (`When I Was 17 ...`) is a teaser, not a
    // paragraph.
    let paragraph =
        |i: usize| p[i] >= EXTEND_P && facts.sizes[i] >= 8 && facts.ends[i] && !facts.trails_off[i];
    // A caption of any length may be stepped over.
    let short =
        |i: usize| (facts.sizes[i] <= 12 || facts.rules[i] == Some(CAPTION)) && !paragraph(i);
    'forward: loop {
        for k in 0..=STEP_OVER {
            let i = end + k;
            if i >= n || (k > 0 && !short(i - 1)) {
                break 'forward;
            }
            if paragraph(i) {
                end = i + 1;
                continue 'forward;
            }
        }
        break;
    }
    'backward: loop {
        for k in 1..=STEP_OVER + 1 {
            let Some(i) = start.checked_sub(k) else {
                break 'backward;
            };
            if k > 1 && !short(i + 1) {
                break 'backward;
            }
            if paragraph(i) {
                start = i;
                continue 'backward;
            }
        }
        break;
    }
    (start, end)
}

/// Reads a pasted page given as paragraphs (one per line or block).
pub(super) fn read(lines: Vec<String>) -> Reading {
    if lines.is_empty() {
        return Reading::default();
    }
    let (p, facts, start, end) = story_and_facts(&lines);
    let title = find_title(&lines, &p, &facts, start, end);
    let title_at = title.as_ref().map(|t| t.0);
    let mut reading = Reading::default();
    // The story's lines, and where each is on the page.
    let (mut kept, mut at) = (Vec::new(), Vec::new());
    for (i, l) in lines.into_iter().enumerate() {
        if Some(i) == title_at {
            let headline = title.as_ref().map(|t| t.1.clone()).unwrap_or_default();
            if headline != l {
                reading
                    .removed
                    .push(Removed::new(l, "byline after the headline"));
            }
            reading.title = Some(headline);
        } else if i < start || i >= end {
            let place = if i < start {
                "before the story"
            } else {
                "after the story"
            };
            // The first line's rule was taken as a story's first line.
            let rule = if i == 0 {
                furniture::rule(&l, false)
            } else {
                facts.rules[i]
            };
            let why = rule.unwrap_or(place);
            reading.removed.push(Removed::new(l, why).with_score(p[i]));
        } else if reading.title.as_ref() == Some(&l) {
            reading.removed.push(Removed::new(l, "headline repeated"));
        } else {
            kept.push(l);
            at.push(i);
        }
    }
    // The story's first line is read as a story's first (and may lose a
    // preamble); the others meet the rules found for them on the page.
    let (removed, mask) = furniture::strip_with(&mut kept, |k, line, n| {
        if k == 0 || at[k] == 0 {
            furniture::rule_sized(line, n, k == 0)
        } else {
            facts.rules[at[k]]
        }
    });
    reading.removed.extend(removed);
    // Each kept line weighs its size on the page (before a preamble was
    // cut from the first).
    let (mut sure, mut all) = (0.0, 0.0);
    for (&i, _) in at.iter().zip(&mask).filter(|(_, &m)| m) {
        let w = facts.sizes[i] as f64;
        sure += p[i] * w;
        all += w;
    }
    reading.confidence = if all > 0.0 { sure / all } else { 0.0 };
    reading.kept = kept;
    reading
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<String> {
        s.lines().map(str::to_string).collect()
    }

    #[test]
    fn function_words_are_found_by_their_hashes() {
        let all = [STOPWORDS_EN, STOPWORDS_UR_PS, STOPWORDS_OTHER].concat();
        let distinct: std::collections::HashSet<&str> = all.iter().copied().collect();
        // No two function words share a hash, so none is lost from the map.
        assert_eq!(stopwords().len(), distinct.len());
        for w in distinct {
            assert!(is_stopword(w, word_hashes(w).0), "{w}");
        }
        for w in ["minister", "talks", "doha", "thé", "ال"] {
            assert!(!is_stopword(w, word_hashes(w).0), "{w}");
        }
        // The stem is the first five characters, counted in characters.
        assert_eq!(word_hashes("talks").1, word_hashes("talks").0);
        assert_eq!(word_hashes("talking").1, word_hashes("talkie").1);
        assert_ne!(word_hashes("talking").1, word_hashes("talks").1);
        assert_eq!(word_hashes("حکومتوں").1, word_hashes("حکومت").0);
        assert_ne!(word_hashes("حکومتوں").0, word_hashes("حکومت").0);
    }

    #[test]
    fn best_run_is_the_largest_total() {
        assert_eq!(best_run(&[-1.0, 2.0, -0.5, 3.0, -4.0, 1.0]), (1, 4));
        assert_eq!(best_run(&[-1.0, -2.0]), (0, 1));
    }

    /// `densest_part` over `page` (one line per entry), with paragraphs
    /// (eight words or more, ending a sentence) at probability 0.9 and
    /// every other line at 0.2.
    fn densest(page: &[String]) -> (usize, usize) {
        let facts = page_facts(page);
        let p: Vec<f64> = (0..page.len())
            .map(|i| {
                if facts.sizes[i] >= 8 && facts.ends[i] {
                    0.9
                } else {
                    0.2
                }
            })
            .collect();
        let values: Vec<f64> = p
            .iter()
            .zip(&facts.sizes)
            .map(|(p, &n)| (p - 0.5) * n as f64)
            .collect();
        densest_part(&p, &facts, &values, 0, page.len())
    }

    fn paragraph(words: usize, topic: &str) -> String {
        let mut s = vec![topic; words].join(" ");
        s.push('.');
        s
    }

    #[test]
    fn a_story_without_a_sentence_gives_way_to_the_pages_running_text() {
        // A front page: every teaser's summary reads as doubtful (0.25) and
        // one photo credit as likely (0.9). A story of one credit line is
        // no story; the running text from the first teaser to the last is.
        let page: Vec<String> = [
            "Sections",
            "Home",
            "Floods close the highway",
            &paragraph(12, "flood"),
            "CreditAsad Khan for The Daily Times",
            "Wheat prices rise",
            &paragraph(14, "wheat"),
            "By Reporter",
            "Privacy policy",
        ]
        .map(str::to_string)
        .to_vec();
        let facts = page_facts(&page);
        let p = [0.1, 0.1, 0.2, 0.25, 0.9, 0.2, 0.25, 0.1, 0.1];
        assert_eq!(run_of(&p, &facts), (3, 7));
        // With a sentence in it, the likely run stands.
        let p = [0.1, 0.1, 0.2, 0.9, 0.9, 0.2, 0.3, 0.1, 0.1];
        assert_eq!(run_of(&p, &facts).0, 3);
        assert!(run_of(&p, &facts).1 <= 7);
    }

    #[test]
    fn a_stream_of_teasers_is_cut_from_the_story_beside_it() {
        let mut page = Vec::new();
        for k in 0..4 {
            page.extend([
                format!("Teaser headline for story {k} here"),
                "Associated Press".into(),
                format!("{k}1 Comments"),
                "Science".into(),
                paragraph(12, "teaser"),
            ]);
        }
        page.extend(
            [
                "Entering a modal",
                "The story's own headline",
                "By Sara Khan",
                "1 / 5",
            ]
            .map(String::from),
        );
        let story = page.len();
        page.extend((0..8).map(|_| paragraph(60, "story")));
        assert_eq!(densest(&page), (story, page.len()));
    }

    #[test]
    fn a_list_or_a_comment_seam_inside_a_run() {
        // A list of short items between paragraphs is part of the story.
        let mut page: Vec<String> = (0..4).map(|_| paragraph(40, "story")).collect();
        page.extend((1..=6).map(|k| format!("{k}. Item")));
        page.extend((0..2).map(|_| paragraph(40, "story")));
        assert_eq!(densest(&page), (0, page.len()));
        // The opening of a comment section is never crossed.
        let mut page: Vec<String> = (0..3).map(|_| paragraph(30, "comment")).collect();
        page.extend(
            ["48 reactions", "Join the conversation", "Log in", "Sign up"].map(String::from),
        );
        page.extend((0..6).map(|_| paragraph(60, "story")));
        assert_eq!(densest(&page), (7, page.len()));
    }

    #[test]
    fn bylines_and_dates_are_told_from_headlines() {
        for meta in [
            "By Corey Kilgannon",
            "Feb. 21, 2019",
            "2/26/2015 7:11 AM PST BY TMZ STAFF",
            "Sunday, Feb 1, 2015 11:57 AM UTC",
            "11.03.17 in Gadgetry",
            "Associated PressDecember 2, 2016",
            "2016 December 2",
        ] {
            assert!(byline_or_date(meta), "{meta}");
        }
        for not in [
            "Minecraft 1.8 - The Bountiful Update",
            "Floods in Swat leave thousands without shelter",
            "Maybe the talks will go on",
            "2014 elections",
            "2016 Elections",
        ] {
            assert!(!byline_or_date(not), "{not}");
        }
    }

    #[test]
    fn a_headline_may_end_with_an_abbreviation() {
        let h =
            "Manhole Fires and Burst Pipes: How Winter Wreaks Havoc on What’s Underneath N.Y.C.";
        assert!(headline_like(h));
        assert!(!headline_like("The talks ended on Friday without a deal."));
        let page = lines(&format!(
            "Subscribe\nLog In\n{h}\nBy Corey Kilgannon\nFeb. 21, 2019\n\
             A series of recent manhole fires in the heart of Manhattan forced the evacuation of several theaters on Sunday.\n\
             Underground lies a chaotic assemblage of utilities that, much like the subway, are lifelines for the city.\n\
             The city has one of the oldest networks of subterranean infrastructure in the world, with parts over a century old."
        ));
        assert_eq!(read(page).title.as_deref(), Some(h));
    }

    #[test]
    fn story_words_tell_a_teaser_for_another_story_from_the_story() {
        let page = lines(
            "Floods kill 30 in Swat valley\n\
             Flash floods killed 30 people in the Swat valley on Sunday as monsoon rain swept away houses and bridges.\n\
             Rescue teams in Swat reached flooded villages by boat on Monday, and officials said the floods had cut roads to 14 villages.\n\
             The provincial authority said monsoon rain would continue, and villages along the Swat river were told to move to higher ground.\n\
             Officials said the floods damaged 2,600 houses and that rescue teams would stay in the valley until the water falls.\n\
             Cricket board names new captain\n\
             The national cricket board named a new captain for the test series in England, ending months of talk about the team's future.",
        );
        let f = features(&page);
        assert!(f[4][16] >= 0.5, "{}", f[4][16]);
        assert!(f[6][16] < 0.2, "{}", f[6][16]);
    }

    #[test]
    fn features_use_neighbours_and_repetition() {
        let l = lines("Home\nHome\nThe minister said on Monday that the talks would go on for two more days in the capital.");
        let f = features(&l);
        assert_eq!(f[0][8], 1.0);
        assert_eq!(f[2][8], 0.0);
        assert_eq!(f[2][2], 1.0);
        assert!(f[0][9] > f[2][9], "{:?}", (f[0][9], f[2][9]));
    }
}
