//! A generator that replays scripted replies: for pipeline and CLI tests.

use std::collections::VecDeque;

use crate::chunk::TokenCounter;
use crate::error::{Error, Result};
use crate::generate::constraint::DigestMachine;
use crate::generate::{Generation, Generator, Message, ModelInfo, Request, StopReason};

/// Replays replies in order and records every request it was given.
/// Tokens are counted as whitespace-separated words.
#[derive(Debug)]
pub struct ScriptedGenerator {
    replies: VecDeque<String>,
    info: ModelInfo,
    /// Every chat it was asked to continue, in order.
    pub seen: Vec<Vec<Message>>,
}

impl ScriptedGenerator {
    /// A generator that answers with `replies`, one per request.
    pub fn new(replies: impl IntoIterator<Item = String>) -> Self {
        Self {
            replies: replies.into_iter().collect(),
            info: ModelInfo {
                id: "scripted".into(),
                architecture: "scripted".into(),
                sha256: String::new(),
                licence: "none".into(),
                context_length: 32_768,
            },
            seen: Vec::new(),
        }
    }

    /// Loads replies from a JSON file holding an array of strings.
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let replies: Vec<String> = serde_json::from_str(&text).map_err(|source| Error::Json {
            what: path.display().to_string(),
            source,
        })?;
        Ok(Self::new(replies))
    }
}

impl TokenCounter for ScriptedGenerator {
    fn count(&self, text: &str) -> usize {
        text.split_whitespace().count()
    }
}

impl Generator for ScriptedGenerator {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn prompt_tokens(&self, messages: &[Message]) -> Result<usize> {
        Ok(messages.iter().map(|m| self.count(&m.content) + 4).sum())
    }

    fn generate(&mut self, request: &Request<'_>) -> Result<Generation> {
        self.seen.push(request.messages.clone());
        let text = self
            .replies
            .pop_front()
            .ok_or_else(|| Error::Generation("scripted generator ran out of replies".into()))?;
        let notes = Vec::new();
        let mut limits = 0;
        if let Some((shape, numbers)) = request.digest {
            // Hold scripted digests to the same grammar as the real decoder.
            let mut m = DigestMachine::new(shape, numbers);
            if !(m.feed(text.trim().as_bytes()) && m.is_done()) {
                return Err(Error::Generation(format!(
                    "scripted reply breaks the digest grammar: {text}"
                )));
            }
            limits = m.limits_hit();
        }
        Ok(Generation {
            prompt_tokens: self.prompt_tokens(&request.messages)?,
            generated_tokens: self.count(&text),
            text,
            prompt_secs: 0.0,
            generate_secs: 0.0,
            stop: StopReason::EndOfTurn,
            notes,
            limits,
        })
    }
}
