//! Text generation behind the [`Generator`] trait: sampling parameters,
//! requests and results. The candle engine lives in `candle/`; a scripted
//! generator stands in for it in tests.

use serde::Serialize;

use crate::chunk::TokenCounter;
use crate::error::Result;

pub mod candle;
pub mod constraint;
mod scripted;

pub use constraint::{DigestShape, NumberSet};
pub use scripted::ScriptedGenerator;

/// Who says a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions.
    System,
    /// The request.
    User,
    /// The model's turn.
    Assistant,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// The speaker.
    pub role: Role,
    /// The text.
    pub content: String,
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }
}

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// 0 means greedy (default 0).
    pub temperature: f64,
    /// Nucleus sampling mass when `temperature > 0` (default 0.9).
    pub top_p: f64,
    /// Seed for sampling (default 42).
    pub seed: u64,
    /// Penalty for tokens seen in the last `repeat_last_n` tokens (default 1.1; 1 = off).
    pub repeat_penalty: f32,
    /// Window for the repeat penalty (default 64).
    pub repeat_last_n: usize,
    /// Ban any n-gram of this many tokens from appearing twice (default 0 = off).
    pub no_repeat_ngram: usize,
}

impl Default for Sampling {
    fn default() -> Self {
        Self {
            temperature: 0.0,
            top_p: 0.9,
            seed: 42,
            repeat_penalty: 1.1,
            repeat_last_n: 64,
            no_repeat_ngram: 0,
        }
    }
}

/// A generation request.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The chat, system message first.
    pub messages: Vec<Message>,
    /// Most new tokens.
    pub max_new_tokens: usize,
    /// Sampling parameters.
    pub sampling: Sampling,
    /// Constrain the output to the digest JSON, with these bounds and
    /// (optionally) these allowed numbers.
    pub digest: Option<(DigestShape, Option<&'a NumberSet>)>,
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model ended its turn (or closed the constrained JSON).
    EndOfTurn,
    /// `max_new_tokens` was reached; constrained JSON was closed by force.
    MaxTokens,
    /// The prompt did not leave room in the model's context.
    ContextFull,
    /// No token could continue the constrained output (closed by force).
    NoValidToken,
}

/// The result of one generation.
#[derive(Debug, Clone)]
pub struct Generation {
    /// The generated text.
    pub text: String,
    /// Tokens in the rendered prompt.
    pub prompt_tokens: usize,
    /// Leading prompt tokens whose keys and values were reused from the
    /// previous pass instead of computed (included in `prompt_tokens`).
    pub reused_prompt_tokens: usize,
    /// Tokens generated.
    pub generated_tokens: usize,
    /// Seconds spent on the prompt.
    pub prompt_secs: f64,
    /// Seconds spent generating.
    pub generate_secs: f64,
    /// Why it stopped.
    pub stop: StopReason,
    /// What the decoder had to intervene on (repetition, bounds, forced close).
    pub notes: Vec<String>,
    /// Digest fields closed at a bound (see `DigestMachine::limits_hit`).
    pub limits: u32,
}

/// Facts about the loaded model, reported in the output.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    /// Manifest id or file name.
    pub id: String,
    /// Architecture (qwen2, llama, qwen3, gemma3, scripted).
    pub architecture: String,
    /// sha256 of the weights file.
    pub sha256: String,
    /// Licence of the weights.
    pub licence: String,
    /// Context length in tokens.
    pub context_length: usize,
}

/// A generator for one thread of a parallel batch (see [`Generator::lanes`]).
pub type Lane<'a> = Box<dyn Generator + 'a>;

