//! The candle engine: the only module that imports candle. Loads quantized
//! GGUF models (qwen2, llama, qwen3, gemma3), builds their tokenizer and chat
//! template, and runs the constrained decode loop.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::Device;
use tokenizers::Tokenizer;

use crate::chunk::TokenCounter;
use crate::error::{Error, Result};
use crate::generate::{one_at_a_time, Generation, Generator, Lane, Message, ModelInfo, Request};
use crate::prompt::chat::ChatTemplate;

mod decode;
pub mod gguf;
mod kernels;
pub use kernels::{product_speeds, ProductSpeed};
mod lanes;

pub use kernels::path::{
    available_paths, current as kernel_path, force as force_kernel_path, KernelPath,
};
mod model;
mod qwen2;
pub mod tiny;
pub mod tokenizer;

use model::Model;
pub use model::ARCHITECTURES;

/// Where a model's files are and what to call it.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The GGUF weights.
    pub gguf: PathBuf,
    /// A tokenizer.json to use instead of the GGUF's own vocabulary.
    pub tokenizer_json: Option<PathBuf>,
    /// Id, sha256 and licence to report.
    pub id: String,
    /// sha256 of the GGUF file.
    pub sha256: String,
    /// Licence of the weights.
    pub licence: String,
}

/// Number of threads candle computes with.
pub fn threads() -> usize {
    candle_core::utils::get_num_threads()
}

/// A local model ready to generate.
pub struct CandleGenerator {
    model: Model,
    device: Device,
    shared: Shared,
    /// Seconds spent loading.
    pub load_secs: f64,
    /// Size of the weights file.
    file_bytes: u64,
}

/// What a generator needs besides the model, read by every lane of a
/// parallel batch at once (see [`CandleGenerator::lanes`]).
pub(crate) struct Shared {
    tokenizer: Tokenizer,
    token_bytes: Vec<Vec<u8>>,
    full_stops: Vec<u32>,
    eos: Vec<u32>,
    chat: ChatTemplate,
    info: ModelInfo,
}

const END_TOKENS: &[&str] = &[
    "<|im_end|>",
    "<|endoftext|>",
    "<|eot_id|>",
    "<|end_of_text|>",
    "<end_of_turn>",
    "<eos>",
    "<|eom_id|>",
];

/// Files of kept prompt beginnings left in their folder: those of other
/// models, kernel paths and builds, newest first.
const BEGINNING_FILES: usize = 4;

/// Deletes all but the [`BEGINNING_FILES`] newest files of kept
/// beginnings in `dir` (and their recent prompts), never `keep`: each
/// build leaves one behind.
fn forget_old_beginnings(dir: &std::path::Path, keep: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, std::path::PathBuf)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "kv") && p != keep)
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    for (_, old) in files.into_iter().skip(BEGINNING_FILES - 1) {
        let _ = std::fs::remove_file(old.with_extension("recent"));
        let _ = std::fs::remove_file(old);
    }
}

impl CandleGenerator {
    /// Loads a model from local files only.
    pub fn load(opts: &LoadOptions) -> Result<Self> {
        let t0 = Instant::now();
        kernel_path()?;
        let device = Device::Cpu;
        let loaded = Model::load(&opts.gguf, &device)?;
        let md = &loaded.metadata;
        let tokenizer = match &opts.tokenizer_json {
            Some(p) => Tokenizer::from_file(p).map_err(Error::Tokenizer)?,
            None => tokenizer::from_gguf(md)?,
        };
        let kind = md
            .get("tokenizer.ggml.model")
            .and_then(|v| v.to_string().ok().cloned())
            .unwrap_or_else(|| "gpt2".into());
        let token_bytes = tokenizer::token_bytes(&tokenizer, &kind);
        let tok_at = |key: &str| {
            md.get(key)
                .and_then(|v| v.to_u32().ok())
                .and_then(|id| tokenizer.id_to_token(id))
                .unwrap_or_default()
        };
        let (bos, eos_tok) = (
            tok_at("tokenizer.ggml.bos_token_id"),
            tok_at("tokenizer.ggml.eos_token_id"),
        );
        let mut eos: Vec<u32> = END_TOKENS
            .iter()
            .filter_map(|t| tokenizer.token_to_id(t))
            .collect();
        if let Some(id) = tokenizer.token_to_id(&eos_tok) {
            eos.push(id);
        }
        let chat = pick_chat_template(md, &loaded.architecture, &tokenizer, &bos, &eos_tok);
        let info = ModelInfo {
            id: opts.id.clone(),
            architecture: loaded.architecture.clone(),
            sha256: opts.sha256.clone(),
            licence: opts.licence.clone(),
            context_length: loaded.context_length,
        };
        Ok(Self {
            model: loaded.model,
            device,
            shared: Shared {
                tokenizer,
                full_stops: decode::full_stop_tokens(&token_bytes),
                token_bytes,
                eos,
                chat,
                info,
            },
            load_secs: t0.elapsed().as_secs_f64(),
            file_bytes: std::fs::metadata(&opts.gguf).map_or(0, |m| m.len()),
        })
    }

