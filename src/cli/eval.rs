//! `khulasa eval`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::summarize::EngineArgs;
use super::translate::TranslatorArgs;
use crate::eval;
use crate::generate::Generator;
use crate::lang::Lang;
use crate::summarize::Summarizer;

/// Arguments of `khulasa eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Data with references: the CNN/DailyMail CSV (`id,article,highlights`) or a JSONL of
    /// `{"document","summary"}`; with --to, the NTREX-128 folder or a JSONL of `{"source","reference"}`.
    #[arg(long)]
    pub data: PathBuf,
    /// What to score: `summarize` (default; with --to, translation), `read`
    /// (the article reader on a folder of saved pages in Readability's layout,
    /// as HTML and as pasted pages) or `facts` (the meaning check on a JSONL of
    /// `{"article", "claim", "label"}`; --results writes each verdict).
    #[arg(long, value_enum, default_value_t = Task::Summarize)]
    pub task: Task,
    /// With --task read: score only these page folders (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub pages: Vec<String>,
    /// With --task read: also write every pasted line's reader features as
    /// JSONL here (for `tools/fit-paste-reader.py`).
    #[arg(long)]
    pub dump_lines: Option<PathBuf>,
    /// Score translation into this language (ur, ps) instead of summarization.
    #[arg(long)]
    pub to: Option<Lang>,
    /// Translation backend and options (with --to).
    #[command(flatten)]
    pub translator: TranslatorArgs,
    /// Score only the first N documents.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Also write the report as JSON here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Summarization: append each article's digest and checks to this JSONL
    /// file as soon as it is done; a rerun with the same file skips the
    /// articles already in it and scores them all (resuming an interrupted run).
    #[arg(long)]
    pub results: Option<PathBuf>,
    /// Summarization: articles in flight at once, as in `khulasa batch
    /// --parallel` (their decode steps run as one batched pass). The default
    /// is one at a time, so that a rerun gives the same digests: with
    /// several, which articles share a lane's cached prompt depends on
    /// timing, and a digest can part at a near tie.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=8))]
    pub parallel: u16,
    /// Most memory for the model and the lanes' KV caches, as in `khulasa
    /// batch --max-memory`.
    #[arg(long, value_parser = super::batch::parse_bytes)]
    pub max_memory: Option<u64>,
    /// Model and decoding options.
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// What `khulasa eval` scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Task {
    /// Digests against reference summaries (or translation, with --to).
    Summarize,
    /// The article reader against expected article text.
    Read,
    /// The meaning check on labelled claims: a JSONL of `{"article", "claim", "label"}`.
    Facts,
}

