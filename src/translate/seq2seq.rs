//! Decoding for encoder-decoder translation models: one [`Seq2Seq`] trait,
//! and greedy and beam search written once for every backend.
//!
//! The search follows Hugging Face `generate` (transformers 5): log-softmax,
//! then the logits processors (no-repeat n-gram, forced first and last
//! token, banned tokens), the top `2 × beams` continuations, finished
//! hypotheses scored by `sum of log-probabilities / length^length_penalty`,
//! and the default stopping heuristic (`early_stopping = False`). The parity
//! tests compare its token sequences with the reference ones exactly.

use crate::error::Result;

/// An encoder-decoder model, decoded one token at a time.
///
/// `State` holds one hypothesis' decoder cache; cloning it forks the
/// hypothesis (beam search clones the state of each surviving parent).
pub trait Seq2Seq {
    /// Decoder state for one hypothesis.
    type State: Clone;
    /// Encodes the source ids and returns an empty decoder state.
    fn start(&mut self, src: &[u32]) -> Result<Self::State>;
    /// Feeds one decoder token and returns the logits for the next one.
    fn step(&self, state: &mut Self::State, token: u32) -> Result<Vec<f32>>;
}

/// Model-specific tokens that decoding must respect.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Special {
    /// First decoder token.
    pub decoder_start: u32,
    /// End of sequence.
    pub eos: u32,
    /// Token forced right after the start token (NLLB's target language).
    pub forced_bos: Option<u32>,
    /// Token forced at the last position allowed by the length limit.
    pub forced_eos: Option<u32>,
    /// Tokens never generated (Marian's padding token).
    pub banned: Vec<u32>,
}

/// Decoding settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decoding {
    /// 1 for greedy search, more for beam search.
    pub beams: usize,
    /// Exponent of the length normalization of finished hypotheses.
    pub length_penalty: f32,
    /// Ban any n-gram of this size from repeating (0: off).
    pub no_repeat_ngram: usize,
    /// Most tokens generated after the start token.
    pub max_new_tokens: usize,
}

impl Decoding {
    /// Greedy search.
    pub fn greedy(max_new_tokens: usize) -> Self {
        Self {
            beams: 1,
            length_penalty: 1.0,
            no_repeat_ngram: 0,
            max_new_tokens,
        }
    }

    /// Beam search.
    pub fn beam(
        beams: usize,
        length_penalty: f32,
        no_repeat_ngram: usize,
        max_new_tokens: usize,
    ) -> Self {
        Self {
            beams: beams.max(1),
            length_penalty,
            no_repeat_ngram,
            max_new_tokens,
        }
    }

    /// The usual length limit for a translation: twice the source plus ten.
    pub fn max_new_for_source(src_len: usize) -> usize {
        2 * src_len + 10
    }
}

/// The result of decoding: the token sequence (start token first) and
/// whether it ended with the end token.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// Tokens, the decoder start token first, the end token last when reached.
    pub tokens: Vec<u32>,
    /// True when the sequence ended with the end token, false when cut by length.
    pub finished: bool,
}

/// Decodes `src` with greedy or beam search.
pub fn generate<M: Seq2Seq>(
    model: &mut M,
    src: &[u32],
    special: &Special,
    d: &Decoding,
) -> Result<Decoded> {
    let state = model.start(src)?;
    let tokens = if d.beams <= 1 {
        greedy(model, state, special, d)?
    } else {
        beam(model, state, special, d)?
    };
    let finished = tokens.len() > 1 && tokens.last() == Some(&special.eos);
    Ok(Decoded { tokens, finished })
}

fn greedy<M: Seq2Seq>(
    model: &M,
    mut state: M::State,
    special: &Special,
    d: &Decoding,
) -> Result<Vec<u32>> {
    let max_len = 1 + d.max_new_tokens;
    let mut tokens = vec![special.decoder_start];
    let mut logits = model.step(&mut state, special.decoder_start)?;
    while tokens.len() < max_len {
        process(&mut logits, &tokens, max_len, special, d.no_repeat_ngram);
        let next = argmax(&logits);
        tokens.push(next);
        if next == special.eos || tokens.len() >= max_len {
            break;
        }
        logits = model.step(&mut state, next)?;
    }
    Ok(tokens)
}