    /// The tokenizer in use.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.shared.tokenizer
    }

    /// The chat template in use.
    pub fn chat_template(&self) -> &ChatTemplate {
        &self.shared.chat
    }

    /// Token ids of `text` (special tokens in the text are recognized).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        self.shared.encode(text)
    }

    /// Logits after `ids` in one forward pass from an empty cache.
    pub fn logits(&mut self, ids: &[u32]) -> Result<Vec<f32>> {
        self.model.clear();
        Ok(self.model.prefill(ids, &self.device)?.0)
    }

    /// Keeps the prompt beginnings that prompts share (the instructions
    /// and worked examples every digest prompt starts with) in `dir` as
    /// well, in a file named after the model's sha256, the kernel path and
    /// this build, so that the next run starts with them. Nothing is kept
    /// for a model without a known sha256.
    pub fn keep_prompt_beginnings_in(&mut self, dir: &std::path::Path) -> Result<()> {
        if self.shared.info.sha256.is_empty()
            || std::env::var("KHULASA_PROMPT_CACHE").is_ok_and(|v| v == "off")
        {
            return Ok(());
        }
        // This build: the executable's size and time, and the version.
        let exe = std::env::current_exe()
            .and_then(std::fs::metadata)
            .map(|m| format!("{} {:?}", m.len(), m.modified().ok()))
            .unwrap_or_default();
        let key = format!(
            "{}|{}|{}|{}",
            self.shared.info.sha256,
            kernel_path()?.name(),
            env!("CARGO_PKG_VERSION"),
            exe
        );
        let name = crate::article::sha256_hex(key.as_bytes());
        let file = dir.join(format!("{}.kv", &name[..32]));
        forget_old_beginnings(dir, &file);
        self.model.keep_prefixes_in(file);
        Ok(())
    }

    /// Times a prompt pass over `prompt` and `generate` greedy decode steps
    /// (end-of-turn tokens ignored): `(prompt_secs, generate_secs)`.
    pub fn bench(&mut self, prompt: &[u32], generate: usize) -> Result<(f64, f64)> {
        let t0 = Instant::now();
        let mut logits = self.logits(prompt)?;
        let prompt_secs = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        for pos in prompt.len()..prompt.len() + generate {
            logits = self.model.forward(&[argmax(&logits)], pos, &self.device)?;
        }
        Ok((prompt_secs, t1.elapsed().as_secs_f64()))
    }

    /// Times `generate` greedy decode steps of `n` sequences after
    /// `prompt` (each starting from its own token, so they differ), first
    /// one sequence at a time and then all in one batched step each:
    /// `(one_at_a_time_secs, batched_secs)`, both for `n * generate` tokens.
    /// An error for models without batched decoding.
    pub fn bench_parallel(
        &mut self,
        prompt: &[u32],
        generate: usize,
        n: usize,
    ) -> Result<(f64, f64)> {
        let device = self.device.clone();
        let Some(m) = self.model.batched() else {
            return Err(Error::Generation(format!(
                "batched decoding needs a qwen2 model, not {}",
                self.shared.info.architecture
            )));
        };
        let vocab = self.shared.token_bytes.len().max(1) as u32;
        let mut starts = Vec::with_capacity(n);
        for slot in 0..n {
            m.select(slot);
            let (logits, _) = m.prefill(prompt, &device)?;
            starts.push((argmax(&logits) + slot as u32) % vocab);
        }
        // One at a time, each sequence its `generate` steps.
        let t0 = Instant::now();
        for (slot, &first) in starts.iter().enumerate() {
            m.select(slot);
            let mut next = first;
            for pos in prompt.len()..prompt.len() + generate {
                next = argmax(&m.forward(&[next], pos, &device)?);
            }
        }
        let alone = t0.elapsed().as_secs_f64();
        // Together: one step for all, from the same prompts again.
        let t1 = Instant::now();
        let mut next = starts.clone();
        for pos in prompt.len()..prompt.len() + generate {
            let steps: Vec<(usize, u32, usize)> =
                next.iter().enumerate().map(|(s, &t)| (s, t, pos)).collect();
            let logits = m.forward_steps(&steps, &device)?;
            next = logits.iter().map(|l| argmax(l)).collect();
        }
        let together = t1.elapsed().as_secs_f64();
        m.release_slots();
        Ok((alone, together))
    }

    /// `n` greedy tokens after `prompt` (end-of-turn tokens included), from
    /// an empty cache.
    pub fn greedy(&mut self, prompt: &[u32], n: usize) -> Result<Vec<u32>> {
        let mut logits = self.logits(prompt)?;
        let mut out = Vec::with_capacity(n);
        for pos in prompt.len()..prompt.len() + n {
            let next = argmax(&logits);
            out.push(next);
            if out.len() < n {
                logits = self.model.forward(&[next], pos, &self.device)?;
            }
        }
        Ok(out)
    }

    /// `n` greedy steps after `prompt` from an empty cache: each step's
    /// logits and the token chosen from them.
    pub fn greedy_logits(&mut self, prompt: &[u32], n: usize) -> Result<Vec<(u32, Vec<f32>)>> {
        let mut logits = self.logits(prompt)?;
        let mut out = Vec::with_capacity(n);
        for pos in prompt.len()..prompt.len() + n {
            let next = argmax(&logits);
            let step = if out.len() + 1 < n {
                std::mem::replace(&mut logits, self.model.forward(&[next], pos, &self.device)?)
            } else {
                std::mem::take(&mut logits)
            };
            out.push((next, step));
        }
        Ok(out)
    }

    /// Logits after `ids` fed one token at a time through the KV cache.
    pub fn logits_incremental(&mut self, ids: &[u32]) -> Result<Vec<f32>> {
        self.model.clear();
        let mut out = Vec::new();
        for (pos, id) in ids.iter().enumerate() {
            out = self.model.forward(&[*id], pos, &self.device)?;
        }
        Ok(out)
    }
}

