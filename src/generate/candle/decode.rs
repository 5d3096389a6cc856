//! The decode loop: feed the prompt, then one token at a time with its
//! position, choosing each token under the digest constraint, a repeat
//! penalty and a no-repeat n-gram rule, until an end-of-turn token.

use std::time::Instant;

use candle_core::Device;
use rand::{rngs::StdRng, Rng, SeedableRng};

use super::model::Model;
use crate::error::Result;
use crate::generate::constraint::{DigestMachine, Field};
use crate::generate::{Request, StopReason};

/// What the loop produced.
pub(crate) struct Decoded {
    pub ids: Vec<u32>,
    /// Exact output bytes when constrained (includes any forced closing).
    pub bytes: Option<Vec<u8>>,
    pub stop: StopReason,
    pub notes: Vec<String>,
    pub limits: u32,
    pub prompt_secs: f64,
    pub generate_secs: f64,
    /// Leading prompt tokens taken from the previous pass's KV cache.
    pub reused: usize,
}

/// Fixed inputs of the loop.
pub(crate) struct Vocab<'a> {
    pub token_bytes: &'a [Vec<u8>],
    /// Tokens that end a sentence (see [`full_stop_tokens`]).
    pub full_stops: &'a [u32],
    pub eos: &'a [u32],
    pub context_length: usize,
}

const TOP_CANDIDATES: usize = 64;

/// The model passes the loop needs: its prompt, then one token at a time.
/// A model of this process runs them itself ([`Local`]); a lane of a
/// parallel batch has them run, batched with other sequences' steps, by the
/// thread that owns the model (see [`super::lanes`]).
pub(crate) trait Passes {
    /// Runs the prompt; its last logits and how many leading tokens were
    /// reused from the cache.
    fn prefill(&mut self, prompt: &[u32]) -> Result<(Vec<f32>, usize)>;
    /// Runs `token` at `pos`; its logits.
    fn step(&mut self, token: u32, pos: usize) -> Result<Vec<f32>>;
    /// Whether a step may go back to an earlier position, the cache
    /// forgetting the positions from there on (see [`FACT_RETRIES`]).
    fn can_rewind(&self) -> bool;
}

/// A model's passes run in place.
pub(crate) struct Local<'a> {
    pub model: &'a mut Model,
    pub device: &'a Device,
}

impl Passes for Local<'_> {
    fn prefill(&mut self, prompt: &[u32]) -> Result<(Vec<f32>, usize)> {
        self.model.prefill(prompt, self.device)
    }
    fn step(&mut self, token: u32, pos: usize) -> Result<Vec<f32>> {
        self.model.forward(&[token], pos, self.device)
    }
    fn can_rewind(&self) -> bool {
        self.model.can_rewind()
    }
}