/// Something that turns a chat into text.
pub trait Generator: TokenCounter + Send {
    /// The model behind it.
    fn info(&self) -> &ModelInfo;
    /// Tokens the chat occupies once rendered with the chat template.
    fn prompt_tokens(&self, messages: &[Message]) -> Result<usize>;
    /// Generates a reply.
    fn generate(&mut self, request: &Request<'_>) -> Result<Generation>;
    /// The log-odds that the reply to the chat opens with "Yes" rather than
    /// "No", from one forward pass over the prompt (a shared prefix with the
    /// previous pass is reused); `None` when the generator cannot score.
    fn yes_no(&mut self, messages: &[Message]) -> Result<Option<f32>> {
        let _ = messages;
        Ok(None)
    }
    /// Calls `work` with `n` lanes: generators to use from `n` threads at
    /// once, one each. A generator that can decode several sequences in one
    /// step (the candle engine on Qwen2) batches the lanes' decode steps;
    /// this default runs their requests one at a time, in turn, on `self`.
    fn lanes(&mut self, n: usize, work: &mut dyn FnMut(Vec<Lane<'_>>)) -> Result<()> {
        one_at_a_time(self, n, work)
    }
    /// The memory that [`Generator::lanes`] adds to: see [`LaneMemory`].
    /// `None` where the lanes share one KV cache and take turns (every
    /// generator but the candle engine on Qwen2).
    fn lane_memory(&self) -> Option<LaneMemory> {
        None
    }
}

/// The memory of a generator with lanes of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaneMemory {
    /// The weights file, mapped and resident.
    pub weights_bytes: u64,
    /// Each lane's KV cache, per position it holds.
    pub kv_bytes_per_position: u64,
    /// What every lane shares beside the weights, at its bound: the keys
    /// and values of the prompt beginnings kept for reuse.
    pub shared_bytes: u64,
}

/// Runs `lane` on `n` lanes of `g` at once, each on its own thread (see
/// [`Generator::lanes`]); with one lane, on `g` itself on this thread.
pub fn run_lanes(
    g: &mut dyn Generator,
    n: usize,
    lane: &(dyn Fn(&mut dyn Generator) + Sync),
) -> Result<()> {
    if n <= 1 {
        lane(g);
        return Ok(());
    }
    g.lanes(n, &mut |lanes| {
        std::thread::scope(|scope| {
            for mut l in lanes {
                scope.spawn(move || lane(&mut *l));
            }
        });
    })
}

/// [`Generator::lanes`] for a generator that runs one request at a time:
/// each lane locks it for a request.
pub fn one_at_a_time<G: Generator + ?Sized>(
    g: &mut G,
    n: usize,
    work: &mut dyn FnMut(Vec<Lane<'_>>),
) -> Result<()> {
    let info = g.info().clone();
    let shared = std::sync::Mutex::new(g);
    let lanes = (0..n.max(1))
        .map(|_| {
            Box::new(Locked {
                g: &shared,
                info: info.clone(),
            }) as Lane<'_>
        })
        .collect();
    work(lanes);
    Ok(())
}

/// A lane of [`one_at_a_time`].
struct Locked<'a, G: ?Sized> {
    g: &'a std::sync::Mutex<&'a mut G>,
    info: ModelInfo,
}

impl<G: Generator + ?Sized> Locked<'_, G> {
    fn with<T>(&self, f: impl FnOnce(&mut G) -> T) -> T {
        // A lane that panicked holding the lock left the generator as it
        // was between two requests; the others go on with it.
        let mut g = self
            .g
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut **g)
    }
}

impl<G: Generator + ?Sized> TokenCounter for Locked<'_, G> {
    fn count(&self, text: &str) -> usize {
        self.with(|g| g.count(text))
    }
}

impl<G: Generator + ?Sized> Generator for Locked<'_, G> {
    fn info(&self) -> &ModelInfo {
        &self.info
    }
    fn prompt_tokens(&self, messages: &[Message]) -> Result<usize> {
        self.with(|g| g.prompt_tokens(messages))
    }
    fn generate(&mut self, request: &Request<'_>) -> Result<Generation> {
        self.with(|g| g.generate(request))
    }
    fn yes_no(&mut self, messages: &[Message]) -> Result<Option<f32>> {
        self.with(|g| g.yes_no(messages))
    }
    fn lanes(&mut self, n: usize, work: &mut dyn FnMut(Vec<Lane<'_>>)) -> Result<()> {
        let g = self.g;
        work(
            (0..n.max(1))
                .map(|_| {
                    Box::new(Locked {
                        g,
                        info: self.info.clone(),
                    }) as Lane<'_>
                })
                .collect(),
        );
        Ok(())
    }
}
