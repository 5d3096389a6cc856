//! Token-by-token constraint for the digest JSON
//! `{"headline": string, "summary": string, "key_facts": [string, ...]}`.
//!
//! [`DigestMachine`] is a byte-level state machine. The decoder asks it
//! whether a token's bytes may come next, so a malformed digest cannot be
//! produced. Field bounds live in the machine itself: headline words, summary
//! sentences, words per fact and the number of facts. Numbers inside strings
//! must be numbers that occur in the source article, in digits ("12", "1,500",
//! "2.5m") or in words ("twelve", "dozens", "8 million").

use crate::ground;
use crate::segment::is_abbreviation;

/// Bounds on the digest's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestShape {
    /// Most words in the headline (default 15).
    pub headline_words: u16,
    /// Most sentences in the summary (default 4).
    pub summary_sentences: u16,
    /// Most words in the summary (default 100).
    pub summary_words: u16,
    /// Most words in one key fact (default 30).
    pub fact_words: u16,
    /// Fewest key facts (default 3).
    pub min_facts: u16,
    /// Most key facts (default 5).
    pub max_facts: u16,
}

impl Default for DigestShape {
    fn default() -> Self {
        Self {
            headline_words: 15,
            summary_sentences: 4,
            summary_words: 100,
            fact_words: 30,
            min_facts: 3,
            max_facts: 5,
        }
    }
}

/// Which string field the machine is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The headline.
    Headline,
    /// The summary.
    Summary,
    /// Key fact number `n` (0-based).
    Fact(u16),
}

/// Numbers allowed in generated text: the numbers of the source, with
/// thousands separators removed and digits mapped to Latin.
#[derive(Debug, Clone, Default)]
pub struct NumberSet {
    /// Numbers written in digits.
    sorted: Vec<String>,
    /// Every number the source supports, as the fact check reads it: digits,
    /// number words and products such as "2.5 million" (see
    /// [`ground::unsupported_numbers`]).
    supported: Vec<String>,
}

impl NumberSet {
    /// Collects every number in `source`.
    pub fn from_source(source: &str) -> Self {
        let mut sorted = crate::numbers::extract(source);
        sorted.sort();
        sorted.dedup();
        let mut supported: Vec<String> = ground::source_numbers(source).into_iter().collect();
        supported.sort();
        Self { sorted, supported }
    }

    /// True when the source supports the normalized number `n`.
    fn supports(&self, n: &str) -> bool {
        self.supported
            .binary_search_by(|s| s.as_str().cmp(n))
            .is_ok()
    }

    /// True when some source number starts with `prefix`.
    fn has_prefix(&self, prefix: &[u8]) -> bool {
        let i = self.sorted.partition_point(|s| s.as_bytes() < prefix);
        self.sorted
            .get(i)
            .is_some_and(|s| s.as_bytes().starts_with(prefix))
    }

    /// True when `n` is a source number.
    fn contains(&self, n: &[u8]) -> bool {
        self.sorted
            .binary_search_by(|s| s.as_bytes().cmp(n))
            .is_ok()
    }