pub(crate) fn run(
    passes: &mut dyn Passes,
    prompt: &[u32],
    req: &Request<'_>,
    vocab: &Vocab<'_>,
) -> Result<Decoded> {
    let t0 = Instant::now();
    let (mut logits, reused) = passes.prefill(prompt)?;
    let prompt_secs = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();

    let mut machine = req
        .digest
        .map(|(shape, numbers)| DigestMachine::new(shape, numbers));
    let mut rng = StdRng::seed_from_u64(req.sampling.seed);
    let mut ids: Vec<u32> = Vec::new();
    let mut bytes = Vec::new();
    let mut blocked: Vec<String> = Vec::new();
    let mut relaxed = 0usize;
    let mut stop = StopReason::MaxTokens;
    let mut pos = prompt.len();
    // Penalties look only at the current field (or line): facts may repeat
    // the summary's words and names, but no field may loop on itself.
    let mut scope_start = 0usize;
    let mut field = machine.and_then(|m| m.field());
    // Where the key fact being written began, the tokens of those written,
    // and tokens banned at an output index (a fact written again).
    let rewind = passes.can_rewind();
    let mut fact_open: Option<FactStart> = None;
    let mut facts: Vec<std::ops::Range<usize>> = Vec::new();
    let mut bans: Vec<(usize, u32)> = Vec::new();
    let mut retries = 0usize;
    let mut rewritten: Vec<String> = Vec::new();
    // The machine and output length at the last safe point, for a forced
    // close that must not split a character, an escape or a number.
    let mut whole = (machine, 0usize);
    while ids.len() < req.max_new_tokens {
        if crate::batch::stop_requested() {
            return Err(crate::error::Error::Interrupted);
        }
        if pos >= vocab.context_length {
            stop = StopReason::ContextFull;
            break;
        }
        if let Some(left) = machine.and_then(|m| m.fact_words_left()) {
            steer_to_full_stop(&mut logits, vocab.full_stops, left);
        }
        let scope = &ids[scope_start..];
        penalize(
            &mut logits,
            scope,
            req.sampling.repeat_penalty,
            req.sampling.repeat_last_n,
        );
        let banned = ngram_bans(scope, req.sampling.no_repeat_ngram);
        let here = ids.len();
        let grammar = |id: u32| -> bool {
            match &machine {
                Some(m) => vocab
                    .token_bytes
                    .get(id as usize)
                    .is_some_and(|b| m.allows(b)),
                None => true,
            }
        };
        let allowed = |id: u32| !banned.contains(&id) && !bans.contains(&(here, id)) && grammar(id);
        let (t, p) = (req.sampling.temperature, req.sampling.top_p);
        // The repetition rules give way where they would leave no valid token
        // (e.g. the only number the source allows here repeats an earlier fact).
        let Some(next) = choose(&logits, &allowed, t, p, &mut rng).or_else(|| {
            relaxed += 1;
            choose(&logits, &grammar, t, p, &mut rng)
        }) else {
            stop = StopReason::NoValidToken;
            break;
        };
        // Only a ban can have changed the choice: skip the vocabulary scan otherwise.
        if let Some(&top) = (!banned.is_empty())
            .then(|| argmax(&logits))
            .flatten()
            .as_ref()
        {
            if top != next && banned.contains(&top) {
                blocked.push(
                    machine
                        .and_then(|m| m.field())
                        .map_or("text".into(), field_name),
                );
            }
        }
        if machine.is_none() && vocab.eos.contains(&next) {
            stop = StopReason::EndOfTurn;
            break;
        }
        ids.push(next);
        let b = token_bytes(vocab, next);
        if let Some(m) = machine.as_mut() {
            m.feed(b);
            bytes.extend_from_slice(b);
            if m.at_safe_point() {
                whole = (Some(*m), bytes.len());
            }
            if m.field() != field {
                // A key fact that says what an earlier one said is written
                // again from the last token the two share, that token
                // banned there.
                if let Some(start) = fact_open.take() {
                    let written = start.ids..ids.len();
                    let again = (rewind && retries < FACT_RETRIES)
                        .then(|| repeated_at(&ids, &written, &facts, vocab))
                        .flatten();
                    if let Some((at, earlier)) = again {
                        retries += 1;
                        if retries == 1 {
                            rewritten.push(format!(
                                "key fact {} repeated key fact {} and was written again",
                                facts.len() + 1,
                                earlier + 1
                            ));
                        }
                        // Bans after the new turning point were for the
                        // text that follows it, which is written anew.
                        bans.retain(|b| b.0 <= at);
                        bans.push((at, ids[at]));
                        ids.truncate(at);
                        let mut restored = start.machine;
                        bytes.truncate(start.bytes);
                        whole = start.whole;
                        for &id in &ids[start.ids..] {
                            let b = token_bytes(vocab, id);
                            restored.feed(b);
                            bytes.extend_from_slice(b);
                            if restored.at_safe_point() {
                                whole = (Some(restored), bytes.len());
                            }
                        }
                        *m = restored;
                        field = m.field();
                        scope_start = start.ids;
                        fact_open = Some(start);
                        pos = prompt.len() + ids.len();
                        logits = passes.step(ids[at - 1], pos - 1)?;
                        continue;
                    }
                    facts.push(written);
                    retries = 0;
                    bans.clear();
                }
                field = m.field();
                scope_start = ids.len();
                if matches!(field, Some(Field::Fact(_))) {
                    fact_open = Some(FactStart {
                        ids: ids.len(),
                        machine: *m,
                        bytes: bytes.len(),
                        whole,
                    });
                }
            }
            if m.is_done() {
                stop = StopReason::EndOfTurn;
                break;
            }
        } else if b.contains(&b'\n') {
            scope_start = ids.len();
        }
        logits = passes.step(next, pos)?;
        pos += 1;
    }
    let mut notes = rewritten;
    if relaxed > 0 {
        notes.push(format!(
            "the no-repeat rule was relaxed {relaxed} time(s) where it left no valid token"
        ));
    }
    if !blocked.is_empty() {
        blocked.dedup();
        notes.push(format!(
            "repetition loop stopped by the no-repeat rule in: {}",
            blocked.join(", ")
        ));
    }
    if let Some(mut m) = machine {
        if !m.is_done() {
            if !m.at_safe_point() {
                if let (Some(w), len) = whole {
                    m = w;
                    bytes.truncate(len);
                }
            }
            let tail = m.closing();
            notes.push(format!(
                "digest JSON closed by force after {} tokens ({:?}); the last field may be cut",
                ids.len(),
                stop
            ));
            bytes.extend_from_slice(&tail);
        }
    }
    Ok(Decoded {
        ids,
        bytes: req.digest.map(|_| bytes),
        stop,
        notes,
        limits: machine.map_or(0, |m| m.limits_hit()),
        prompt_secs,
        generate_secs: t1.elapsed().as_secs_f64(),
        reused,
    })
}

