//! `khulasa newsletter`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::error::Error;
use crate::lang::Lang;
use crate::output::newsletter::{self, GroupBy, NewsletterFormat, NewsletterOptions};

/// Arguments of `khulasa newsletter`.
#[derive(Debug, Args)]
pub struct NewsletterArgs {
    /// digests.jsonl (or a batch output folder).
    pub digests: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "markdown")]
    pub format: NewsletterFormat,
    /// Title.
    #[arg(long, default_value = "News digest")]
    pub title: String,
    /// Date line, e.g. 2024-08-12.
    #[arg(long)]
    pub date: Option<String>,
    /// Language of the newsletter (en, ur, ps).
    #[arg(long, default_value = "en")]
    pub lang: Lang,
    /// Group by source or date.
    #[arg(long, value_enum, default_value = "source")]
    pub group: GroupBy,
    /// A minijinja template to use instead of the built-in one.
    #[arg(long)]
    pub template: Option<PathBuf>,
    /// Write here instead of stdout.
    #[arg(short, long)]
    pub out: Option<PathBuf>,
}

/// Runs `khulasa newsletter`.
pub fn run(a: NewsletterArgs) -> anyhow::Result<ExitCode> {
    let digests = newsletter::read_digests(&a.digests)?;
    let template = a
        .template
        .as_ref()
        .map(|p| std::fs::read_to_string(p).map_err(|e| Error::io(p, e)))
        .transpose()?;
    let opts = NewsletterOptions {
        title: a.title,
        date: a.date,
        lang: a.lang,
        group: a.group,
        template,
    };
    let (text, left_out) = newsletter::render(&digests, a.format, &opts)?;
    if left_out > 0 {
        eprintln!(
            "khulasa: {left_out} digest(s) not in {} were left out",
            a.lang.name()
        );
    }
    match &a.out {
        Some(p) => crate::batch::store::write_atomic(p, text.as_bytes())?,
        None => super::print(&text)?,
    }
    Ok(ExitCode::SUCCESS)
}
