//! Several sequences decoded at once on one Qwen2 model: the lanes of a
//! parallel batch.
//!
//! Each lane is a [`Generator`] used by one thread. It renders its prompt,
//! runs the decode loop and chooses its own tokens (digest constraint,
//! repetition rules, sampling) as a model of its own would. Only the model
//! passes go to the thread that owns the model:
//!
//! - a prompt runs at once, alone, on the lane's own KV cache slot (the
//!   slot keeps the lane's last prompt, so the shared instructions of the
//!   next one are reused);
//! - a decode step waits until every lane that is decoding has sent its
//!   step, and then all of them run as one batched pass
//!   ([`Qwen2::forward_steps`]): the weights are read once for all of them,
//!   and each sequence gets exactly the logits it gets on its own.
//!
//! A lane that finishes (or fails) leaves the batch, and the next article
//! that lane takes joins it after its prompt: continuous batching.

use std::sync::mpsc::{self, Receiver, Sender};

use candle_core::Device;

use super::decode::Passes;
use super::qwen2::Qwen2;
use super::Shared;
use crate::chunk::TokenCounter;
use crate::error::{Error, Result};
use crate::generate::{Generation, Generator, Lane, Message, ModelInfo, Request};

/// What a lane asks of the model thread.
enum Job {
    /// Run a prompt on `slot`; `decode` when the lane goes on to decode
    /// steps (it is then waited for until it sends `Done`).
    Prefill {
        slot: usize,
        ids: Vec<u32>,
        decode: bool,
        reply: Sender<Result<(Vec<f32>, usize)>>,
    },
    /// Run `token` at `pos` on `slot`, in the next batched step.
    Step {
        slot: usize,
        token: u32,
        pos: usize,
        reply: Sender<Result<Vec<f32>>>,
    },
    /// The lane's sequence ended: no more steps from it until its next prompt.
    Done,
}

/// Runs `work` with `n` lanes on `model`, whose passes this thread's helper
/// runs, and frees the lanes' KV caches after.
pub(super) fn serve(
    model: &mut Qwen2,
    device: &Device,
    shared: &Shared,
    n: usize,
    work: &mut dyn FnMut(Vec<Lane<'_>>),
) {
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        let engine = s.spawn(|| run_model(model, device, rx));
        let lanes = (0..n)
            .map(|slot| {
                Box::new(CandleLane {
                    slot,
                    jobs: tx.clone(),
                    shared,
                }) as Lane<'_>
            })
            .collect();
        drop(tx);
        work(lanes);
        // The lanes are gone, so the model thread's queue is closed and it
        // returns; a panic there is re-raised here.
        if let Err(panic) = engine.join() {
            std::panic::resume_unwind(panic);
        }
    });
    model.release_slots();
}

/// The model thread: prompts as they come, decode steps batched.
fn run_model(model: &mut Qwen2, device: &Device, jobs: Receiver<Job>) {
    let mut decoding = 0usize;
    let mut steps = Vec::new();
    let mut replies: Vec<Sender<Result<Vec<f32>>>> = Vec::new();
    while let Ok(job) = jobs.recv() {
        match job {
            Job::Prefill {
                slot,
                ids,
                decode,
                reply,
            } => {
                model.select(slot);
                let out = model.prefill(&ids, device);
                if decode && out.is_ok() {
                    decoding += 1;
                }
                // A lane that stopped waiting has nothing to be told.
                let _ = reply.send(out);
            }
            Job::Step {
                slot,
                token,
                pos,
                reply,
            } => {
                steps.push((slot, token, pos));
                replies.push(reply);
            }
            Job::Done => decoding = decoding.saturating_sub(1),
        }
        if !steps.is_empty() && steps.len() >= decoding {
            match model.forward_steps(&steps, device) {
                Ok(logits) => {
                    for (reply, l) in replies.drain(..).zip(logits) {
                        let _ = reply.send(Ok(l));
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    for reply in replies.drain(..) {
                        let _ = reply.send(Err(Error::Generation(message.clone())));
                    }
                }
            }
            steps.clear();
        }
    }
}

/// One lane: a generator whose passes the model thread runs.
struct CandleLane<'a> {
    slot: usize,
    jobs: Sender<Job>,
    shared: &'a Shared,
}

impl CandleLane<'_> {
    fn prefill(&self, ids: &[u32], decode: bool) -> Result<(Vec<f32>, usize)> {
        let (reply, answer) = mpsc::channel();
        self.send(Job::Prefill {
            slot: self.slot,
            ids: ids.to_vec(),
            decode,
            reply,
        })?;
        answer.recv().map_err(|_| stopped())?
    }

    fn send(&self, job: Job) -> Result<()> {
        self.jobs.send(job).map_err(|_| stopped())
    }
}

fn stopped() -> Error {
    Error::Generation("the model thread of the parallel batch stopped".into())
}

/// A lane's passes for one decode loop; leaves the batch when dropped.
struct LanePasses<'l, 'a> {
    lane: &'l CandleLane<'a>,
    decoding: bool,
}

impl Passes for LanePasses<'_, '_> {
    fn prefill(&mut self, prompt: &[u32]) -> Result<(Vec<f32>, usize)> {
        let out = self.lane.prefill(prompt, true)?;
        self.decoding = true;
        Ok(out)
    }

    fn step(&mut self, token: u32, pos: usize) -> Result<Vec<f32>> {
        let (reply, answer) = mpsc::channel();
        self.lane.send(Job::Step {
            slot: self.lane.slot,
            token,
            pos,
            reply,
        })?;
        answer.recv().map_err(|_| stopped())?
    }

    fn can_rewind(&self) -> bool {
        // The lanes run on Qwen2, whose slots forget the later positions.
        true
    }
}

impl Drop for LanePasses<'_, '_> {
    fn drop(&mut self) {
        if self.decoding {
            let _ = self.lane.send(Job::Done);
        }
    }
}

impl TokenCounter for CandleLane<'_> {
    fn count(&self, text: &str) -> usize {
        self.shared.count(text)
    }
}

impl Generator for CandleLane<'_> {
    fn info(&self) -> &ModelInfo {
        &self.shared.info
    }

    fn prompt_tokens(&self, messages: &[Message]) -> Result<usize> {
        self.shared.prompt_tokens(messages)
    }

    fn generate(&mut self, request: &Request<'_>) -> Result<Generation> {
        let mut passes = LanePasses {
            lane: self,
            decoding: false,
        };
        self.shared.generate(&mut passes, request)
    }

    fn yes_no(&mut self, messages: &[Message]) -> Result<Option<f32>> {
        let prompt = self.shared.chat_prompt(messages)?;
        let (logits, _) = self.prefill(&prompt, false)?;
        Ok(Some(self.shared.yes_no_odds(&logits)))
    }
}