/// Words before a fact's bound over which closing its sentence is made
/// likelier, and the largest lift given to a full stop (in logits), reached
/// at the bound.
const STEER_WORDS: u16 = 8;
const STEER_LIFT: f32 = 6.0;

/// Lifts the tokens that end a sentence as a key fact nears its word bound,
/// so that a long fact closes its sentence instead of being cut at the bound.
fn steer_to_full_stop(logits: &mut [f32], full_stops: &[u32], words_left: u16) {
    if words_left > STEER_WORDS {
        return;
    }
    let lift = STEER_LIFT * f32::from(STEER_WORDS - words_left) / f32::from(STEER_WORDS);
    for &id in full_stops {
        if let Some(l) = logits.get_mut(id as usize) {
            *l += lift;
        }
    }
}

/// Tokens that end a sentence: a full stop, question or exclamation mark,
/// alone or after letters (".", " it.", "ed."), never an ellipsis.
pub(crate) fn full_stop_tokens(token_bytes: &[Vec<u8>]) -> Vec<u32> {
    token_bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| {
            let t = b.trim_ascii_end();
            matches!(t.last(), Some(b'.' | b'!' | b'?'))
                && t.iter().filter(|c| matches!(c, b'.' | b'!' | b'?')).count() == 1
                && t.iter()
                    .all(|c| c.is_ascii_alphanumeric() || b" .!?".contains(c))
        })
        .map(|(i, _)| i as u32)
        .collect()
}

fn field_name(f: Field) -> String {
    match f {
        Field::Headline => "headline".into(),
        Field::Summary => "summary".into(),
        Field::Fact(n) => format!("key fact {}", n + 1),
    }
}

fn argmax(logits: &[f32]) -> Option<u32> {
    logits
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
        .map(|(i, _)| i as u32)
}

/// Divides positive logits (multiplies negative ones) of recent tokens.
fn penalize(logits: &mut [f32], ids: &[u32], penalty: f32, last_n: usize) {
    if penalty == 1.0 {
        return;
    }
    let start = ids.len().saturating_sub(last_n);
    let mut seen = std::collections::HashSet::new();
    for &id in &ids[start..] {
        if seen.insert(id) {
            if let Some(l) = logits.get_mut(id as usize) {
                *l = if *l >= 0.0 {
                    *l / penalty
                } else {
                    *l * penalty
                };
            }
        }
    }
}

/// Times a key fact that repeats an earlier one is written again before it
/// is kept as it is (the digest then drops it as a duplicate, saying so).
const FACT_RETRIES: usize = 3;

/// Where a key fact began: its first output token, and the constraint's
/// state, output length and last safe point there.
#[derive(Clone, Copy)]
struct FactStart<'n> {
    ids: usize,
    machine: DigestMachine<'n>,
    bytes: usize,
    whole: (Option<DigestMachine<'n>>, usize),
}

/// The bytes of token `id` (none for an id past the vocabulary).
fn token_bytes<'v>(vocab: &'v Vocab<'_>, id: u32) -> &'v [u8] {
    vocab
        .token_bytes
        .get(id as usize)
        .map_or(&[][..], Vec::as_slice)
}