/// Runs `khulasa eval`.
pub fn run(a: EvalArgs) -> anyhow::Result<ExitCode> {
    if a.task == Task::Read {
        return run_read(&a);
    }
    if a.task == Task::Facts {
        return run_facts(&a);
    }
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, crate::batch::stop_flag().clone())?;
    }
    if let Some(to) = a.to {
        return run_translation(&a, to);
    }
    let examples = eval::load(&a.data, a.limit)?;
    let (prompts, mut g, _) = a.engine.load()?;
    let (parallel, _) =
        super::batch::fit_lanes(g.as_ref(), &a.engine, a.parallel, a.max_memory, false)?;
    let summarizer = Summarizer::new(&prompts, a.engine.summarize_options());
    let total = examples.len();
    let done = match &a.results {
        Some(p) => eval::read_results(p)?,
        None => Vec::new(),
    };
    let earlier = |failed: bool| {
        examples
            .iter()
            .filter(|e| {
                done.iter()
                    .any(|r| r.id == e.id && r.error.is_some() == failed)
            })
            .count()
    };
    let (resumed, retried) = (earlier(false), earlier(true));
    if resumed + retried > 0 {
        eprintln!(
            "{resumed} of {total} articles already in the results file; resuming \
             ({retried} that failed are tried again)"
        );
    }
    let mut sink = match &a.results {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| crate::Error::io(p, e))?,
        ),
        None => None,
    };
    let report = eval::run_summarization(
        g.as_mut(),
        &summarizer,
        &a.data.display().to_string(),
        &examples,
        done,
        parallel,
        |i, id| eprintln!("[{}/{total}] {id}", i + 1),
        |r| {
            if let (Some(f), Some(p)) = (sink.as_mut(), a.results.as_ref()) {
                use std::io::Write;
                let line = serde_json::to_string(r).map_err(|source| crate::Error::Json {
                    what: "evaluation result".into(),
                    source,
                })?;
                writeln!(f, "{line}").map_err(|e| crate::Error::io(p, e))?;
            }
            Ok(())
        },
    )?;
    super::print(&eval::table(&report))?;
    if let Some(p) = &a.report {
        let json = serde_json::to_vec_pretty(&report)?;
        crate::batch::store::write_atomic(p, &json)?;
    }
    Ok(if report.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `khulasa eval --to LANG`: translation of English sentences, scored.
fn run_translation(a: &EvalArgs, to: Lang) -> anyhow::Result<ExitCode> {
    let pairs = eval::translation::load_pairs(&a.data, to, a.limit)?;
    let (prompts, mut generator) = a.engine.base.load_if(a.translator.needs_generator())?;
    let g = generator
        .as_mut()
        .map(|(g, _)| g.as_mut() as &mut dyn Generator);
    let mut t = a.translator.open(g, &prompts, a.engine.base.offline)?;
    let total = pairs.len();
    let report = eval::translation::run_translation(
        t.as_mut(),
        &a.data.display().to_string(),
        &pairs,
        Lang::En,
        to,
        a.translator.options(),
        |i, id| eprintln!("[{}/{total}] {id}", i + 1),
    )?;
    super::print(&eval::translation::translation_table(&report))?;
    if let Some(p) = &a.report {
        crate::batch::store::write_atomic(p, &serde_json::to_vec_pretty(&report)?)?;
    }
    Ok(if report.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `khulasa eval --task facts`: the meaning check on labelled claims.
fn run_facts(a: &EvalArgs) -> anyhow::Result<ExitCode> {
    use super::summarize::MeaningCheck;
    let examples = eval::facts::load(&a.data, a.limit)?;
    let use_model = a.engine.meaning_check == MeaningCheck::Model;
    let (prompts, mut generator) = a.engine.base.load_if(use_model)?;
    let judge_name = generator
        .as_ref()
        .map_or("none".to_string(), |(g, _)| g.info().id.clone());
    let judge = generator
        .as_mut()
        .map(|(g, _)| (g.as_mut() as &mut dyn Generator, &prompts));
    let total = examples.len();
    let results = eval::facts::run(&examples, judge, |i| {
        if (i + 1) % 25 == 0 || i + 1 == total {
            eprintln!("[{}/{total}]", i + 1);
        }
    })?;
    if let Some(p) = &a.results {
        let mut out = String::new();
        for r in &results {
            out.push_str(&serde_json::to_string(r)?);
            out.push('\n');
        }
        crate::batch::store::write_atomic(p, out.as_bytes())?;
    }
    let report = eval::facts::report(&a.data.display().to_string(), &judge_name, &results);
    super::print(&eval::facts::table(&report))?;
    if let Some(p) = &a.report {
        crate::batch::store::write_atomic(p, &serde_json::to_vec_pretty(&report)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `khulasa eval --task read`: the reader on saved pages, HTML and pasted.
fn run_read(a: &EvalArgs) -> anyhow::Result<ExitCode> {
    use eval::read::{self, Mode};
    let pages = read::load_pages(&a.data, &a.pages)?;
    let opts = a.engine.read_options();
    if let Some(path) = &a.dump_lines {
        read::dump_lines(&pages, path)?;
    }
    let reports = [
        read::run(&pages, Mode::Html, &opts)?,
        read::run(&pages, Mode::Pasted, &opts)?,
    ];
    super::print(&read::table(&reports, a.engine.base.verbose))?;
    if let Some(p) = &a.report {
        crate::batch::store::write_atomic(p, &serde_json::to_vec_pretty(&reports)?)?;
    }
    Ok(ExitCode::SUCCESS)
}
