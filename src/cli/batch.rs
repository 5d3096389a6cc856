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
    /// Most memory for the model and the lanes' KV caches (e.g. 2G, 1500M):
    /// `--parallel` is lowered, with a warning, to the lanes that fit.
    #[arg(long, value_parser = parse_bytes)]
    pub max_memory: Option<u64>,
    /// Model and decoding options.
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Articles in flight at once unless `--parallel` says otherwise.
pub const DEFAULT_PARALLEL: u16 = 4;

/// A memory size: bytes, or a number with K, M, G or T (powers of 1024;
/// `KiB`, `MB`, `GB`… are read the same way).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{s}' is not a size; use e.g. 2G, 1500M or 800MiB"))?;
    let power = match unit
        .trim()
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 0,
        "K" => 1,
        "M" => 2,
        "G" => 3,
        "T" => 4,
        _ => return Err(format!("'{s}' has an unknown unit; use K, M, G or T")),
    };
    let bytes = value * 1024f64.powi(power);
    if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("'{s}' is not a usable size"));
    }
    Ok(bytes as u64)
}

/// The lanes that fit `--max-memory` (see [`batch::lanes_within`]), with a
/// warning when fewer than asked; the note goes into the report too.
pub(super) fn fit_lanes(
    g: &dyn crate::generate::Generator,
    engine: &EngineArgs,
    requested: u16,
    max_memory: Option<u64>,
    quiet: bool,
) -> anyhow::Result<(usize, Option<String>)> {
    let sopts = engine.summarize_options();
    let positions = (sopts.context_tokens
        + sopts.max_new_tokens.max(sopts.notes_tokens)
        + batch::LANE_PROMPT_ALLOWANCE)
        .min(g.info().context_length.max(1));
    let (lanes, note) = batch::lanes_within(
        usize::from(requested),
        max_memory,
        g.lane_memory(),
        positions,
    )?;
    if let (Some(note), false) = (&note, quiet) {
        eprintln!("khulasa: warning: {note}");
    }
    Ok((lanes, note))
}

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
    let (parallel, parallel_lowered) =
        fit_lanes(g.as_ref(), &a.engine, a.parallel, a.max_memory, a.quiet)?;
    let sopts = a.engine.summarize_options();
    let options_id = format!("{sopts:?}");
    let summarizer = Summarizer::new(&prompts, sopts);
    let opts = BatchOptions {
        read: a.engine.read_options(),
        shard: a.shard,
        retry_failed: a.retry_failed,
        deadline,
        options_id,
        parallel,
        parallel_lowered,
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

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn memory_sizes_take_binary_units() {
        assert_eq!(parse_bytes("123"), Ok(123));
        assert_eq!(parse_bytes("2G"), Ok(2 << 30));
        assert_eq!(parse_bytes("1500M"), Ok(1500 << 20));
        assert_eq!(parse_bytes("800MiB"), Ok(800 << 20));
        assert_eq!(parse_bytes("1.5GB"), Ok(3 << 29));
        assert_eq!(parse_bytes("64k"), Ok(64 << 10));
        for bad in ["", "G", "abc", "5X", "0", "1.2.3G"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }
}
