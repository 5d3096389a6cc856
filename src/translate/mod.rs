//! Translating digests and texts into Urdu, Pashto or English.
//!
//! Backends sit behind [`Translator`]: three seq2seq models (MADLAD-400 on
//! T5, NLLB-200 on M2M100, OPUS-MT on Marian) sharing one greedy and beam
//! search ([`seq2seq`]), and the summarization model prompted to translate
//! ([`llm`]). Whatever the backend, text is translated sentence by sentence;
//! each translated sentence must keep every number of its source and be in
//! the target language, or it is retried once with another decoding setting
//! and then flagged.

use serde::{Deserialize, Serialize};

use crate::digest::{Digest, Translation};
pub use crate::digest::{Digits, TranslationFlag};
use crate::error::Result;
use crate::lang::{self, Lang};
use crate::numbers;

pub mod attention;
pub mod codec;
pub mod llm;
pub mod m2m100;
pub mod marian;
pub mod neural;
pub mod seq2seq;
pub mod spm;
pub mod t5;
mod weights;

pub use weights::tensors as load_tensors;

/// Which attempt at a sentence this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The backend's usual decoding.
    First,
    /// The one retry, decoded differently.
    Retry,
}

/// One translated sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// The translation.
    pub text: String,
    /// True when the decoder stopped at its length limit.
    pub cut: bool,
}

/// Who translated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranslatorInfo {
    /// `madlad`, `nllb`, `marian` or `llm`.
    pub backend: String,
    /// Model id.
    pub model: String,
    /// Licence of the model.
    pub licence: String,
}

/// A translation backend.
pub trait Translator {
    /// Backend, model and licence.
    fn info(&self) -> &TranslatorInfo;
    /// True when the backend translates `from` into `to`.
    fn serves(&self, from: Lang, to: Lang) -> bool;
    /// Translates one sentence.
    fn translate(
        &mut self,
        sentence: &str,
        from: Lang,
        to: Lang,
        attempt: Attempt,
    ) -> Result<Output>;
}

/// Options of a translation.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TranslateOptions {
    /// Digits in Urdu and Pashto output.
    pub digits: Digits,
}

/// A text translated sentence by sentence, with its flags.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TranslatedText {
    /// The translation.
    pub text: String,
    /// Problems found, per sentence.
    pub flags: Vec<TranslationFlag>,
    /// Sentences that needed the retry.
    pub retried: usize,
}

/// Numbers of `source` missing from `translation` (digits normalized,
/// counted with multiplicity).
pub fn missing_numbers(source: &str, translation: &str) -> Vec<String> {
    let mut have = numbers::extract(translation);
    let mut missing = Vec::new();
    for n in numbers::extract(source) {
        match have.iter().position(|h| *h == n) {
            Some(i) => {
                have.swap_remove(i);
            }
            None => missing.push(n),
        }
    }
    missing
}

/// Why `text` is not in `lang`, if it is not.
///
/// Pashto must show Pashto's own letters; Urdu must not look like Pashto,
/// and a longer Urdu text with none of Urdu's own letters (ٹ ڈ ڑ ں ھ ے)
/// is likely Persian; English must be mostly Latin letters.
pub fn wrong_language(text: &str, lang: Lang) -> Option<String> {
    let d = lang::detect(text);
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    if letters == 0 {
        return None;
    }
    match lang {
        Lang::En if d.arabic_share > 0.5 => Some("not English (Arabic script)".into()),
        Lang::Ur | Lang::Ps if d.arabic_share < 0.5 => {
            Some(format!("not {} (mostly Latin letters)", lang.name()))
        }
        Lang::Ur if d.lang == Lang::Ps => Some("looks like Pashto, not Urdu".into()),
        Lang::Ps if d.lang == Lang::Ur && lang::has_urdu_letters(text) => {
            Some("looks like Urdu, not Pashto".into())
        }
        Lang::Ps if !lang::has_pashto_letters(text) && letters >= 12 => {
            Some("no Pashto letters: likely Persian or Urdu, not Pashto".into())
        }
        Lang::Ur if !lang::has_urdu_letters(text) && letters >= 20 => {
            Some("no Urdu letters: likely Persian, not Urdu".into())
        }
        _ => None,
    }
}

/// Writes the digits of `text` in the chosen script (Urdu and Pashto only).
pub fn set_digits(text: &str, lang: Lang, digits: Digits) -> String {
    if lang == Lang::En {
        return text.to_string();
    }
    text.chars()
        .map(|c| match (numbers::latin_digit(c), digits) {
            (Some(d), Digits::Latin) => d as char,
            (Some(d), Digits::Native) => char::from_u32(0x06F0 + u32::from(d - b'0')).unwrap_or(c),
            (None, _) => c,
        })
        .collect()
}