    /// True when a source number starts with the digits `prefix` and the
    /// digits it has after them can be written in groups after a thousands
    /// separator: with `group` digits already in the current group (the one
    /// after the separator), groups of 2 or 3 (lakh grouping, `1,50,000`)
    /// and a last group of 3. With `group` 0 the separator is about to be
    /// written.
    fn groups_fit(&self, prefix: &[u8], group: u8) -> bool {
        let i = self.sorted.partition_point(|s| s.as_bytes() < prefix);
        self.sorted[i..]
            .iter()
            .take_while(|s| s.as_bytes().starts_with(prefix))
            .any(|s| {
                let rest = s.as_bytes()[prefix.len()..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                digits_group(usize::from(group) + rest, usize::from(group))
            })
    }

    /// The numbers, sorted.
    pub fn numbers(&self) -> &[String] {
        &self.sorted
    }
}

/// Whether `digits` digits after a thousands separator, the first `done`
/// of them already written in the current group, split into groups of 2 or
/// 3 with a last group of 3.
fn digits_group(digits: usize, done: usize) -> bool {
    let ends = |u: usize| u == 3 || u >= 5;
    (done <= 3 && digits == 3)
        || (done <= 2 && digits >= 2 && ends(digits - 2))
        || (done <= 3 && digits >= 3 && ends(digits - 3))
}

/// Grammar positions between strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// A fixed piece of JSON, e.g. `"summary"`; `ws` = whitespace allowed before it.
    Lit { lit: &'static [u8], ws: bool },
    /// A string value.
    Str(Field),
    /// After a fact: `,` then another fact, or `]`.
    AfterFact,
    /// The closing `}` has been written.
    Done,
}

/// Where the summary string is in [`PROGRAM`].
const SUMMARY_STEP: usize = 7;

const PROGRAM: &[Step] = &[
    Step::Lit {
        lit: b"{",
        ws: true,
    },
    Step::Lit {
        lit: b"\"headline\"",
        ws: true,
    },
    Step::Lit {
        lit: b":",
        ws: true,
    },
    Step::Str(Field::Headline),
    Step::Lit {
        lit: b",",
        ws: true,
    },
    Step::Lit {
        lit: b"\"summary\"",
        ws: true,
    },
    Step::Lit {
        lit: b":",
        ws: true,
    },
    Step::Str(Field::Summary),
    Step::Lit {
        lit: b",",
        ws: true,
    },
    Step::Lit {
        lit: b"\"key_facts\"",
        ws: true,
    },
    Step::Lit {
        lit: b":",
        ws: true,
    },
    Step::Lit {
        lit: b"[",
        ws: true,
    },
    Step::Str(Field::Fact(0)),
    Step::AfterFact,
    Step::Lit {
        lit: b"}",
        ws: true,
    },
    Step::Done,
];
const MAX_WS: u8 = 6;
const MAX_WORD_BYTES: u8 = 48;
const TERMINATORS: &[char] = &['.', '!', '?', '۔', '؟'];
const CLOSERS: &[char] = &['"', '\'', '”', '’', ')', ']'];

/// State inside a string value.
#[derive(Debug, Clone, Copy, Default)]
struct StrState {
    opened: bool,
    escape: bool,
    words: u16,
    sentences: u16,
    prev_space: bool,
    after_terminator: bool,
    space_after_terminator: bool,
    word_bytes: u8,
    word: [u8; 8],
    utf8_need: u8,
    utf8: [u8; 4],
    utf8_len: u8,
    num: [u8; 24],
    num_len: u8,
    num_sep: u8,
    /// Digits written since the number's last thousands separator (`None`
    /// before its first): every group after one has 2 (lakh grouping,
    /// `1,50,000`) or 3 digits, and the last has 3, so `8,9` is no number.
    num_group: Option<u8>,
    run: Run,
    /// The value of the last finished run, when it was a number: the base of
    /// a scale word that follows ("8 million").
    prev_value: Option<f64>,
}

/// The current run of letters and digits, as [`ground::words`] splits them:
/// enough to tell a number word ("three") or a number with a scale suffix
/// ("8m", "1.75bn") when the run ends.
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    chars: u8,
    /// Starts with digits.
    digits: bool,
    /// Lower-case ASCII letters after the digits, if any.
    letters: [u8; 10],
    letters_len: u8,
    /// Anything else: too long, non-ASCII letters, digits after letters.
    other: bool,
    /// The digits' value, taken when the first letter follows them.
    value: Option<f64>,
}

/// The digest grammar as a byte-level state machine. Cheap to copy.
#[derive(Debug, Clone, Copy)]
pub struct DigestMachine<'n> {
    shape: DigestShape,
    numbers: Option<&'n NumberSet>,
    step: usize,
    lit_pos: usize,
    ws_run: u8,
    facts: u16,
    s: StrState,
    limits_hit: u32,
}

