//! `khulasa batch` and `khulasa merge`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::summarize::EngineArgs;
use crate::batch::{self, BatchOptions, Outcome, Progress, Shard, Store};
use crate::error::Error;
use crate::summarize::Summarizer;

/// Arguments of `khulasa batch`.
#[derive(Debug, Args)]
pub struct BatchArgs {
    /// Folders (recursive), JSONL files, @lists of paths, or files.
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// Output folder: digests/, failures/, digests.jsonl, report.json.
    #[arg(long)]
    pub out: PathBuf,
    /// File-name glob for folders.
    #[arg(long, default_value = batch::inputs::DEFAULT_GLOB)]
    pub glob: String,
    /// Take only shard K of N (K from 0), or `auto` from Slurm / Kubernetes variables.
    #[arg(long, value_parser = Shard::parse)]
    pub shard: Option<Shard>,
    /// Stop taking new articles at this local time (HH:MM).
    #[arg(long)]
    pub deadline: Option<String>,
    /// Rerun only the articles that failed last time.
    #[arg(long)]
    pub retry_failed: bool,
    /// No progress output.
    #[arg(short, long)]
    pub quiet: bool,
    /// Articles in flight at once: their decode steps run as one batched
    /// pass, so the weights are read once for all of them (digests are the
    /// same as one at a time). 1 is one at a time.
    #[arg(long, default_value_t = DEFAULT_PARALLEL, value_parser = clap::value_parser!(u16).range(1..=8))]
    pub parallel: u16,
    /// Model and decoding options.
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Articles in flight at once unless `--parallel` says otherwise.
pub const DEFAULT_PARALLEL: u16 = 4;

/// Arguments of `khulasa merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Shard output folders.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Merged output folder.
    #[arg(long)]
    pub out: PathBuf,
}

/// `HH:MM` → the next such local time.
fn parse_deadline(s: &str) -> Result<std::time::SystemTime, Error> {
    use chrono::{Local, NaiveTime, TimeZone};
    let t = NaiveTime::parse_from_str(s, "%H:%M").map_err(|_| {
        Error::bad_input(
            format!("--deadline {s}"),
            "use a local time as HH:MM, e.g. 06:30",
        )
    })?;
    let now = Local::now();
    let mut day = now.date_naive();
    if day.and_time(t) <= now.naive_local() {
        day = day.succ_opt().unwrap_or(day);
    }
    let when = Local
        .from_local_datetime(&day.and_time(t))
        .earliest()
        .ok_or_else(|| {
            Error::bad_input(
                format!("--deadline {s}"),
                "that local time does not exist today (clock change); pick another",
            )
        })?;
    Ok(when.into())
}

/// Runs `khulasa batch`.
pub fn run(a: BatchArgs) -> anyhow::Result<ExitCode> {
    let deadline = a.deadline.as_deref().map(parse_deadline).transpose()?;
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, batch::stop_flag().clone())?;
    }
    let store = Store::new(&a.out);
    let _held = store.lock()?;
    let (items, unreadable) = batch::collect(&a.inputs, &a.glob);
    let (prompts, mut g, _) = a.engine.load()?;
    let sopts = a.engine.summarize_options();
    let options_id = format!("{sopts:?}");
    let summarizer = Summarizer::new(&prompts, sopts);
    let opts = BatchOptions {
        read: a.engine.read_options(),
        shard: a.shard,
        retry_failed: a.retry_failed,
        deadline,
        options_id,
        parallel: usize::from(a.parallel),
    };
    let mut progress = Progress::new(a.quiet);
    let (report, outcome) = batch::run(
        g.as_mut(),
        &summarizer,
        items,
        unreadable,
        &store,
        &opts,
        &mut progress,
    )?;
    if !a.quiet {
        eprintln!(
            "khulasa: {} of {} articles have digests ({} kept from earlier runs), {} failed, {} pending; report in {}",
            report.succeeded,
            report.total,
            report.skipped_existing,
            report.failed.len(),
            report.pending.len(),
            a.out.join("report.json").display()
        );
    }
    Ok(match outcome {
        Outcome::AllSucceeded => ExitCode::SUCCESS,
        Outcome::SomeFailed => ExitCode::from(1),
        Outcome::Interrupted => ExitCode::from(130),
    })
}

/// Runs `khulasa merge`.
pub fn merge(a: MergeArgs) -> anyhow::Result<ExitCode> {
    let out = Store::new(&a.out);
    let _held = out.lock()?;
    let report = batch::merge(&a.dirs, &out)?;
    eprintln!(
        "khulasa: merged {} folders: {} digests, {} failed, {} pending",
        a.dirs.len(),
        report.succeeded,
        report.failed.len(),
        report.pending.len()
    );
    Ok(if report.failed.is_empty() && report.pending.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