struct Hypothesis<S> {
    tokens: Vec<u32>,
    score: f32,
    state: S,
    logits: Vec<f32>,
}

fn beam<M: Seq2Seq>(
    model: &M,
    mut state: M::State,
    special: &Special,
    d: &Decoding,
) -> Result<Vec<u32>> {
    let k = d.beams;
    let max_len = 1 + d.max_new_tokens;
    let start = special.decoder_start;
    let logits = model.step(&mut state, start)?;
    let mut running = vec![Hypothesis {
        tokens: vec![start],
        score: 0.0,
        state,
        logits,
    }];
    // Finished hypotheses, best first: (normalized score, tokens).
    let mut finished: Vec<(f32, Vec<u32>)> = Vec::new();
    let mut improvable = true;
    let mut cur_len = 1usize;
    loop {
        // Candidates: (accumulated log-probability, parent, token).
        let mut candidates: Vec<(f32, usize, u32)> = Vec::new();
        for (i, h) in running.iter_mut().enumerate() {
            let mut lp = log_softmax(&h.logits);
            process(&mut lp, &h.tokens, max_len, special, d.no_repeat_ngram);
            candidates.extend(
                lp.iter()
                    .enumerate()
                    .filter(|(_, v)| v.is_finite())
                    .map(|(t, v)| (h.score + v, i, t as u32)),
            );
        }
        // Stable sort: among equal scores the lower beam and token come first.
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
        candidates.truncate(2 * k);
        let hits = |t: u32| t == special.eos || cur_len + 1 >= max_len;

        if improvable {
            let norm = ((cur_len + 1 - 1) as f32).powf(d.length_penalty);
            for &(score, parent, token) in candidates.iter().take(k) {
                if hits(token) {
                    let mut tokens = running[parent].tokens.clone();
                    tokens.push(token);
                    finished.push((score / norm, tokens));
                }
            }
            finished.sort_by(|a, b| b.0.total_cmp(&a.0));
            finished.truncate(k);
        }

        let mut next = Vec::with_capacity(k);
        for &(score, parent, token) in &candidates {
            if next.len() == k {
                break;
            }
            if hits(token) {
                continue;
            }
            let p = &running[parent];
            let mut tokens = p.tokens.clone();
            tokens.push(token);
            let mut state = p.state.clone();
            let logits = model.step(&mut state, token)?;
            next.push(Hypothesis {
                tokens,
                score,
                state,
                logits,
            });
        }
        cur_len += 1;
        if next.is_empty() {
            break;
        }
        running = next;
        if finished.len() >= k {
            let best_running = running[0].score / ((cur_len - 1) as f32).powf(d.length_penalty);
            let worst_finished = finished.last().map(|f| f.0).unwrap_or(f32::NEG_INFINITY);
            improvable = improvable && best_running > worst_finished;
        }
        if !improvable {
            break;
        }
    }
    Ok(finished
        .into_iter()
        .next()
        .map(|(_, t)| t)
        .unwrap_or_else(|| vec![start]))
}

/// Applies the logits processors in Hugging Face's order: no-repeat n-gram,
/// forced first token, forced last token, banned tokens.
fn process(
    scores: &mut [f32],
    tokens: &[u32],
    max_len: usize,
    special: &Special,
    no_repeat: usize,
) {
    if no_repeat > 0 && tokens.len() + 1 >= no_repeat {
        let prefix = &tokens[tokens.len() + 1 - no_repeat..];
        for w in tokens.windows(no_repeat) {
            if &w[..no_repeat - 1] == prefix {
                if let Some(s) = scores.get_mut(w[no_repeat - 1] as usize) {
                    *s = f32::NEG_INFINITY;
                }
            }
        }
    }
    // As in the reference, a forced token scores 0 and every other -inf.
    let force = |scores: &mut [f32], keep: u32| {
        for (i, s) in scores.iter_mut().enumerate() {
            *s = if i as u32 == keep {
                0.0
            } else {
                f32::NEG_INFINITY
            };
        }
    };
    if let (1, Some(bos)) = (tokens.len(), special.forced_bos) {
        force(scores, bos);
    }
    if let Some(eos) = special.forced_eos {
        if tokens.len() + 1 == max_len {
            force(scores, eos);
        }
    }
    for &b in &special.banned {
        if let Some(s) = scores.get_mut(b as usize) {
            *s = f32::NEG_INFINITY;
        }
    }
}

fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best as u32
}

fn log_softmax(v: &[f32]) -> Vec<f32> {
    let max = v.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = v.iter().map(|x| (x - max).exp()).sum();
    let log_sum = sum.ln() + max;
    v.iter().map(|x| x - log_sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model whose next-token log-probabilities depend only on the last
    /// token, from a fixed table.
    struct Table(Vec<Vec<f32>>);

    impl Seq2Seq for Table {
        type State = u32;
        fn start(&mut self, _src: &[u32]) -> Result<u32> {
            Ok(0)
        }
        fn step(&self, state: &mut u32, token: u32) -> Result<Vec<f32>> {
            *state = token;
            Ok(self.0[token as usize].clone())
        }
    }

    fn special() -> Special {
        Special {
            decoder_start: 0,
            eos: 1,
            ..Special::default()
        }
    }

    #[test]
    fn greedy_follows_the_best_token_and_stops_at_eos() {
        // 0 -> 2 -> 3 -> 1 (eos)
        let t = Table(vec![
            vec![-9.0, -9.0, 0.0, -5.0],
            vec![0.0; 4],
            vec![-9.0, -5.0, -9.0, 0.0],
            vec![-9.0, 0.0, -5.0, -9.0],
        ]);
        let out = generate(&mut { t }, &[5], &special(), &Decoding::greedy(10)).unwrap();
        assert_eq!(out.tokens, vec![0, 2, 3, 1]);
        assert!(out.finished);
    }

    #[test]
    fn beam_finds_a_better_sequence_than_greedy() {
        // Greedy takes 2 (p=.6) then is stuck with a poor end; 3 (p=.4) leads
        // to a certain end.
        let l = |p: &[f32]| p.iter().map(|x| x.ln()).collect::<Vec<f32>>();
        let table = vec![
            l(&[1e-9, 1e-9, 0.6, 0.4]),
            l(&[0.25; 4]),
            l(&[0.3, 0.3, 0.2, 0.2]),
            l(&[1e-9, 0.999, 1e-9, 1e-9]),
        ];
        let g = generate(
            &mut Table(table.clone()),
            &[],
            &special(),
            &Decoding::greedy(3),
        )
        .unwrap();
        assert_eq!(g.tokens[1], 2);
        let b = generate(
            &mut Table(table),
            &[],
            &special(),
            &Decoding::beam(2, 1.0, 0, 3),
        )
        .unwrap();
        assert_eq!(b.tokens, vec![0, 3, 1]);
    }

    #[test]
    fn no_repeat_ngram_bans_a_repeated_pair() {
        let mut s = vec![0.0f32; 6];
        process(&mut s, &[0, 4, 5, 4], 20, &special(), 2);
        assert_eq!(s[5], f32::NEG_INFINITY);
        assert!(s.iter().filter(|x| x.is_finite()).count() == 5);
    }

    #[test]
    fn forced_tokens_and_bans() {
        let sp = Special {
            forced_bos: Some(3),
            forced_eos: Some(1),
            banned: vec![2],
            ..special()
        };
        let mut s = vec![0.0f32; 5];
        process(&mut s, &[0], 10, &sp, 0);
        assert_eq!(s.iter().filter(|x| x.is_finite()).count(), 1);
        assert!(s[3].is_finite());
        let mut s = vec![0.0f32; 5];
        process(&mut s, &[0, 3, 4, 4, 4, 4, 4, 4, 4], 10, &sp, 0);
        assert!(s[1].is_finite() && s.iter().filter(|x| x.is_finite()).count() == 1);
        let mut s = vec![0.0f32; 5];
        process(&mut s, &[0, 3], 10, &sp, 0);
        assert_eq!(s[2], f32::NEG_INFINITY);
    }

    #[test]
    fn length_limit_ends_every_search() {
        let t = Table(vec![vec![0.0, -50.0, 0.0]; 3]);
        let out = generate(&mut { t }, &[], &special(), &Decoding::beam(3, 1.0, 0, 5)).unwrap();
        assert_eq!(out.tokens.len(), 6);
        assert!(!out.finished);
    }
}