impl<'n> DigestMachine<'n> {
    /// A machine at the start of the digest. With `numbers`, digits inside
    /// strings must spell numbers of that set.
    pub fn new(shape: DigestShape, numbers: Option<&'n NumberSet>) -> Self {
        Self {
            shape,
            numbers,
            step: 0,
            lit_pos: 0,
            ws_run: 0,
            facts: 0,
            s: StrState::default(),
            limits_hit: 0,
        }
    }

    /// True at a point a forced close can start from: not inside a
    /// multi-byte character, an escape or a number, and not after a number
    /// word the source lacks.
    pub fn at_safe_point(&self) -> bool {
        self.s.utf8_need == 0 && !self.s.escape && self.s.num_len == 0 && self.run_may_end()
    }

    /// True once the closing brace has been accepted.
    /// With `max_facts` 0 the digest ends after its summary (the text then
    /// lacks `"key_facts"` and the closing brace).
    pub fn is_done(&self) -> bool {
        PROGRAM[self.step] == Step::Done || (self.shape.max_facts == 0 && self.step > SUMMARY_STEP)
    }

    /// The string field being written, if any.
    pub fn field(&self) -> Option<Field> {
        match PROGRAM[self.step] {
            Step::Str(Field::Fact(_)) => Some(Field::Fact(self.facts)),
            Step::Str(f) if self.s.opened => Some(f),
            _ => None,
        }
    }

    /// Words left before the bound of the key fact being written (`None`
    /// outside a fact, or after a full stop where the fact may close).
    pub fn fact_words_left(&self) -> Option<u16> {
        match self.field() {
            Some(f @ Field::Fact(_)) if !self.s.after_terminator => {
                Some(self.word_limit(f).saturating_sub(self.s.words))
            }
            _ => None,
        }
    }

    /// Fields (headline 1, summary 2, fact n → 4 << n) that were closed at a
    /// bound: the word limit, or the summary's sentence limit mid-sentence.
    pub fn limits_hit(&self) -> u32 {
        self.limits_hit
    }

    /// Feeds `bytes`; returns false (leaving `self` unspecified) if any byte
    /// is not allowed.
    pub fn feed(&mut self, bytes: &[u8]) -> bool {
        bytes.iter().all(|&b| self.byte(b))
    }

    /// True when `bytes` (a token) may come next. A token that ends on a
    /// number word the source lacks (" three" when the source has no 3) is
    /// refused before the word's end is seen: the word could only go on into
    /// an unlikely longer one.
    pub fn allows(&self, bytes: &[u8]) -> bool {
        let mut m = *self;
        !bytes.is_empty() && m.feed(bytes) && m.run_may_end()
    }

    /// Bytes that close the current string (if any) and the rest of the JSON
    /// with the least text: used when the token budget runs out.
    pub fn closing(&self) -> Vec<u8> {
        let mut m = *self;
        let mut out = Vec::new();
        for _ in 0..64 {
            if m.is_done() {
                break;
            }
            let next: &[u8] = match PROGRAM[m.step] {
                Step::Lit { lit, .. } => &lit[m.lit_pos..m.lit_pos + 1],
                Step::Str(_) if !m.s.opened => b"\"",
                Step::Str(_) if m.s.words == 0 => b"-",
                // Close the string if it may close here; else end the
                // sentence, or the over-long word first.
                Step::Str(_) if m.s.escape => b"\\",
                Step::Str(_) => [&b"\""[..], b".", b" "]
                    .into_iter()
                    .find(|c| m.allows(c))
                    .unwrap_or(b"\""),
                Step::AfterFact if m.facts < m.shape.min_facts => b",",
                Step::AfterFact => b"]",
                Step::Done => b"",
            };
            if !m.feed(next) {
                break;
            }
            out.extend_from_slice(next);
        }
        out
    }

