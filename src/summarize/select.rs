//! Several candidate digests, one kept: the article's sentences are ranked
//! by salience, the best few stand in for a reference, and each candidate's
//! headline and summary are scored on how much of them they cover and on
//! how much they agree with the other candidates. Scores are ratios of word
//! counts; ties go to the earlier candidate (the greedy one first), so the
//! choice never rests on float order.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::eval::metrics::{rouge_l, rouge_tokens};

/// Sentences of the salience reference.
pub const REFERENCE_SENTENCES: usize = 3;

/// One candidate's headline and summary with its scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// How it was decoded: `greedy`, or `sampled, seed N`.
    pub origin: String,
    /// Its headline.
    pub headline: String,
    /// Its summary.
    pub summary: String,
    /// ROUGE-L F1 of the summary against the salient sentences.
    pub coverage: f64,
    /// Mean ROUGE-L F1 of the summary against the other candidates' summaries.
    pub agreement: f64,
    /// The score it was chosen by: [`COVERAGE_WEIGHT`] × coverage +
    /// (1 − [`COVERAGE_WEIGHT`]) × agreement.
    pub score: f64,
}

/// The share of coverage in a candidate's score; the rest is agreement.
pub const COVERAGE_WEIGHT: f64 = 0.5;

/// The choice among candidates, kept in the digest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    /// Index of the kept candidate in `candidates`.
    pub chosen: usize,
    /// Every candidate, the greedy one first.
    pub candidates: Vec<Candidate>,
}

/// Indices of the `k` most salient sentences, in article order.
///
/// A sentence's salience adds two parts, each in [0, 1]:
/// - its position: news states its point first (1 for the first sentence,
///   then 1 / (1 + i));
/// - its centrality: the mean cosine similarity of its words (weighted by
///   how rare they are in the article) with the other sentences'.
///
/// Position dominates: a later sentence is ranked above an earlier one only
/// where it shares much more of the article's vocabulary. A share of names
/// and numbers was tried as a third part and picked sentences that matched
/// news highlights less (see `docs/EVALUATION.md`).
/// Ties go to the earlier sentence.
pub fn salient(sentences: &[&str], k: usize) -> Vec<usize> {
    let n = sentences.len();
    let tokens: Vec<Vec<String>> = sentences.iter().map(|s| rouge_tokens(s)).collect();
    let mut df: HashMap<&str, usize> = HashMap::new();
    for t in &tokens {
        let unique: HashSet<&str> = t.iter().map(String::as_str).collect();
        for w in unique {
            *df.entry(w).or_insert(0) += 1;
        }
    }
    let idf = |w: &str| (1.0 + n as f64 / df.get(w).copied().unwrap_or(1) as f64).ln();
    let vectors: Vec<HashMap<&str, f64>> = tokens
        .iter()
        .map(|t| {
            let mut v: HashMap<&str, f64> = HashMap::new();
            for w in t {
                *v.entry(w.as_str()).or_insert(0.0) += 1.0;
            }
            for (w, x) in v.iter_mut() {
                *x *= idf(w);
            }
            v
        })
        .collect();
    let norms: Vec<f64> = vectors
        .iter()
        .map(|v| v.values().map(|x| x * x).sum::<f64>().sqrt())
        .collect();
    let cosine = |a: usize, b: usize| {
        let (va, vb) = (&vectors[a], &vectors[b]);
        let dot: f64 = va
            .iter()
            .filter_map(|(w, x)| vb.get(w).map(|y| x * y))
            .sum();
        let d = norms[a] * norms[b];
        if d > 0.0 {
            dot / d
        } else {
            0.0
        }
    };
    let mut scored: Vec<(usize, f64)> = (0..n)
        .map(|i| {
            let position = 1.0 / (1.0 + i as f64);
            let centrality = if n > 1 {
                (0..n)
                    .filter(|&j| j != i)
                    .map(|j| cosine(i, j))
                    .sum::<f64>()
                    / (n - 1) as f64
            } else {
                0.0
            };
            (i, position + centrality)
        })
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut top: Vec<usize> = scored.into_iter().take(k).map(|(i, _)| i).collect();
    top.sort_unstable();
    top
}

