//! `khulasa translate`, and the translation options of `summarize`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use crate::article::{self, ReadOptions, DEFAULT_MAX_BYTES};
use crate::digest::Digest;
use crate::error::Error;
use crate::generate::Generator;
use crate::lang::{Dir, Lang};
use crate::models::{self, Fetch};
use crate::output::{self, OutputFormat};
use crate::prompt::Prompts;
use crate::translate::llm::LlmTranslator;
use crate::translate::neural::Seq2SeqTranslator;
use crate::translate::{
    self, check_serves, translate_into, Digits, TranslateOptions, TranslationFlag, Translator,
    TranslatorInfo,
};

/// Translation options shared by `summarize --translate` and `translate`.
#[derive(Debug, Clone, Args)]
pub struct TranslatorArgs {
    /// Translation model: llm (the summarization model), madlad400-3b-mt,
    /// nllb-200-distilled-600m, nllb-200-1.3b or opus-mt-en-ur (see `khulasa models list`).
    #[arg(long, env = "KHULASA_TRANSLATOR", default_value = "llm")]
    pub translator: String,
    /// Folder holding the translation model's files (instead of the Hugging Face cache).
    #[arg(long)]
    pub translator_dir: Option<PathBuf>,
    /// Digits in Urdu and Pashto text: latin (0-9) or native (۰-۹).
    #[arg(long, value_enum, default_value = "latin")]
    pub digits: Digits,
}

impl TranslatorArgs {
    /// True when the translator is the summarization model.
    pub fn needs_generator(&self) -> bool {
        models::find_translator(&self.translator).is_ok_and(|m| m.backend == "llm")
    }

    /// Options of each translation.
    pub fn options(&self) -> TranslateOptions {
        TranslateOptions {
            digits: self.digits,
        }
    }

    /// Opens the translator; the `llm` backend borrows `generator`.
    pub fn open<'g>(
        &self,
        generator: Option<&'g mut dyn Generator>,
        prompts: &Prompts,
        offline: bool,
    ) -> anyhow::Result<Box<dyn Translator + 'g>> {
        let m = models::find_translator(&self.translator)?;
        if m.backend == "llm" {
            let g =
                generator.ok_or_else(|| Error::model(&m.id, "needs the summarization model"))?;
            return Ok(Box::new(LlmTranslator::new(g, prompts.clone())));
        }
        let dir = models::resolve_translator(
            &m,
            self.translator_dir.as_deref(),
            Fetch {
                offline,
                ..Fetch::default()
            },
        )?;
        Ok(Box::new(Seq2SeqTranslator::load(&m, &dir)?))
    }
}

/// Arguments of `khulasa translate`.
#[derive(Debug, Args)]
pub struct TranslateArgs {
    /// A text file or a digest JSON (from `summarize --format json`), or - for stdin.
    #[arg(default_value = "-")]
    pub input: String,
    /// Target language: ur, ps or en.
    #[arg(long)]
    pub to: Lang,
    /// Source language of a text (default: detected).
    #[arg(long)]
    pub from: Option<Lang>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
    /// Translation backend and options.
    #[command(flatten)]
    pub translator: TranslatorArgs,
    /// The summarization model (used by the llm backend), threads and prompts.
    #[command(flatten)]
    pub base: super::summarize::ModelArgs,
    /// Largest input accepted, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_BYTES)]
    pub max_input_bytes: usize,
}

/// A translated text, as printed by `--format json`.
#[derive(Debug, Serialize)]
struct TextTranslation<'a> {
    source_lang: Lang,
    lang: Lang,
    dir: Dir,
    text: String,
    backend: &'a str,
    model: &'a str,
    licence: &'a str,
    digits: Digits,
    retried: usize,
    flags: Vec<TranslationFlag>,
}

/// Runs `khulasa translate`.
pub fn run(a: TranslateArgs) -> anyhow::Result<ExitCode> {
    let (name, bytes) = article::read_bytes(&a.input, a.max_input_bytes)?;
    let (prompts, mut generator) = a.base.load_if(a.translator.needs_generator())?;
    let g = generator
        .as_mut()
        .map(|(g, _)| g.as_mut() as &mut dyn Generator);
    let mut t = a.translator.open(g, &prompts, a.base.offline)?;
    let opts = a.translator.options();

    let text = std::str::from_utf8(&bytes).unwrap_or_default();
    if text.trim_start().starts_with('{') && text.contains("\"headline\"") {
        let mut digest: Digest = serde_json::from_str(text).map_err(|e| {
            Error::bad_input(
                name,
                format!("is not a khulasa digest JSON ({e}); give a digest or plain text"),
            )
        })?;
        translate_into(t.as_mut(), &mut digest, &[a.to], opts)?;
        super::print(&output::render(&digest, a.format, false)?)?;
        return Ok(ExitCode::SUCCESS);
    }

    let read = ReadOptions {
        max_bytes: a.max_input_bytes,
        strip_furniture: false,
    };
    let art = article::from_bytes(name, &bytes, &read)?;
    let from = a.from.unwrap_or(art.lang);
    if from == a.to {
        return Err(Error::bad_input(
            name,
            format!("is already in {}; choose another --to", a.to.name()),
        )
        .into());
    }
    check_serves(t.as_ref(), from, a.to)?;
    let mut paragraphs = Vec::new();
    let mut flags = Vec::new();
    let mut retried = 0;
    for (i, p) in art
        .full_text()
        .split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .enumerate()
    {
        let tr = translate::translate_text(
            t.as_mut(),
            &format!("paragraph {}", i + 1),
            p,
            from,
            a.to,
            opts,
        )?;
        if !tr.text.is_empty() {
            paragraphs.push(tr.text);
        }
        flags.extend(tr.flags);
        retried += tr.retried;
    }
    let info: TranslatorInfo = t.info().clone();
    let text = paragraphs.join("\n\n");
    let out = match a.format {
        OutputFormat::Json => {
            let v = TextTranslation {
                source_lang: from,
                lang: a.to,
                dir: a.to.dir(),
                text,
                backend: &info.backend,
                model: &info.model,
                licence: &info.licence,
                digits: opts.digits,
                retried,
                flags,
            };
            format!("{}\n", serde_json::to_string_pretty(&v)?)
        }
        OutputFormat::Markdown | OutputFormat::Text => {
            let body = if a.format == OutputFormat::Markdown && a.to.dir() == Dir::Rtl {
                format!(
                    "<div dir=\"rtl\" lang=\"{}\">\n\n{text}\n\n</div>",
                    a.to.code()
                )
            } else {
                text
            };
            let mut s = format!("{body}\n");
            for f in &flags {
                s.push_str(&format!(
                    "\nwarning: {} sentence {}: {}{}",
                    f.field,
                    f.sentence + 1,
                    f.problem,
                    if f.dropped { "; left out" } else { "" }
                ));
            }
            if !flags.is_empty() {
                s.push('\n');
            }
            s.push_str(&format!(
                "\n({} backend, model {}, licence {})\n",
                info.backend, info.model, info.licence
            ));
            s
        }
    };
    super::print(&out)?;
    Ok(ExitCode::SUCCESS)
}
