//! Languages khulasa handles (English, Urdu, Pashto): codes, names, script
//! direction, letter-form normalization and detection.

use serde::{Deserialize, Serialize};

/// A language of articles and digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// English.
    En,
    /// Urdu.
    Ur,
    /// Pashto.
    Ps,
}

/// Writing direction of a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dir {
    /// Left to right.
    Ltr,
    /// Right to left.
    Rtl,
}

/// Letters that occur in Pashto but not in Urdu or Persian.
const PASHTO_LETTERS: &[char] = &[
    'ټ', 'ډ', 'ړ', 'ږ', 'ښ', 'ګ', 'ڼ', 'ې', 'ۍ', 'ځ', 'څ', 'ڀ', 'ږ',
];
/// Letters that occur in Urdu but not in Pashto.
const URDU_LETTERS: &[char] = &['ٹ', 'ڈ', 'ڑ', 'ں', 'ھ', 'ے', 'ۓ'];

impl Lang {
    /// All languages.
    pub const ALL: [Lang; 3] = [Lang::En, Lang::Ur, Lang::Ps];

    /// ISO 639-1 code.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ur => "ur",
            Lang::Ps => "ps",
        }
    }

    /// English name, as used in prompts.
    pub fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Ur => "Urdu",
            Lang::Ps => "Pashto",
        }
    }

    /// NLLB / FLORES code.
    pub fn nllb_code(self) -> &'static str {
        match self {
            Lang::En => "eng_Latn",
            Lang::Ur => "urd_Arab",
            Lang::Ps => "pbt_Arab",
        }
    }

    /// Script direction.
    pub fn dir(self) -> Dir {
        match self {
            Lang::En => Dir::Ltr,
            Lang::Ur | Lang::Ps => Dir::Rtl,
        }
    }

    /// Parses `en`, `ur`, `ps` (and the English names).
    pub fn from_code(s: &str) -> Option<Lang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "en" | "eng" | "english" => Some(Lang::En),
            "ur" | "urd" | "urdu" => Some(Lang::Ur),
            "ps" | "pus" | "pbt" | "pashto" => Some(Lang::Ps),
            _ => None,
        }
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl std::str::FromStr for Lang {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Lang::from_code(s).ok_or_else(|| format!("unknown language '{s}': use en, ur or ps"))
    }
}

/// True for characters of the Arabic script blocks.
pub(crate) fn is_arabic_script(c: char) -> bool {
    matches!(c as u32, 0x0600..=0x06FF | 0x0750..=0x077F | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF)
}

/// True for a letter of the Arabic script (see [`is_arabic_script`]):
/// `char::is_alphabetic` for those code points, looked up in a table built
/// once from it, since its search over all of Unicode took a tenth of the
/// time of reading an Urdu or Pashto page.
fn is_arabic_letter(c: char) -> bool {
    arabic_flags(c) & LETTER != 0
}

/// [`arabic_flags`]: `char::is_alphabetic`.
const LETTER: u8 = 1;
/// [`arabic_flags`]: `char::is_alphanumeric`.
const LETTER_OR_DIGIT: u8 = 2;
/// [`arabic_flags`]: a starter (canonical combining class 0) that the NFC
/// quick check answers Yes for.
const NFC_STARTER: u8 = 4;

/// [`arabic_flags`]: one of [`PASHTO_LETTERS`].
const PASHTO: u8 = 8;
/// [`arabic_flags`]: one of [`URDU_LETTERS`].
const URDU: u8 = 16;