    fn byte(&mut self, b: u8) -> bool {
        if self.is_done() {
            return false;
        }
        match PROGRAM[self.step] {
            Step::Done => false,
            Step::Lit { lit, ws } => {
                if self.lit_pos == 0 && ws && (b == b' ' || b == b'\n') {
                    self.ws_run += 1;
                    return self.ws_run <= MAX_WS;
                }
                if lit[self.lit_pos] != b {
                    return false;
                }
                self.lit_pos += 1;
                if self.lit_pos == lit.len() {
                    self.advance();
                }
                true
            }
            Step::AfterFact => {
                if b == b' ' || b == b'\n' {
                    self.ws_run += 1;
                    return self.ws_run <= MAX_WS;
                }
                self.ws_run = 0;
                if b == b',' && self.facts < self.shape.max_facts {
                    self.step -= 1;
                    self.s = StrState::default();
                    true
                } else if b == b']' && self.facts >= self.shape.min_facts {
                    self.advance();
                    true
                } else {
                    false
                }
            }
            Step::Str(field) => self.string_byte(field, b),
        }
    }

    fn advance(&mut self) {
        self.step += 1;
        self.lit_pos = 0;
        self.ws_run = 0;
        self.s = StrState::default();
    }

    fn string_byte(&mut self, field: Field, b: u8) -> bool {
        if !self.s.opened {
            if b == b' ' || b == b'\n' {
                self.ws_run += 1;
                return self.ws_run <= MAX_WS;
            }
            self.s.opened = b == b'"';
            return self.s.opened;
        }
        if self.s.utf8_need > 0 {
            if !(0x80..=0xBF).contains(&b) {
                return false;
            }
            self.s.utf8[self.s.utf8_len as usize] = b;
            self.s.utf8_len += 1;
            self.s.utf8_need -= 1;
            if self.s.utf8_need > 0 {
                return true;
            }
            let len = self.s.utf8_len as usize;
            let Some(c) = std::str::from_utf8(&self.s.utf8[..len])
                .ok()
                .and_then(|s| s.chars().next())
            else {
                return false;
            };
            return self.char(field, c, len as u8);
        }
        if self.s.escape {
            self.s.escape = false;
            return matches!(b, b'"' | b'\\' | b'/') && self.char(field, b as char, 1);
        }
        match b {
            b'"' => self.close_string(field),
            b'\\' => {
                // Only if some escaped character can follow here.
                if !['"', '\\', '/'].iter().any(|&c| self.probe(field, c, 1)) {
                    return false;
                }
                self.s.escape = true;
                true
            }
            0..=0x1F | 0x7F => false,
            0x80..=0xC1 | 0xF5..=0xFF => false,
            0xC2..=0xF4 => {
                // The first byte of a character commits to a character: take it
                // only if a letter of that length could be accepted here (at a
                // word bound, for one, no new word can start), so that the
                // machine never waits for bytes it would then refuse.
                let len = 2 + u8::from(b >= 0xE0) + u8::from(b >= 0xF0);
                if !self.probe(field, 'é', len) {
                    return false;
                }
                self.s.utf8[0] = b;
                self.s.utf8_len = 1;
                self.s.utf8_need = if b < 0xE0 {
                    1
                } else if b < 0xF0 {
                    2
                } else {
                    3
                };
                true
            }
            _ => self.char(field, b as char, 1),
        }
    }

    fn close_string(&mut self, field: Field) -> bool {
        if self.s.words == 0 || !self.number_ends() || !self.end_run() {
            return false;
        }
        let complete =
            self.s.after_terminator || (self.s.prev_space && self.s.space_after_terminator);
        let at_limit = self.s.words >= self.word_limit(field);
        // Summary and facts are sentences: they close after a full stop,
        // unless a bound leaves nothing else (then the field is reported).
        if field != Field::Headline && !complete && !at_limit {
            return false;
        }
        if at_limit && !complete {
            self.limits_hit |= self.field_bit(field);
        }
        if let Field::Fact(_) = field {
            self.facts += 1;
        }
        self.advance();
        true
    }