/// When the key fact written in `ids[written]` says what one of the
/// `earlier` facts says (the same words, see [`crate::summarize::same_fact`]):
/// the output index of the token to ban there, and which earlier fact it
/// repeats. The token banned is the last one the two begin with, or the
/// fact's first word when it copies the other whole or opens otherwise.
/// `None` when it repeats none.
fn repeated_at(
    ids: &[u32],
    written: &std::ops::Range<usize>,
    earlier: &[std::ops::Range<usize>],
    vocab: &Vocab<'_>,
) -> Option<(usize, usize)> {
    let text = |r: &std::ops::Range<usize>| -> String {
        let b: Vec<u8> = ids[r.clone()]
            .iter()
            .flat_map(|&id| token_bytes(vocab, id).iter().copied())
            .collect();
        String::from_utf8_lossy(&b).into_owned()
    };
    let this = text(written);
    earlier.iter().enumerate().find_map(|(k, e)| {
        if !crate::summarize::same_fact(&this, &text(e)) {
            return None;
        }
        let shared = ids[written.clone()]
            .iter()
            .zip(&ids[e.clone()])
            .take_while(|(a, b)| a == b)
            .count();
        // Its first word, where a fact that copies another whole (or
        // shares no opening with it) is turned elsewhere.
        let first = written
            .clone()
            .find(|&i| {
                token_bytes(vocab, ids[i])
                    .iter()
                    .any(|b| b.is_ascii_alphanumeric() || *b >= 0x80)
            })
            .unwrap_or(written.start);
        let last_shared = written.start + shared.max(1) - 1;
        let at = if shared + 1 < written.len() && last_shared > first {
            last_shared
        } else {
            first
        };
        // A fact comes after the headline and summary, so a token before
        // it gives the logits to write it again from.
        (at > 0).then_some((at, k))
    })
}

/// Tokens that would repeat an n-gram already generated.
pub(crate) fn ngram_bans(ids: &[u32], n: usize) -> Vec<u32> {
    if n < 2 || ids.len() < n {
        return Vec::new();
    }
    let tail = &ids[ids.len() - (n - 1)..];
    let mut out = Vec::new();
    for w in ids.windows(n) {
        if &w[..n - 1] == tail {
            out.push(w[n - 1]);
        }
    }
    out
}

