//! Command-line interface: clap arguments, one file per subcommand.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::Error;

mod models;
mod summarize;

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
    }
}

/// Exit code for an error: 2 for bad input, arguments, models or
/// configuration; 1 when the work itself failed.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    match e.downcast_ref::<Error>() {
        Some(Error::Generation(_) | Error::Candle(_)) => 1,
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