    fn word_limit(&self, field: Field) -> u16 {
        match field {
            Field::Headline => self.shape.headline_words,
            Field::Summary => self.shape.summary_words,
            Field::Fact(_) => self.shape.fact_words,
        }
    }

    fn field_bit(&self, field: Field) -> u32 {
        match field {
            Field::Headline => 1,
            Field::Summary => 2,
            Field::Fact(_) => 4 << self.facts.min(24),
        }
    }

    /// Whether character `c` (of `nbytes` bytes) would be accepted now,
    /// without changing anything.
    fn probe(&self, field: Field, c: char, nbytes: u8) -> bool {
        let mut copy = *self;
        copy.char(field, c, nbytes)
    }

    /// Accepts one character of string content.
    fn char(&mut self, field: Field, c: char, nbytes: u8) -> bool {
        let digit = crate::numbers::latin_digit(c);
        if !self.run_char(c, digit) || !self.number_char(c, digit) {
            return false;
        }
        if c.is_whitespace() {
            if c != ' ' || self.s.prev_space || self.s.words == 0 {
                return false;
            }
            if self.s.after_terminator {
                let len = (self.s.word_bytes as usize).min(self.s.word.len());
                let word = std::str::from_utf8(&self.s.word[..len]).unwrap_or("");
                let word = word.trim_end_matches(CLOSERS).trim_end_matches(TERMINATORS);
                if self.s.word_bytes as usize > self.s.word.len() || !is_abbreviation(word) {
                    self.s.sentences += 1;
                }
            }
            self.s.prev_space = true;
            self.s.space_after_terminator = self.s.after_terminator;
            self.s.after_terminator = false;
            self.s.word_bytes = 0;
            return true;
        }
        if self.s.prev_space || self.s.words == 0 {
            let sentence_cap =
                field == Field::Summary && self.s.sentences >= self.shape.summary_sentences;
            if self.s.words >= self.word_limit(field) || sentence_cap {
                return false;
            }
            self.s.words += 1;
        }
        self.s.prev_space = false;
        let pos = self.s.word_bytes as usize;
        if c.is_ascii() && pos < self.s.word.len() {
            self.s.word[pos] = c as u8;
        }
        self.s.word_bytes = self.s.word_bytes.saturating_add(nbytes);
        if self.s.word_bytes > MAX_WORD_BYTES {
            return false;
        }
        self.s.after_terminator =
            TERMINATORS.contains(&c) || (self.s.after_terminator && CLOSERS.contains(&c));
        true
    }

    /// Tracks digit runs; returns false when a number leaves the source set.
    fn number_char(&mut self, c: char, digit: Option<u8>) -> bool {
        let Some(set) = self.numbers else {
            return true;
        };
        let len = self.s.num_len as usize;
        if let Some(d) = digit {
            let mut buf = self.s.num;
            let mut n = len;
            let mut group = self.s.num_group;
            if self.s.num_sep != 0 && n > 0 {
                if self.s.num_sep == b'.' {
                    buf[n] = b'.';
                    n += 1;
                    group = None;
                } else {
                    group = Some(0);
                }
            }
            if n + 1 >= buf.len() {
                return false;
            }
            buf[n] = d;
            n += 1;
            if !set.has_prefix(&buf[..n]) {
                return false;
            }
            if let Some(g) = group.as_mut() {
                *g += 1;
                if *g > 3 || !set.groups_fit(&buf[..n], *g) {
                    return false;
                }
            }
            self.s.num = buf;
            self.s.num_len = n as u8;
            self.s.num_sep = 0;
            self.s.num_group = group;
            return true;
        }
        if len > 0 && (c == ',' || c == '.' || c == '٫' || c == '٬') && self.s.num_sep == 0 {
            // A separator either ends a complete number (punctuation) or
            // continues one that the source has.
            let decimal = c == '.' || c == '٫';
            // The group after a separator is whole before the next
            // separator (a lakh group of 2 only before another), a decimal
            // point or the number's end.
            let group = self.s.num_group;
            if group.is_some_and(|g| g < 2 || (decimal && g != 3)) {
                return false;
            }
            let mut buf = self.s.num;
            let continues = if decimal && len + 1 < buf.len() {
                buf[len] = b'.';
                set.has_prefix(&buf[..len + 1])
            } else {
                !decimal && set.groups_fit(&buf[..len], 0)
            };
            let ends = matches!(group, None | Some(3)) && set.contains(&buf[..len]);
            if !continues && !ends {
                return false;
            }
            self.s.num_sep = if decimal { b'.' } else { b',' };
            return true;
        }
        let ok = self.number_ends();
        self.s.num_len = 0;
        self.s.num_sep = 0;
        self.s.num_group = None;
        ok
    }