/// Picks the next token: the best allowed one (greedy), or a sample from the
/// allowed top candidates (temperature, top-p). Returns `None` when no token
/// is allowed.
fn choose(
    logits: &[f32],
    allowed: &dyn Fn(u32) -> bool,
    temperature: f64,
    top_p: f64,
    rng: &mut StdRng,
) -> Option<u32> {
    let mut order: Vec<u32> = (0..logits.len() as u32).collect();
    let k = TOP_CANDIDATES.min(order.len());
    if k == 0 {
        return None;
    }
    // Equal logits go to the lower token id: a rule, not the sort's order.
    let by_logit = |a: &u32, b: &u32| {
        logits[*b as usize]
            .total_cmp(&logits[*a as usize])
            .then(a.cmp(b))
    };
    order.select_nth_unstable_by(k - 1, by_logit);
    let (top, rest) = order.split_at_mut(k);
    top.sort_unstable_by(by_logit);
    let mut valid: Vec<u32> = top.iter().copied().filter(|&id| allowed(id)).collect();
    if valid.is_empty() {
        // Nothing in the head of the distribution fits: scan everything.
        rest.sort_unstable_by(by_logit);
        return rest.iter().copied().find(|&id| allowed(id));
    }
    if temperature <= 0.0 {
        return valid.first().copied();
    }
    let max = logits[valid[0] as usize] as f64;
    let mut weights: Vec<f64> = valid
        .iter()
        .map(|&id| ((logits[id as usize] as f64 - max) / temperature).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    let mut cum = 0.0;
    let mut cut = weights.len();
    for (i, w) in weights.iter().enumerate() {
        cum += w / total;
        if cum >= top_p {
            cut = i + 1;
            break;
        }
    }
    valid.truncate(cut);
    weights.truncate(cut);
    let total: f64 = weights.iter().sum();
    let mut x = rng.random::<f64>() * total;
    for (id, w) in valid.iter().zip(&weights) {
        if x < *w {
            return Some(*id);
        }
        x -= w;
    }
    valid.last().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ngram_bans_repeats() {
        assert_eq!(ngram_bans(&[1, 2, 3, 1, 2], 3), vec![3]);
        assert!(ngram_bans(&[1, 2, 3, 4], 3).is_empty());
        assert!(ngram_bans(&[1, 2], 0).is_empty());
    }

    #[test]
    fn a_fact_that_repeats_an_earlier_one_is_turned_where_they_part() {
        let toks: Vec<Vec<u8>> = [
            ", \"", "Floods", " hit", " Swat", " on", " Monday", ".\"", " in", " Swat", " valley",
            " Schools", " closed",
        ]
        .iter()
        .map(|t| t.as_bytes().to_vec())
        .collect();
        let vocab = Vocab {
            token_bytes: &toks,
            full_stops: &[],
            eos: &[],
            context_length: 100,
        };
        // Fact 1: `, "Floods hit Swat on Monday."`.
        let first = [0, 1, 2, 3, 4, 5, 6];
        let facts = vec![std::ops::Range { start: 0, end: 7 }];
        // A copy of it, whole: turned at its first word.
        let ids: Vec<u32> = first.iter().chain(&first).copied().collect();
        assert_eq!(repeated_at(&ids, &(7..14), &facts, &vocab), Some((8, 0)));
        // The same words after the same opening: turned at the last token
        // the two begin with (" Swat").
        let ids: Vec<u32> = first
            .iter()
            .chain(&[0, 1, 2, 3, 7, 9, 4, 5, 6])
            .copied()
            .collect();
        assert_eq!(repeated_at(&ids, &(7..16), &facts, &vocab), Some((10, 0)));
        // Another fact is kept as it is.
        let ids: Vec<u32> = first.iter().chain(&[0, 10, 11, 4, 5, 6]).copied().collect();
        assert_eq!(repeated_at(&ids, &(7..13), &facts, &vocab), None);
    }

    #[test]
    fn greedy_takes_best_allowed() {
        let logits = vec![0.1, 5.0, 3.0, 4.0];
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(choose(&logits, &|_| true, 0.0, 1.0, &mut rng), Some(1));
        assert_eq!(choose(&logits, &|id| id != 1, 0.0, 1.0, &mut rng), Some(3));
        assert_eq!(choose(&logits, &|_| false, 0.0, 1.0, &mut rng), None);
        // A tie goes to the lower token id, wherever it lies in the vocabulary.
        let mut tied = vec![0.0f32; 300];
        tied[250] = 2.0;
        tied[7] = 2.0;
        assert_eq!(choose(&tied, &|_| true, 0.0, 1.0, &mut rng), Some(7));
        assert_eq!(argmax(&tied), Some(7));
    }

    #[test]
    fn full_scan_when_head_is_all_banned() {
        let logits: Vec<f32> = (0..200).map(|i| i as f32).collect();
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(choose(&logits, &|id| id < 10, 0.0, 1.0, &mut rng), Some(9));
    }

    #[test]
    fn sampling_is_seeded_and_stays_allowed() {
        let logits = vec![1.0, 1.0, 1.0, 1.0];
        let pick = |seed| {
            choose(
                &logits,
                &|id| id % 2 == 0,
                1.0,
                1.0,
                &mut StdRng::seed_from_u64(seed),
            )
        };
        for seed in 0..20 {
            assert!(pick(seed).unwrap() % 2 == 0);
            assert_eq!(pick(seed), pick(seed));
        }
    }

    #[test]
    fn penalty_lowers_seen_tokens() {
        let mut l = vec![2.0, -2.0, 2.0];
        penalize(&mut l, &[0, 1], 2.0, 64);
        assert_eq!(l, vec![1.0, -4.0, 2.0]);
    }

    #[test]
    fn full_stops_are_lifted_more_as_a_fact_nears_its_bound() {
        let toks: Vec<Vec<u8>> = [".", " it.", "...", "a", "3.", " (x).", "?"]
            .iter()
            .map(|t| t.as_bytes().to_vec())
            .collect();
        let stops = full_stop_tokens(&toks);
        assert_eq!(stops, vec![0, 1, 4, 6]);
        let mut far = vec![0.0; 7];
        steer_to_full_stop(&mut far, &stops, STEER_WORDS + 1);
        assert!(far.iter().all(|&l| l == 0.0));
        let (mut near, mut at) = (vec![0.0; 7], vec![0.0; 7]);
        steer_to_full_stop(&mut near, &stops, STEER_WORDS / 2);
        steer_to_full_stop(&mut at, &stops, 0);
        assert!(near[0] > 0.0 && near[0] < at[0] && at[0] == STEER_LIFT);
        assert_eq!((at[2], at[3]), (0.0, 0.0));
    }
}