/// [`LETTER`], [`LETTER_OR_DIGIT`], [`NFC_STARTER`], [`PASHTO`] and
/// [`URDU`] of a character of the Arabic script (see [`is_arabic_script`]),
/// from a table built once; 0 for any other.
fn arabic_flags(c: char) -> u8 {
    /// The ranges of [`is_arabic_script`], as (first, past the last).
    const RANGES: [(u32, u32); 3] = [(0x0600, 0x0780), (0xFB50, 0xFE00), (0xFE70, 0xFF00)];
    static FLAGS: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let table = FLAGS.get_or_init(|| {
        RANGES
            .iter()
            .flat_map(|&(a, b)| a..b)
            .map(
                |u| match char::from_u32(u).filter(|&c| is_arabic_script(c)) {
                    Some(c) => {
                        u8::from(c.is_alphabetic()) * LETTER
                            + u8::from(c.is_alphanumeric()) * LETTER_OR_DIGIT
                            + u8::from(nfc_starter(c)) * NFC_STARTER
                            + u8::from(PASHTO_LETTERS.contains(&c)) * PASHTO
                            + u8::from(URDU_LETTERS.contains(&c)) * URDU
                    }
                    None => 0,
                },
            )
            .collect()
    });
    // Where each range starts in the table.
    const SECOND: u32 = RANGES[0].1 - RANGES[0].0;
    const THIRD: u32 = SECOND + RANGES[1].1 - RANGES[1].0;
    let u = c as u32;
    let at = if (RANGES[0].0..RANGES[0].1).contains(&u) {
        u - RANGES[0].0
    } else if (RANGES[1].0..RANGES[1].1).contains(&u) {
        SECOND + u - RANGES[1].0
    } else if (RANGES[2].0..RANGES[2].1).contains(&u) {
        THIRD + u - RANGES[2].0
    } else {
        return 0;
    };
    table[at as usize]
}

/// Whether `c` is a starter that the NFC quick check answers Yes for.
fn nfc_starter(c: char) -> bool {
    unicode_normalization::char::canonical_combining_class(c) == 0
        && unicode_normalization::is_nfc_quick(std::iter::once(c))
            == unicode_normalization::IsNormalized::Yes
}

/// Whether `c` is a starter that needs no composing, answered without the
/// NFC tables: Latin below the combining marks (U+0300), General
/// Punctuation from U+2002 (dashes, quotes, the direction marks; NFC
/// replaces U+2000 and U+2001 with U+2002 and U+2003), and the Arabic
/// script's starters.
fn plain_starter(c: char) -> bool {
    (c as u32) < 0x300
        || ('\u{2002}'..='\u{206F}').contains(&c)
        || arabic_flags(c) & NFC_STARTER != 0
}

/// Whether the NFC quick check answers Yes for `s`: at once when every
/// character is a [`plain_starter`] (a line of such characters can be
/// neither out of order nor composable), else by the check itself, whose
/// table searches took an eighth of the instructions of reading Urdu and
/// Pashto pages.
pub(crate) fn is_nfc(s: &str) -> bool {
    s.chars().all(plain_starter)
        || unicode_normalization::is_nfc_quick(s.chars())
            == unicode_normalization::IsNormalized::Yes
}

/// `str::to_lowercase`, without its case tables when every character is
/// ASCII or of the Arabic script, which has no case (a test checks every
/// code point of it): Urdu and Pashto lines are lower-cased as ASCII.
pub(crate) fn to_lowercase(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii() || is_arabic_script(c)) {
        s.to_ascii_lowercase()
    } else {
        s.to_lowercase()
    }
}

/// `char::is_alphabetic`, answered without its search over all of Unicode
/// for ASCII and the Arabic script, the letters of nearly every page read.
pub(crate) fn is_alphabetic(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphabetic()
    } else if is_arabic_script(c) {
        is_arabic_letter(c)
    } else {
        c.is_alphabetic()
    }
}

/// `char::is_alphanumeric`, answered as [`is_alphabetic`] is.
pub(crate) fn is_alphanumeric(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric()
    } else if is_arabic_script(c) {
        arabic_flags(c) & LETTER_OR_DIGIT != 0
    } else {
        c.is_alphanumeric()
    }
}

/// True for the invisible marks that set the direction of text (LRM, RLM,
/// the Arabic letter mark, embeddings, overrides and isolates): pages of
/// mixed scripts put them around words and at the ends of lines, where they
/// hide a sentence's full stop and split a word from itself.
pub(crate) fn is_direction_mark(c: char) -> bool {
    matches!(c as u32, 0x200E | 0x200F | 0x061C | 0x202A..=0x202E | 0x2066..=0x2069)
}

