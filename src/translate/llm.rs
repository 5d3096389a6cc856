//! The `llm` backend: the summarization model, prompted to translate one
//! sentence at a time (`prompts/translate.toml`).

use std::collections::BTreeMap;

use super::{Attempt, Output, Translator, TranslatorInfo};
use crate::error::Result;
use crate::generate::{Generator, Request, Sampling, StopReason};
use crate::lang::Lang;
use crate::numbers;
use crate::prompt::Prompts;

/// The summarization model as a translator.
pub struct LlmTranslator<'g> {
    generator: &'g mut dyn Generator,
    prompts: Prompts,
    info: TranslatorInfo,
}

impl<'g> LlmTranslator<'g> {
    /// Wraps a loaded generator.
    pub fn new(generator: &'g mut dyn Generator, prompts: Prompts) -> Self {
        let m = generator.info();
        let info = TranslatorInfo {
            backend: "llm".into(),
            model: m.id.clone(),
            licence: m.licence.clone(),
        };
        Self {
            generator,
            prompts,
            info,
        }
    }
}

/// The reply's translation: its first non-empty line, without quotes or a
/// leading language label.
pub fn clean_reply(reply: &str, to: Lang) -> String {
    let line = reply
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut s = line;
    for label in [to.name(), "Translation"] {
        if let Some(rest) = s.strip_prefix(label) {
            if let Some(rest) = rest.trim_start().strip_prefix(':') {
                s = rest.trim_start();
            }
        }
    }
    s.trim_matches(|c| matches!(c, '"' | '“' | '”' | '«' | '»'))
        .trim()
        .to_string()
}

impl Translator for LlmTranslator<'_> {
    fn info(&self) -> &TranslatorInfo {
        &self.info
    }

    fn serves(&self, from: Lang, to: Lang) -> bool {
        from != to
    }

    fn translate(
        &mut self,
        sentence: &str,
        from: Lang,
        to: Lang,
        attempt: Attempt,
    ) -> Result<Output> {
        let nums = numbers::extract(sentence);
        let mut vars: BTreeMap<&str, minijinja::Value> = BTreeMap::new();
        vars.insert("source", from.name().into());
        vars.insert("target", to.name().into());
        vars.insert("text", sentence.into());
        // The retry names the numbers to keep and samples at a low temperature.
        let numbers = if attempt == Attempt::Retry {
            nums.join(", ")
        } else {
            String::new()
        };
        vars.insert("numbers", numbers.into());
        let messages = self.prompts.render("translate", &vars)?;
        let sampling = match attempt {
            Attempt::First => Sampling {
                no_repeat_ngram: 4,
                ..Sampling::default()
            },
            Attempt::Retry => Sampling {
                temperature: 0.3,
                seed: 7,
                no_repeat_ngram: 3,
                ..Sampling::default()
            },
        };
        let src_tokens = self.generator.count(sentence).max(8);
        let request = Request {
            messages,
            max_new_tokens: 4 * src_tokens + 32,
            sampling,
            digest: None,
        };
        let g = self.generator.generate(&request)?;
        Ok(Output {
            text: clean_reply(&g.text, to),
            cut: g.stop == StopReason::MaxTokens || g.stop == StopReason::ContextFull,
        })
    }
}