/// Translates `text` sentence by sentence. A sentence that loses a number,
/// comes out in the wrong language or is cut at the length limit is retried
/// once; if still wrong it is flagged, and a wrong-language sentence is left
/// out rather than passed off as a translation.
pub fn translate_text(
    t: &mut dyn Translator,
    field: &str,
    text: &str,
    from: Lang,
    to: Lang,
    opts: TranslateOptions,
) -> Result<TranslatedText> {
    let mut out = TranslatedText::default();
    let mut parts: Vec<String> = Vec::new();
    let sentences: Vec<&str> = crate::segment::split(text).iter().map(|s| s.text).collect();
    for (i, sentence) in sentences.iter().enumerate() {
        let check = |o: &Output| {
            let mut problems = Vec::new();
            let missing = missing_numbers(sentence, &o.text);
            if !missing.is_empty() {
                problems.push(format!("lost number(s) {}", missing.join(", ")));
            }
            let wrong = wrong_language(&o.text, to);
            if let Some(w) = &wrong {
                problems.push(w.clone());
            }
            if o.cut {
                problems.push("cut at the length limit".to_string());
            }
            if o.text.trim().is_empty() {
                problems.push("empty translation".to_string());
            }
            (problems, wrong.is_some() || o.text.trim().is_empty())
        };
        let first = t.translate(sentence, from, to, Attempt::First)?;
        let (mut problems, mut drop) = check(&first);
        let mut chosen = first;
        if !problems.is_empty() {
            out.retried += 1;
            let second = t.translate(sentence, from, to, Attempt::Retry)?;
            let (p2, d2) = check(&second);
            if p2.len() < problems.len() || (p2.len() == problems.len() && !d2 && drop) {
                chosen = second;
                problems = p2;
                drop = d2;
            }
        }
        for problem in problems {
            out.flags.push(TranslationFlag {
                field: field.to_string(),
                sentence: i,
                problem: format!("{problem} (after a retry)"),
                dropped: drop,
                rejected: drop.then(|| chosen.text.trim().to_string()),
            });
        }
        if !drop {
            let clean = lang::normalize_letters(chosen.text.trim(), to);
            parts.push(set_digits(&clean, to, opts.digits));
        }
    }
    out.text = parts.join(" ");
    Ok(out)
}

/// Translates `digest` into each of `langs` with `t`, after checking that
/// `t` serves each direction; a language the digest is already in is
/// skipped with a warning.
pub fn translate_into(
    t: &mut dyn Translator,
    digest: &mut Digest,
    langs: &[Lang],
    opts: TranslateOptions,
) -> Result<()> {
    for &to in langs {
        if to == digest.language {
            digest.warnings.push(format!(
                "not translated into {}: the digest is already in it",
                to.name()
            ));
            continue;
        }
        check_serves(t, digest.language, to)?;
        translate_digest(t, digest, to, opts)?;
    }
    Ok(())
}

/// An error naming the translator when it does not translate `from` into `to`.
pub fn check_serves(t: &dyn Translator, from: Lang, to: Lang) -> Result<()> {
    if t.serves(from, to) {
        Ok(())
    } else {
        Err(crate::error::Error::model(
            &t.info().model,
            format!(
                "does not translate {} into {}; choose another --translator",
                from.name(),
                to.name()
            ),
        ))
    }
}

/// Translates a digest's headline, summary and facts into `to`, adding the
/// translation (with its flags) to the digest and a warning per flag.
pub fn translate_digest(
    t: &mut dyn Translator,
    digest: &mut Digest,
    to: Lang,
    opts: TranslateOptions,
) -> Result<()> {
    let from = digest.language;
    let headline = translate_text(t, "headline", &digest.headline, from, to, opts)?;
    let summary = translate_text(t, "summary", &digest.summary, from, to, opts)?;
    let mut facts = Vec::new();
    let mut flags = headline.flags.clone();
    flags.extend(summary.flags.clone());
    let mut retried = headline.retried + summary.retried;
    for (i, f) in digest.key_facts.iter().enumerate() {
        let tr = translate_text(t, &format!("key_facts[{i}]"), f, from, to, opts)?;
        flags.extend(tr.flags);
        retried += tr.retried;
        facts.push(tr.text);
    }
    for f in &flags {
        digest.warnings.push(format!(
            "translation to {}: {} sentence {}: {}{}",
            to.name(),
            f.field,
            f.sentence + 1,
            f.problem,
            if f.dropped { "; left out" } else { "" }
        ));
    }
    let info = t.info().clone();
    digest.translations.retain(|x| x.lang != to);
    digest.translations.push(Translation {
        lang: to,
        dir: to.dir(),
        headline: headline.text,
        summary: summary.text,
        key_facts: facts,
        backend: info.backend,
        model: info.model,
        licence: info.licence,
        digits: opts.digits,
        retried,
        flags,
    });
    Ok(())
}

#[cfg(test)]
mod tests;