fn argmax(logits: &[f32]) -> u32 {
    logits
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i as u32)
}

fn pick_chat_template(
    md: &std::collections::HashMap<String, candle_core::quantized::gguf_file::Value>,
    arch: &str,
    tk: &Tokenizer,
    bos: &str,
    eos: &str,
) -> ChatTemplate {
    let probe = [Message::system("s"), Message::user("u")];
    if let Some(src) = md
        .get("tokenizer.chat_template")
        .and_then(|v| v.to_string().ok())
    {
        let t = ChatTemplate::new(src.clone(), "gguf", bos, eos);
        if t.render(&probe).is_ok_and(|s| s.contains('u')) {
            return t;
        }
    }
    ChatTemplate::preset(arch, tk.token_to_id("<|eot_id|>").is_some(), bos, eos)
}

impl TokenCounter for CandleGenerator {
    fn count(&self, text: &str) -> usize {
        self.shared.count(text)
    }
}

impl Generator for CandleGenerator {
    fn info(&self) -> &ModelInfo {
        &self.shared.info
    }

    fn prompt_tokens(&self, messages: &[Message]) -> Result<usize> {
        self.shared.prompt_tokens(messages)
    }

    fn generate(&mut self, request: &Request<'_>) -> Result<Generation> {
        let mut passes = decode::Local {
            model: &mut self.model,
            device: &self.device,
        };
        self.shared.generate(&mut passes, request)
    }

    fn yes_no(&mut self, messages: &[Message]) -> Result<Option<f32>> {
        let prompt = self.shared.chat_prompt(messages)?;
        let (logits, _) = self.model.prefill(&prompt, &self.device)?;
        Ok(Some(self.shared.yes_no_odds(&logits)))
    }