/// True when `text` has a letter found in Urdu but not in Pashto.
pub fn has_urdu_letters(text: &str) -> bool {
    text.chars().any(|c| URDU_LETTERS.contains(&c))
}

/// True when `text` has a letter found in Pashto but not in Urdu or Persian.
pub fn has_pashto_letters(text: &str) -> bool {
    text.chars().any(|c| PASHTO_LETTERS.contains(&c))
}

/// The result of language detection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// The detected language.
    pub lang: Lang,
    /// Share of letters in the Arabic script, 0..=1.
    pub arabic_share: f32,
}

/// Detects English, Urdu or Pashto from the letters of `text`.
///
/// Text mostly in Latin letters is English. Arabic-script text is Pashto when
/// it carries Pashto's own letters (ټ ډ ړ ږ ښ ګ ڼ ې ۍ ځ څ) more often than
/// Urdu's (ٹ ڈ ڑ ں ھ ے), and Urdu otherwise.
pub fn detect(text: &str) -> Detection {
    // Every Arabic-script letter counted below is written with a lead byte
    // of D8-DD (U+0600-U+077F) or EF (U+FB50-U+FEFF): text without one is
    // English, found in one vectorized pass over its bytes.
    let may_be_arabic = text
        .bytes()
        .fold(false, |any, b| any | matches!(b, 0xD8..=0xDD | 0xEF));
    if !may_be_arabic {
        return Detection {
            lang: Lang::En,
            arabic_share: 0.0,
        };
    }
    let (mut latin, mut arabic, mut pashto, mut urdu) = (0usize, 0usize, 0usize, 0usize);
    for c in text.chars() {
        if c.is_ascii() {
            latin += usize::from(c.is_ascii_alphabetic());
        } else {
            let f = arabic_flags(c);
            if f & LETTER != 0 {
                arabic += 1;
                pashto += usize::from(f & PASHTO != 0);
                urdu += usize::from(f & URDU != 0);
            }
        }
    }
    let letters = (latin + arabic).max(1);
    let arabic_share = arabic as f32 / letters as f32;
    let lang = if arabic_share < 0.5 {
        Lang::En
    } else if pashto > urdu {
        Lang::Ps
    } else {
        Lang::Ur
    };
    Detection { lang, arabic_share }
}

/// Maps Arabic letter variants and presentation forms to the forms used in
/// Urdu and Pashto (ى → ی, ك → ک, presentation forms → base letters; ي → ی
/// except in Pashto, where ي is a letter of its own: لري "has", not لری).
/// Zero-width non-joiners are kept.
pub fn normalize_letters(text: &str, lang: Lang) -> String {
    use unicode_normalization::UnicodeNormalization;
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_direction_mark(c) {
            continue;
        }
        if is_presentation_form(c) {
            // Presentation forms decompose (NFKC) to their base letters.
            for d in c.nfkc() {
                out.push(map_letter(d, lang));
            }
        } else {
            out.push(map_letter(c, lang));
        }
    }
    out
}

/// Whether [`normalize_letters`] keeps `c` as it is for `lang`: not a
/// direction mark, a presentation form or a letter it maps to another.
pub(crate) fn letter_is_normal(c: char, lang: Lang) -> bool {
    !is_direction_mark(c) && !is_presentation_form(c) && map_letter(c, lang) == c
}

/// True for the Arabic presentation forms (U+FB50–U+FDFF, U+FE70–U+FEFF),
/// which [`normalize_letters`] decomposes to their base letters.
fn is_presentation_form(c: char) -> bool {
    matches!(c as u32, 0xFB50..=0xFDFF | 0xFE70..=0xFEFF)
}

