//! The product: a [`Digest`] (headline, summary, key facts) with the metadata
//! that says where it came from and how it was made.

use serde::{Deserialize, Serialize};

pub use crate::article::PageMeta;

use crate::lang::Lang;

/// Version of the JSON output. Bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// A digest of one article.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Digest {
    /// Version of this schema.
    pub schema_version: u32,
    /// At most 15 words.
    pub headline: String,
    /// Two to four sentences.
    pub summary: String,
    /// Distinct facts, one sentence each.
    pub key_facts: Vec<String>,
    /// Language of the article and the digest.
    pub language: Lang,
    /// The input.
    pub source: SourceInfo,
    /// The model that wrote it.
    pub model: ModelRef,
    /// Versions of the prompts used, e.g. `collapse@1,digest@1,notes@1,reduce@1`.
    pub prompt_version: String,
    /// Number of chunks the article was split into (1 = one pass).
    pub chunks: usize,
    /// Every model call, in order.
    pub passes: Vec<Pass>,
    /// Time and token counts.
    pub timings: Timings,
    /// Anything cut, dropped, retried or forced along the way.
    pub warnings: Vec<String>,
    /// One check per key fact, in the same order: verdict, evidence, coverage.
    #[serde(default)]
    pub fact_checks: Vec<crate::ground::FactCheck>,
    /// Translations of headline, summary and facts into other languages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub translations: Vec<Translation>,
    /// The headline-and-summary candidates and the one kept, when more than
    /// one was decoded (`--candidates`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<crate::summarize::select::Selection>,
    /// Batch bookkeeping, for digests made by `khulasa batch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchInfo>,
}

/// A digest's text in another language.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Translation {
    /// Target language.
    pub lang: Lang,
    /// Script direction of that language.
    pub dir: crate::lang::Dir,
    /// Translated headline.
    pub headline: String,
    /// Translated summary.
    pub summary: String,
    /// Translated key facts, in order.
    pub key_facts: Vec<String>,
    /// Translation backend.
    pub backend: String,
    /// Model id.
    pub model: String,
    /// Licence of the translation model.
    pub licence: String,
    /// Digits used in Urdu and Pashto text.
    #[serde(default)]
    pub digits: Digits,
    /// Sentences translated a second time because the first try lost a
    /// number, was in another language or was cut.
    #[serde(default)]
    pub retried: usize,
    /// Problems left after the retry, per sentence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<TranslationFlag>,
}

/// Where a batch digest came from and the key it was made under.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchInfo {
    /// The item's stable id.
    pub id: String,
    /// Hash of input, model, prompts and options: a rerun skips the item when it matches.
    pub key: String,
    /// Source URL, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Publication time, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
}

/// Where the article came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceInfo {
    /// Path, `<stdin>` or id.
    pub path: String,
    /// Title found in the input.
    pub title: Option<String>,
    /// Words in title and body.
    pub word_count: usize,
    /// sha256 of the raw input.
    pub sha256: String,
    /// Format it was read as.
    pub format: String,
    /// Lines removed as page furniture.
    pub furniture_removed: usize,
    /// What the page says about itself: byline, publication time, site
    /// name, declared language and canonical URL (HTML inputs).
    #[serde(default, flatten)]
    pub page: PageMeta,
}

/// The model, as reported.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelRef {
    /// Manifest id or file name.
    pub id: String,
    /// sha256 of the weights.
    pub sha256: String,
    /// Licence of the weights.
    pub licence: String,
    /// Architecture.
    pub architecture: String,
}

/// One model call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pass {
    /// `digest` (one pass), `notes` (map), `collapse` or `reduce`.
    pub stage: String,
    /// 1-based index within the stage.
    pub index: usize,
    /// Tokens of the prompt.
    pub prompt_tokens: usize,
    /// Of those, leading tokens reused from the previous pass's KV cache.
    #[serde(default)]
    pub reused_prompt_tokens: usize,
    /// Tokens generated.
    pub generated_tokens: usize,
    /// Why generation stopped.
    pub stop: String,
}

/// Time and token counts for the whole digest.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timings {
    /// Seconds loading the model (0 when it was already loaded).
    pub load_secs: f64,
    /// Prompt tokens over all passes.
    pub prompt_tokens: usize,
    /// Of those, tokens reused from an earlier pass's KV cache (a shared
    /// system prompt and instructions) rather than computed.
    #[serde(default)]
    pub reused_prompt_tokens: usize,
    /// Generated tokens over all passes.
    pub generated_tokens: usize,
    /// Seconds processing prompts.
    pub prompt_secs: f64,
    /// Seconds generating.
    pub generate_secs: f64,
    /// Prompt tokens per second.
    pub prompt_tokens_per_sec: f64,
    /// Generated tokens per second.
    pub generated_tokens_per_sec: f64,
    /// Seconds from reading the input to the digest, model load excluded.
    pub total_secs: f64,
    /// Of those, seconds checking facts, the headline and the summary
    /// against the source: the words and the model's judgement.
    #[serde(default)]
    pub check_secs: f64,
    /// Of those, seconds rewriting unsupported facts from their evidence
    /// and checking the rewrites.
    #[serde(default)]
    pub rewrite_secs: f64,
    /// Claims the model judged (see `fact_checks`).
    #[serde(default)]
    pub judged_claims: usize,
}

impl Timings {
    /// Fills in the rates from the counts and times.
    pub(crate) fn finish(&mut self) {
        let rate = |n: usize, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
        self.prompt_tokens_per_sec = rate(self.prompt_tokens, self.prompt_secs);
        self.generated_tokens_per_sec = rate(self.generated_tokens, self.generate_secs);
    }
}

/// Digits in Urdu and Pashto output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Digits {
    /// 0-9.
    #[default]
    Latin,
    /// Extended Arabic-Indic digits, ۰-۹.
    Native,
}

/// Something wrong with one translated sentence, reported in the output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranslationFlag {
    /// `headline`, `summary` or `key_facts[i]`.
    pub field: String,
    /// Sentence number within the field, from 0.
    pub sentence: usize,
    /// What is wrong.
    pub problem: String,
    /// True when the sentence was left out of the translation.
    pub dropped: bool,
    /// The text left out, for inspection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<String>,
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// A digest for tests.
    pub(crate) fn sample(
        id: &str,
        lang: Lang,
        headline: &str,
        published: Option<&str>,
        url: Option<&str>,
    ) -> Digest {
        Digest {
            schema_version: SCHEMA_VERSION,
            headline: headline.into(),
            summary: format!("{headline}. More detail follows."),
            key_facts: vec!["One.".into(), "Two.".into(), "Three.".into()],
            language: lang,
            source: SourceInfo {
                path: format!("wire/{id}.txt"),
                title: None,
                word_count: 100,
                sha256: "0".repeat(64),
                format: "text".into(),
                furniture_removed: 0,
                page: PageMeta::default(),
            },
            model: ModelRef {
                id: "m".into(),
                sha256: "1".repeat(64),
                licence: "Apache-2.0".into(),
                architecture: "qwen2".into(),
            },
            prompt_version: "digest@1".into(),
            chunks: 1,
            passes: vec![],
            timings: Timings::default(),
            warnings: vec![],
            fact_checks: vec![],
            translations: vec![],
            selection: None,
            batch: Some(BatchInfo {
                id: id.into(),
                key: "k".into(),
                url: url.map(str::to_string),
                published: published.map(str::to_string),
            }),
        }
    }
}
