//! The product: a [`Digest`] (headline, summary, key facts) with the metadata
//! that says where it came from and how it was made.

use serde::{Deserialize, Serialize};

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
}

impl Timings {
    /// Fills in the rates from the counts and times.
    pub(crate) fn finish(&mut self) {
        let rate = |n: usize, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
        self.prompt_tokens_per_sec = rate(self.prompt_tokens, self.prompt_secs);
        self.generated_tokens_per_sec = rate(self.generated_tokens, self.generate_secs);
    }
}
