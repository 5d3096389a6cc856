//! Command-line interface: clap arguments, one file per subcommand.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::Error;

mod batch;
mod bench;
mod eval;
mod models;
mod newsletter;
mod summarize;
mod translate;

/// Summarize news articles into a headline, a summary and key facts, locally.
#[derive(Debug, Parser)]
#[command(name = "khulasa", version, about, long_about = None)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Summarize one article (a file, or - for stdin).
    Summarize(summarize::SummarizeArgs),
    /// Summarize many articles into a folder, resumably.
    Batch(batch::BatchArgs),
    /// Measure digest quality on data with reference summaries (ROUGE, lead-3, grounding).
    Eval(eval::EvalArgs),
    /// Engine speed: prompt and generation tokens/s (median), load time, peak RSS, one digest.
    Bench(bench::BenchArgs),
    /// Combine the output folders of shards.
    Merge(batch::MergeArgs),
    /// Translate a text or a digest JSON into Urdu, Pashto or English.
    Translate(translate::TranslateArgs),
    /// Render a newsletter draft from digests.
    Newsletter(newsletter::NewsletterArgs),
    /// Show how an input is read: title, language, body and the furniture removed.
    Read(ReadArgs),
    /// List, download, verify and locate models.
    #[command(subcommand)]
    Models(models::ModelsCommand),
}

/// Parses the command line and runs it.
pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Summarize(a) => summarize::run(a),
        Command::Models(c) => models::run(c),
        Command::Batch(a) => batch::run(a),
        Command::Merge(a) => batch::merge(a),
        Command::Bench(a) => bench::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Newsletter(a) => newsletter::run(a),
        Command::Translate(a) => translate::run(a),
        Command::Read(a) => {
            let opts = crate::article::ReadOptions {
                max_bytes: a.max_input_bytes,
                strip_furniture: !a.keep_furniture,
            };
            let art = crate::article::read(&a.input, &opts)?;
            let mut s = serde_json::to_string_pretty(&art)?;
            s.push('\n');
            print(&s)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Arguments of `khulasa read`.
#[derive(Debug, clap::Args)]
pub struct ReadArgs {
    /// Article file (txt, md, html, json), or - for stdin.
    #[arg(default_value = "-")]
    pub input: String,
    /// Largest input accepted, in bytes.
    #[arg(long, default_value_t = crate::article::DEFAULT_MAX_BYTES)]
    pub max_input_bytes: usize,
    /// Keep lines that look like page furniture (and read a page even when
    /// it does not look like an article).
    #[arg(long)]
    pub keep_furniture: bool,
}

/// Exit code for an error: 2 for bad input, arguments, models or
/// configuration; 1 when the work itself failed.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    match e.downcast_ref::<Error>() {
        Some(Error::Generation(_) | Error::Candle(_) | Error::Ungrounded(_)) => 1,
        _ => 2,
    }
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
pub(crate) fn print(s: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

/// Sets the number of compute threads before any model work starts.
pub(crate) fn set_threads(n: Option<usize>) {
    if let Some(n) = n.filter(|n| *n > 0) {
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
}