/// Scores `candidates` (headline, summary, origin) against `reference` and
/// each other, and keeps the best.
pub fn choose(candidates: Vec<(String, String, String)>, reference: &str) -> Selection {
    let summaries: Vec<&str> = candidates.iter().map(|c| c.1.as_str()).collect();
    let agreement: Vec<f64> = (0..summaries.len())
        .map(|i| {
            let others = summaries.len() - 1;
            if others == 0 {
                return 0.0;
            }
            (0..summaries.len())
                .filter(|&j| j != i)
                .map(|j| rouge_l(summaries[i], summaries[j]).f1)
                .sum::<f64>()
                / others as f64
        })
        .collect();
    let candidates: Vec<Candidate> = candidates
        .into_iter()
        .zip(agreement)
        .map(|((headline, summary, origin), agreement)| {
            let coverage = rouge_l(&summary, reference).f1;
            Candidate {
                origin,
                score: COVERAGE_WEIGHT * coverage + (1.0 - COVERAGE_WEIGHT) * agreement,
                coverage,
                agreement,
                headline,
                summary,
            }
        })
        .collect();
    // Scores within a millionth are a tie, so that the last bits of a
    // ratio never decide: the earlier candidate wins.
    let key = |c: &Candidate| (c.score * 1e6).round() as i64;
    let mut chosen = 0;
    for (i, c) in candidates.iter().enumerate() {
        if key(c) > key(&candidates[chosen]) {
            chosen = i;
        }
    }
    Selection { chosen, candidates }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(h: &str, s: &str, origin: &str) -> (String, String, String) {
        (h.into(), s.into(), origin.into())
    }

    #[test]
    fn salient_sentences_come_in_article_order_and_favour_the_lead() {
        let s = [
            "Floods closed 12 roads in Lahore on Monday.",
            "The weather office said more rain would fall.",
            "Officials in Lahore said the 12 roads would reopen when the floods recede.",
            "A cricket match was also played.",
        ];
        assert_eq!(salient(&s, 2), [0, 1]);
        // Equal sentences: the earlier wins.
        let same = ["Rain fell.", "Rain fell.", "Rain fell."];
        assert_eq!(salient(&same, 1), [0]);
        assert_eq!(salient(&s, 10), [0, 1, 2, 3]);
        assert!(salient(&[], 3).is_empty());
    }

    #[test]
    fn a_central_sentence_outranks_a_later_lead_sentence() {
        // The third sentence shares the article's vocabulary; the second shares none.
        let s = [
            "Floods closed roads across Lahore after record monsoon rain.",
            "Tickets cost less this year.",
            "Monsoon floods closed roads and bridges across Lahore as rain continued.",
            "Lahore officials said monsoon rain and floods closed more roads.",
            "Rain and floods in Lahore closed roads near the river.",
        ];
        assert_eq!(salient(&s, 2), [0, 2]);
    }

    #[test]
    fn the_candidate_that_covers_the_reference_and_agrees_is_kept() {
        let reference =
            "Floods closed 12 roads in Lahore on Monday. Officials said rain would continue.";
        let sel = choose(
            vec![
                cand(
                    "A match",
                    "A cricket match was played in Karachi.",
                    "greedy",
                ),
                cand(
                    "Floods",
                    "Floods closed 12 roads in Lahore on Monday.",
                    "sampled, seed 43",
                ),
                cand(
                    "Floods",
                    "Floods closed roads in Lahore.",
                    "sampled, seed 44",
                ),
            ],
            reference,
        );
        assert_eq!(sel.chosen, 1);
        assert_eq!(sel.candidates.len(), 3);
        let c = &sel.candidates[1];
        assert!(c.coverage > sel.candidates[0].coverage);
        assert!(c.agreement > sel.candidates[0].agreement);
        assert!(
            (c.score - (COVERAGE_WEIGHT * c.coverage + (1.0 - COVERAGE_WEIGHT) * c.agreement))
                .abs()
                < 1e-12
        );
    }

    #[test]
    fn ties_go_to_the_earlier_candidate() {
        let sel = choose(
            vec![
                cand("H", "Rain fell in Lahore.", "greedy"),
                cand("H2", "Rain fell in Lahore.", "sampled, seed 43"),
            ],
            "Rain fell in Lahore on Monday.",
        );
        assert_eq!(sel.chosen, 0);
        let one = choose(vec![cand("H", "Rain.", "greedy")], "Rain fell.");
        assert_eq!((one.chosen, one.candidates[0].agreement), (0, 0.0));
    }
}