    /// Tracks runs of letters and digits; at the end of one, returns false
    /// when it wrote a number the source lacks.
    fn run_char(&mut self, c: char, digit: Option<u8>) -> bool {
        if self.numbers.is_none() {
            return true;
        }
        if !(c.is_alphanumeric() || ground::is_mark(c)) {
            return self.end_run();
        }
        let value = self.digits_value();
        let r = &mut self.s.run;
        r.chars = r.chars.saturating_add(1);
        if digit.is_some() {
            r.digits |= r.chars == 1;
            r.other |= r.letters_len > 0;
        } else if c.is_ascii_alphabetic() && (r.letters_len as usize) < r.letters.len() {
            if r.digits && r.letters_len == 0 {
                r.value = value;
            }
            r.letters[r.letters_len as usize] = c.to_ascii_lowercase() as u8;
            r.letters_len += 1;
        } else {
            r.other = true;
        }
        true
    }

    /// Ends the current run: false when it wrote a number the source lacks.
    fn end_run(&mut self) -> bool {
        if self.s.run.chars == 0 {
            return true;
        }
        let (ok, value) = self.run_verdict();
        self.s.prev_value = value;
        self.s.run = Run::default();
        ok
    }

    /// True when the current run, if it ended now, would be allowed.
    fn run_may_end(&self) -> bool {
        self.s.run.chars == 0 || self.run_verdict().0
    }

    /// Whether the current run may end here, and the number it writes:
    /// digits (checked digit by digit elsewhere), digits with a scale suffix
    /// ("8m"), a number word, or a scale word after a number ("8 million").
    fn run_verdict(&self) -> (bool, Option<f64>) {
        let Some(set) = self.numbers else {
            return (true, None);
        };
        let r = &self.s.run;
        let letters = std::str::from_utf8(&r.letters[..r.letters_len as usize]).unwrap_or("");
        if r.other {
            return (true, None);
        }
        if r.digits {
            return match (letters.is_empty(), r.value, ground::scale_value(letters)) {
                (true, ..) => (true, self.digits_value()),
                (false, Some(base), Some(scale)) => {
                    (set.supports(&ground::scaled(base, scale)), None)
                }
                _ => (true, None),
            };
        }
        let Some(v) = ground::number_word(letters) else {
            return (true, None);
        };
        match (self.s.prev_value, ground::scale_value(letters)) {
            (Some(base), Some(scale)) => (
                set.supports(&ground::scaled(base, scale)),
                Some(base * scale),
            ),
            _ => (set.supports(&v.to_string()), Some(v as f64)),
        }
    }

    /// The value of the digits being written ("2.5" after "2.5").
    fn digits_value(&self) -> Option<f64> {
        let len = self.s.num_len as usize;
        std::str::from_utf8(&self.s.num[..len])
            .ok()
            .filter(|s| !s.is_empty())
            .and_then(|s| s.parse().ok())
    }

    fn number_ends(&self) -> bool {
        let len = self.s.num_len as usize;
        match self.numbers {
            Some(set) if len > 0 => {
                matches!(self.s.num_group, None | Some(3)) && set.contains(&self.s.num[..len])
            }
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests;
