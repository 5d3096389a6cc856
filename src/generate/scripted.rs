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
    cycle: bool,
    delay: std::time::Duration,
    judgements: VecDeque<f32>,
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
            cycle: false,
            delay: std::time::Duration::ZERO,
            judgements: VecDeque::new(),
        }
    }

    /// Answers [`Generator::yes_no`] with these log-odds, one per call
    /// (without them it cannot score).
    #[must_use]
    pub fn with_judgements(mut self, scores: impl IntoIterator<Item = f32>) -> Self {
        self.judgements = scores.into_iter().collect();
        self
    }

    /// Loads replies from a JSON file: an array of strings, or
    /// `{"replies": [...], "cycle": true, "delay_ms": 10, "judge": [2.0, -1.5]}`
    /// to repeat the replies, pause before each (for batch and signal tests)
    /// and answer the meaning check's yes/no questions.
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Script {
            List(Vec<String>),
            Full {
                replies: Vec<String>,
                #[serde(default)]
                cycle: bool,
                #[serde(default)]
                delay_ms: u64,
                #[serde(default)]
                judge: Vec<f32>,
            },
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let script: Script = serde_json::from_str(&text).map_err(|source| Error::Json {
            what: path.display().to_string(),
            source,
        })?;
        Ok(match script {
            Script::List(r) => Self::new(r),
            Script::Full {
                replies,
                cycle,
                delay_ms,
                judge,
            } => {
                let mut g = Self::new(replies).with_judgements(judge);
                g.cycle = cycle;
                g.delay = std::time::Duration::from_millis(delay_ms);
                g
            }
        })
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

    fn yes_no(&mut self, messages: &[Message]) -> Result<Option<f32>> {
        let score = self.judgements.pop_front();
        if score.is_some() {
            self.seen.push(messages.to_vec());
        }
        if self.cycle {
            if let Some(s) = score {
                self.judgements.push_back(s);
            }
        }
        Ok(score)
    }

    fn generate(&mut self, request: &Request<'_>) -> Result<Generation> {
        self.seen.push(request.messages.clone());
        let t0 = std::time::Instant::now();
        while t0.elapsed() < self.delay {
            if crate::batch::stop_requested() {
                return Err(Error::Interrupted);
            }
            std::thread::sleep(std::time::Duration::from_millis(5).min(self.delay));
        }
        let text = self
            .replies
            .pop_front()
            .ok_or_else(|| Error::Generation("scripted generator ran out of replies".into()))?;
        if self.cycle {
            self.replies.push_back(text.clone());
        }
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
            reused_prompt_tokens: 0,
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
