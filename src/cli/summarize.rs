//! `khulasa summarize`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;

use crate::article::{self, ReadOptions, DEFAULT_MAX_BYTES};
use crate::generate::candle::{self as engine, CandleGenerator, LoadOptions};
use crate::generate::{Generator, ScriptedGenerator};
use crate::lang::Lang;
use crate::models::{self, Fetch};
use crate::output::{self, OutputFormat};
use crate::prompt::Prompts;
use crate::summarize::{OnUngrounded, SummarizeOptions, Summarizer};

use super::translate::TranslatorArgs;
use crate::translate::translate_into;

/// The summarization model and its prompts: shared by every command that
/// loads the model.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Model id (see `khulasa models list`) or a .gguf file. Default: the default model.
    #[arg(long, env = "KHULASA_MODEL")]
    pub model: Option<String>,
    /// Use only local files; never download.
    #[arg(long)]
    pub offline: bool,
    /// Compute threads (default: physical cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Folder of prompt overrides (digest.toml, notes.toml, reduce.toml, collapse.toml, translate.toml).
    #[arg(long)]
    pub prompts: Option<PathBuf>,
    /// Print stage timings and tokens/s to stderr.
    #[arg(short, long)]
    pub verbose: bool,
}

impl ModelArgs {
    /// Sets threads, loads prompts and the model.
    pub fn load(&self) -> anyhow::Result<(Prompts, Box<dyn Generator>, f64)> {
        let (prompts, g) = self.load_if(true)?;
        let (g, load) = g.expect("loaded when asked");
        Ok((prompts, g, load))
    }

    /// Sets threads, loads prompts, and the model only when `needed`
    /// (translation backends other than `llm` do not use it).
    #[allow(clippy::type_complexity)]
    pub fn load_if(
        &self,
        needed: bool,
    ) -> anyhow::Result<(Prompts, Option<(Box<dyn Generator>, f64)>)> {
        super::set_threads(self.threads);
        let prompts = Prompts::load(self.prompts.as_deref())?;
        let g = if needed {
            Some(load_generator(
                self.model.as_deref(),
                self.offline,
                self.verbose,
            )?)
        } else {
            None
        };
        Ok((prompts, g))
    }
}

/// Model, decoding and reading options shared by `summarize`, `batch` and `eval`.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// Model, threads and prompts.
    #[command(flatten)]
    pub base: ModelArgs,
    /// Sampling temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    /// Seed for sampling.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Penalty for tokens already written in the same field (1 = off).
    #[arg(long, default_value_t = crate::generate::Sampling::default().repeat_penalty,
          value_parser = parse_penalty)]
    pub repeat_penalty: f32,
    /// Most tokens for the digest JSON.
    #[arg(long, default_value_t = 512)]
    pub max_new_tokens: usize,
    /// Chunk budget: most article tokens in one model call.
    #[arg(long, default_value_t = crate::summarize::DEFAULT_CONTEXT_TOKENS)]
    pub context_tokens: usize,
    /// Most chunks (model passes over the article) before an input is
    /// refused as too long for one digest.
    #[arg(long, default_value_t = crate::summarize::DEFAULT_MAX_CHUNKS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_chunks: usize,
    /// Most key facts (at least 3).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(3..=20))]
    pub max_facts: u16,
    /// Largest input accepted, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_BYTES)]
    pub max_input_bytes: usize,
    /// Keep lines that look like page furniture (share links, bylines, captions).
    #[arg(long)]
    pub keep_furniture: bool,
    /// What to do with a fact or number the article does not support.
    #[arg(long, value_enum, default_value = "flag")]
    pub on_ungrounded: OnUngrounded,
    /// Do not rewrite an unsupported key fact from its evidence before
    /// --on-ungrounded applies.
    #[arg(long)]
    pub no_regenerate: bool,
    /// How each fact, the headline and each summary sentence are checked for
    /// meaning against their evidence: `model` (the words, then the model's
    /// yes/no judgement) or `words` (the lexical checks alone; faster).
    #[arg(long, value_enum, default_value = "model")]
    pub meaning_check: MeaningCheck,
    /// Headline-and-summary candidates to choose from: the digest's own and
    /// N - 1 sampled from the same prompt; the one that best covers the
    /// article's leading, central sentences and agrees with the others is
    /// kept, and the digest lists them all.
    #[arg(long, default_value_t = crate::summarize::DEFAULT_CANDIDATES,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=8))]
    pub candidates: usize,
    /// Temperature of the sampled candidates.
    #[arg(long, default_value_t = 0.7)]
    pub candidate_temperature: f64,
}

/// How claims are checked for meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MeaningCheck {
    /// Lexical checks and the model's yes/no judgement.
    Model,
    /// Lexical checks alone.
    Words,
}

impl EngineArgs {
    /// Reading options.
    pub fn read_options(&self) -> ReadOptions {
        ReadOptions {
            max_bytes: self.max_input_bytes,
            strip_furniture: !self.keep_furniture,
        }
    }

