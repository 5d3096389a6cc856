//! `khulasa eval`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::summarize::EngineArgs;
use crate::eval;
use crate::summarize::Summarizer;

/// Arguments of `khulasa eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Data with references: the CNN/DailyMail CSV (`id,article,highlights`) or a JSONL of `{"document","summary"}`.
    #[arg(long)]
    pub data: PathBuf,
    /// Score only the first N documents.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Also write the report as JSON here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Model and decoding options.
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Runs `khulasa eval`.
pub fn run(a: EvalArgs) -> anyhow::Result<ExitCode> {
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, crate::batch::stop_flag().clone())?;
    }
    let examples = eval::load(&a.data, a.limit)?;
    let (prompts, mut g, _) = a.engine.load()?;
    let summarizer = Summarizer::new(&prompts, a.engine.summarize_options());
    let total = examples.len();
    let report = eval::run_summarization(
        g.as_mut(),
        &summarizer,
        &a.data.display().to_string(),
        &examples,
        |i, id| {
            eprintln!("[{}/{total}] {id}", i + 1);
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