fn map_letter(c: char, lang: Lang) -> char {
    match c {
        'ك' => 'ک',
        // Urdu writes Arabic yeh as ی; Pashto spells words with both (its
        // ي ends verbs and masculine forms: کوي, لري). ى (alef maksura) is
        // ی in both languages.
        'ي' if lang != Lang::Ps => 'ی',
        'ى' => 'ی',
        'ە' if lang == Lang::Ur => 'ہ',
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arabic_script_table_agrees_with_char_and_the_nfc_quick_check() {
        for u in 0..0x11000u32 {
            let Some(c) = char::from_u32(u) else { continue };
            assert_eq!(
                is_arabic_letter(c),
                is_arabic_script(c) && c.is_alphabetic(),
                "U+{u:04X}"
            );
            assert_eq!(is_alphabetic(c), c.is_alphabetic(), "U+{u:04X}");
            assert_eq!(is_alphanumeric(c), c.is_alphanumeric(), "U+{u:04X}");
            let s = c.to_string();
            let quick = unicode_normalization::is_nfc_quick(s.chars())
                == unicode_normalization::IsNormalized::Yes;
            assert_eq!(is_nfc(&s), quick, "U+{u:04X}");
            if plain_starter(c) {
                assert!(nfc_starter(c) && quick, "U+{u:04X}");
            }
            // The Arabic script has no case: the reader lower-cases a word
            // of it without asking each letter.
            if is_arabic_script(c) {
                assert!(!c.is_uppercase(), "U+{u:04X}");
                assert!(c.to_lowercase().eq([c]), "U+{u:04X}");
            }
        }
        // Alef and a combining hamza compose (أ); so do e and an acute.
        for (s, nfc) in [
            ("سلام دنیا، خبر۔", true),
            ("ا\u{0654}", false),
            ("e\u{0301}", false),
            ("é and ب", true),
        ] {
            assert_eq!(is_nfc(s), nfc, "{s}");
        }
        // Arabic-Indic and Persian digits are numbers, not letters.
        assert!(is_alphanumeric('٣') && !is_alphabetic('٣'));
        assert!(is_alphanumeric('۳') && !is_alphabetic('۳'));
    }

    #[test]
    fn detects_english() {
        assert_eq!(detect("The minister said on Monday.").lang, Lang::En);
    }

    #[test]
    fn detects_urdu_and_pashto() {
        let ur = "وزیر اعظم نے پیر کو کہا کہ حکومت نئے منصوبے شروع کرے گی۔";
        let ps = "صدراعظم د دوشنبې په ورځ وویل چې حکومت به نوې پروژې پیل کړي.";
        assert_eq!(detect(ur).lang, Lang::Ur);
        assert_eq!(detect(ps).lang, Lang::Ps);
        // Presentation forms (U+FB50-U+FEFF) and the supplement
        // (U+0750-U+077F) are Arabic script too; curly quotes and dashes
        // are not.
        assert_eq!(detect("\u{FEFB}\u{FEF7} \u{FB8E}\u{FB8F}").lang, Lang::Ur);
        assert!(detect("\u{0750}\u{0751}\u{0752}").arabic_share > 0.9);
        let quoted = detect("\u{201c}Quoted\u{201d} \u{2014} text\u{2019}s");
        assert_eq!((quoted.lang, quoted.arabic_share), (Lang::En, 0.0));
    }

    #[test]
    fn normalizes_letter_forms_and_keeps_zwnj() {
        let s = "كتاب علي\u{200c}ى \u{FEF7}";
        let n = normalize_letters(s, Lang::Ur);
        assert!(n.contains("کتاب علی\u{200c}ی"));
        assert!(!n.contains('\u{FEF7}'));
        // Pashto keeps its ي: "لري" (has) and "لری" are different words.
        let ps = normalize_letters("هغه کور لري. على", Lang::Ps);
        assert_eq!(ps, "هغه کور لري. علی");
    }

    #[test]
    fn codes_round_trip() {
        for l in Lang::ALL {
            assert_eq!(Lang::from_code(l.code()), Some(l));
        }
        assert_eq!(Lang::Ps.nllb_code(), "pbt_Arab");
        assert_eq!(Lang::Ur.dir(), Dir::Rtl);
    }
}