    /// Summarizing options.
    pub fn summarize_options(&self) -> SummarizeOptions {
        let mut opts = SummarizeOptions {
            context_tokens: self.context_tokens,
            max_new_tokens: self.max_new_tokens,
            ..Default::default()
        };
        opts.shape.max_facts = self.max_facts;
        opts.sampling.temperature = self.temperature;
        opts.sampling.seed = self.seed;
        opts.sampling.repeat_penalty = self.repeat_penalty;
        opts.on_ungrounded = self.on_ungrounded;
        opts.regenerate_facts = !self.no_regenerate;
        opts.judge = self.meaning_check == MeaningCheck::Model;
        opts.max_chunks = self.max_chunks;
        opts.candidates = self.candidates;
        opts.candidate_temperature = self.candidate_temperature;
        opts
    }

    /// Sets threads, loads prompts and the model.
    pub fn load(&self) -> anyhow::Result<(Prompts, Box<dyn Generator>, f64)> {
        self.base.load()
    }
}

/// Arguments of `khulasa summarize`.
#[derive(Debug, Args)]
pub struct SummarizeArgs {
    /// Article file (txt, md, html, json), or - for stdin.
    #[arg(default_value = "-")]
    pub input: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
    /// Show the source sentences behind each key fact (text and Markdown).
    #[arg(long)]
    pub evidence: bool,
    /// Also translate the digest into these languages (ur, ps, en; comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub translate: Vec<Lang>,
    /// Translation backend and options.
    #[command(flatten)]
    pub translator: TranslatorArgs,
    /// Model and decoding options.
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Loads the generator named by `--model`.
pub(crate) fn load_generator(
    model: Option<&str>,
    offline: bool,
    verbose: bool,
) -> anyhow::Result<(Box<dyn Generator>, f64)> {
    let name = model.map_or_else(models::default_id, str::to_string);
    if let Some(path) = name.strip_prefix("scripted:") {
        return Ok((Box::new(ScriptedGenerator::from_file(path.as_ref())?), 0.0));
    }
    let t0 = Instant::now();
    let r = models::resolve(&name, Fetch { offline, verbose })?;
    if verbose {
        eprintln!(
            "[resolve] {} from {} ({}) in {:.2}s",
            r.id,
            r.origin,
            r.gguf.display(),
            t0.elapsed().as_secs_f64()
        );
    }
    let mut g = CandleGenerator::load(&LoadOptions {
        gguf: r.gguf,
        tokenizer_json: r.tokenizer_json,
        id: r.id,
        sha256: r.sha256,
        licence: r.licence,
    })?;
    g.keep_prompt_beginnings_in(&models::cache_dir().join("prompt-beginnings"))?;
    let load = g.load_secs;
    if verbose {
        eprintln!(
            "[load] {} ({}) in {load:.2}s, {} threads, kernels {}, chat template {}",
            g.info().id,
            g.info().architecture,
            engine::threads(),
            crate::generate::candle::kernel_path()?.name(),
            g.chat_template().origin
        );
    }
    Ok((Box::new(g), load))
}

/// Runs `khulasa summarize`.
pub fn run(a: SummarizeArgs) -> anyhow::Result<ExitCode> {
    let e = &a.engine;
    let t_read = Instant::now();
    let art = article::read(&a.input, &e.read_options())?;
    if e.base.verbose {
        eprintln!(
            "[read] {} as {:?}, {} words, language {}, {} furniture lines removed, {:.3}s",
            art.source,
            art.format,
            art.word_count,
            art.lang,
            art.furniture_removed.len(),
            t_read.elapsed().as_secs_f64()
        );
    }
    let (prompts, mut g, load_secs) = e.load()?;
    let mut digest = Summarizer::new(&prompts, e.summarize_options()).run(g.as_mut(), &art)?;
    digest.timings.load_secs = load_secs;
    if !a.translate.is_empty() {
        let t0 = Instant::now();
        let mut t = a
            .translator
            .open(Some(g.as_mut()), &prompts, e.base.offline)?;
        translate_into(
            t.as_mut(),
            &mut digest,
            &a.translate,
            a.translator.options(),
        )?;
        if e.base.verbose {
            eprintln!(
                "[translate] {} in {:.2}s",
                a.translate
                    .iter()
                    .map(|l| l.code())
                    .collect::<Vec<_>>()
                    .join(","),
                t0.elapsed().as_secs_f64()
            );
        }
    }
    if e.base.verbose {
        for p in &digest.passes {
            eprintln!(
                "[{} {}] prompt {} tokens ({} reused), generated {} tokens, stop {}",
                p.stage,
                p.index,
                p.prompt_tokens,
                p.reused_prompt_tokens,
                p.generated_tokens,
                p.stop
            );
        }
        let t = &digest.timings;
        eprintln!(
            "[timings] load {:.2}s | prompt {} tokens ({} reused) in {:.2}s ({:.1} tok/s) | generation {} tokens in {:.2}s ({:.1} tok/s) | summarize {:.2}s, of which checking {:.2}s ({} claims judged), rewriting facts {:.2}s | chunks {}",
            t.load_secs, t.prompt_tokens, t.reused_prompt_tokens, t.prompt_secs, t.prompt_tokens_per_sec, t.generated_tokens, t.generate_secs, t.generated_tokens_per_sec, t.total_secs, t.check_secs, t.judged_claims, t.rewrite_secs, digest.chunks
        );
    }
    super::print(&output::render(&digest, a.format, a.evidence)?)?;
    Ok(ExitCode::SUCCESS)
}

/// A repeat penalty: a number from 1 (off) to 2.
fn parse_penalty(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if (1.0..=2.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "`{s}` is not a repeat penalty: give a number from 1 (off) to 2"
        )),
    }
}