    fn lane_memory(&self) -> Option<crate::generate::LaneMemory> {
        Some(crate::generate::LaneMemory {
            weights_bytes: self.file_bytes,
            kv_bytes_per_position: self.model.lane_kv_bytes_per_position()?,
            shared_bytes: self.model.kept_prefix_bytes()?,
        })
    }
    fn lanes(&mut self, n: usize, work: &mut dyn FnMut(Vec<Lane<'_>>)) -> Result<()> {
        match self.model.batched() {
            Some(model) if n > 1 => {
                lanes::serve(model, &self.device, &self.shared, n, work);
                Ok(())
            }
            _ => one_at_a_time(self, n, work),
        }
    }
}

impl Shared {
    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self
            .tokenizer
            .encode(text, false)
            .map_err(Error::Tokenizer)?
            .get_ids()
            .to_vec())
    }

    fn count(&self, text: &str) -> usize {
        self.tokenizer
            .encode(text, false)
            .map(|e| e.len())
            .unwrap_or_else(|_| text.len())
    }

    fn prompt_tokens(&self, messages: &[Message]) -> Result<usize> {
        Ok(self.encode(&self.chat.render(messages)?)?.len())
    }

    /// Runs the decode loop for `request` on `passes`.
    fn generate(
        &self,
        passes: &mut dyn decode::Passes,
        request: &Request<'_>,
    ) -> Result<Generation> {
        let prompt = self.chat_prompt(&request.messages)?;
        let vocab = decode::Vocab {
            token_bytes: &self.token_bytes,
            full_stops: &self.full_stops,
            eos: &self.eos,
            context_length: self.info.context_length,
        };
        let out = decode::run(passes, &prompt, request, &vocab)?;
        let text = match &out.bytes {
            Some(b) => String::from_utf8_lossy(b).into_owned(),
            None => self
                .tokenizer
                .decode(&out.ids, true)
                .map_err(Error::Tokenizer)?,
        };
        Ok(Generation {
            text,
            prompt_tokens: prompt.len(),
            reused_prompt_tokens: out.reused,
            generated_tokens: out.ids.len(),
            prompt_secs: out.prompt_secs,
            generate_secs: out.generate_secs,
            stop: out.stop,
            notes: out.notes,
            limits: out.limits,
        })
    }

    /// The log-odds of "Yes" over "No" in a prompt's last logits.
    fn yes_no_odds(&self, logits: &[f32]) -> f32 {
        let odds = |words: &[&str]| -> f32 {
            let mut ids: Vec<u32> = words
                .iter()
                .filter_map(|w| self.tokenizer.token_to_id(w))
                .collect();
            ids.sort_unstable();
            ids.dedup();
            log_sum_exp(ids.iter().filter_map(|&i| logits.get(i as usize).copied()))
        };
        odds(YES) - odds(NO)
    }

    /// The token ids of `messages` rendered with the chat template, refused
    /// when they leave no room in the model's context.
    fn chat_prompt(&self, messages: &[Message]) -> Result<Vec<u32>> {
        let prompt = self.encode(&self.chat.render(messages)?)?;
        if prompt.len() >= self.info.context_length {
            return Err(Error::Generation(format!(
                "prompt of {} tokens does not fit the model's context of {}; lower --context-tokens",
                prompt.len(),
                self.info.context_length
            )));
        }
        Ok(prompt)
    }
}

/// Tokens that open a "yes" or a "no" reply (byte-level BPE marks a leading
/// space with "Ġ", SentencePiece with "▁").
const YES: &[&str] = &["Yes", "yes", "YES", "ĠYes", "Ġyes", "▁Yes", "▁yes"];
const NO: &[&str] = &["No", "no", "NO", "ĠNo", "Ġno", "▁No", "▁no"];

fn log_sum_exp(xs: impl Iterator<Item = f32>) -> f32 {
    let xs: Vec<f32> = xs.collect();
    let m = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !m.is_finite() {
        return m;
    }
    m + xs.iter().map(|x| (x - m).exp()).sum::<f32>().ln()
}

#[cfg(test)]
mod tests {
    #[test]
    fn old_files_of_kept_beginnings_are_deleted_but_the_newest_stay() {
        let dir = tempfile::tempdir().unwrap();
        let at = |i: u64| dir.path().join(format!("{i:02}.kv"));
        let start = std::time::SystemTime::now() - std::time::Duration::from_secs(100);
        for i in 0..6u64 {
            for p in [at(i), at(i).with_extension("recent")] {
                let f = std::fs::File::create(&p).unwrap();
                f.set_modified(start + std::time::Duration::from_secs(i))
                    .unwrap();
            }
        }
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        // The one in use (the oldest here) stays, with the three newest.
        super::forget_old_beginnings(dir.path(), &at(0));
        for i in 0..6 {
            let kept = i == 0 || i >= 3;
            assert_eq!(at(i).exists(), kept, "{i}");
            assert_eq!(at(i).with_extension("recent").exists(), kept, "{i}");
        }
        assert!(dir.path().join("notes.txt").exists());
    }
}
