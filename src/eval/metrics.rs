//! Quality metrics: ROUGE-1/2/L/Lsum F1 (rouge-score's scoring, with a Unicode
//! tokenizer for Urdu and Pashto), chrF++ and BLEU (sacreBLEU's definitions:
//! chrF with 6 character and 2 word n-gram orders and β = 2; BLEU with the
//! 13a tokenizer and exponential smoothing). Checked against the Python
//! packages in the tests.

use std::collections::HashMap;

/// ROUGE tokens: lower-cased runs of letters and digits (Unicode), as
/// rouge-score does for ASCII text and XL-Sum's multilingual ROUGE for
/// other scripts; no stemming.
pub fn rouge_tokens(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| {
            !(c.is_alphanumeric() || matches!(c as u32, 0x064B..=0x065F | 0x0670 | 0x06D6..=0x06ED))
        })
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// Precision, recall and F1.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Prf {
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1.
    pub f1: f64,
}

impl Prf {
    /// Precision and recall with their harmonic mean as F1 (0 when both are 0).
    pub fn new(precision: f64, recall: f64) -> Self {
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        Self {
            precision,
            recall,
            f1,
        }
    }
}

fn prf(overlap: f64, cand: f64, reference: f64) -> Prf {
    let precision = if cand > 0.0 { overlap / cand } else { 0.0 };
    let recall = if reference > 0.0 {
        overlap / reference
    } else {
        0.0
    };
    Prf::new(precision, recall)
}

fn ngrams<T: std::hash::Hash + Eq + Clone>(tokens: &[T], n: usize) -> HashMap<Vec<T>, usize> {
    let mut m = HashMap::new();
    if n > 0 && tokens.len() >= n {
        for w in tokens.windows(n) {
            *m.entry(w.to_vec()).or_insert(0) += 1;
        }
    }
    m
}

fn overlap<K: std::hash::Hash + Eq>(a: &HashMap<K, usize>, b: &HashMap<K, usize>) -> usize {
    a.iter()
        .map(|(k, c)| (*c).min(*b.get(k).unwrap_or(&0)))
        .sum()
}

/// ROUGE-N between a candidate and a reference.
pub fn rouge_n(candidate: &str, reference: &str, n: usize) -> Prf {
    let (c, r) = (
        ngrams(&rouge_tokens(candidate), n),
        ngrams(&rouge_tokens(reference), n),
    );
    prf(
        overlap(&c, &r) as f64,
        c.values().sum::<usize>() as f64,
        r.values().sum::<usize>() as f64,
    )
}

/// ROUGE-L (longest common subsequence over the whole text).
pub fn rouge_l(candidate: &str, reference: &str) -> Prf {
    let (c, r) = (rouge_tokens(candidate), rouge_tokens(reference));
    let mut prev = vec![0usize; r.len() + 1];
    for ct in &c {
        let mut cur = vec![0usize; r.len() + 1];
        for (j, rt) in r.iter().enumerate() {
            cur[j + 1] = if ct == rt {
                prev[j] + 1
            } else {
                cur[j].max(prev[j + 1])
            };
        }
        prev = cur;
    }
    prf(prev[r.len()] as f64, c.len() as f64, r.len() as f64)
}

/// ROUGE-Lsum, rouge-score's summary-level LCS: candidate and reference are
/// read as sentences, one a line; each reference sentence takes the union of
/// its longest common subsequences with every candidate sentence, and a
/// token counts at most as often as it occurs in both texts. Unlike
/// [`rouge_l`], sentences given in another order than the reference's still
/// count.
pub fn rouge_lsum(candidate: &str, reference: &str) -> Prf {
    let sentences = |t: &str| -> Vec<Vec<String>> {
        t.split('\n')
            .filter(|s| !s.is_empty())
            .map(rouge_tokens)
            .collect()
    };
    let (cand, refs) = (sentences(candidate), sentences(reference));
    let n: usize = cand.iter().map(Vec::len).sum();
    let m: usize = refs.iter().map(Vec::len).sum();
    if n == 0 || m == 0 {
        return Prf::default();
    }
    let counts = |sents: &[Vec<String>]| {
        let mut c: HashMap<String, usize> = HashMap::new();
        for t in sents.iter().flatten() {
            *c.entry(t.clone()).or_insert(0) += 1;
        }
        c
    };
    let (mut left_c, mut left_r) = (counts(&cand), counts(&refs));
    let mut hits = 0usize;
    for r in &refs {
        let mut in_union = vec![false; r.len()];
        for c in &cand {
            for i in lcs_indices(r, c) {
                in_union[i] = true;
            }
        }
        for (t, _) in r.iter().zip(&in_union).filter(|(_, u)| **u) {
            let (Some(lc), Some(lr)) = (left_c.get_mut(t), left_r.get_mut(t)) else {
                continue;
            };
            if *lc > 0 && *lr > 0 {
                hits += 1;
                *lc -= 1;
                *lr -= 1;
            }
        }
    }
    prf(hits as f64, n as f64, m as f64)
}

/// The positions in `r` of one longest common subsequence of `r` and `c`,
/// read back from the table as rouge-score does (on a tie, the step that
/// drops a token of `r`).
fn lcs_indices(r: &[String], c: &[String]) -> Vec<usize> {
    let w = c.len() + 1;
    let mut t = vec![0usize; (r.len() + 1) * w];
    for i in 1..=r.len() {
        for j in 1..=c.len() {
            t[i * w + j] = if r[i - 1] == c[j - 1] {
                t[(i - 1) * w + j - 1] + 1
            } else {
                t[(i - 1) * w + j].max(t[i * w + j - 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (r.len(), c.len(), Vec::new());
    while i > 0 && j > 0 {
        if r[i - 1] == c[j - 1] {
            out.push(i - 1);
            i -= 1;
            j -= 1;
        } else if t[i * w + j - 1] > t[(i - 1) * w + j] {
            j -= 1;
        } else {
            i -= 1;
        }
    }
    out.reverse();
    out
}

const PUNCTS: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// Words for chrF++: whitespace split, one punctuation mark split off the
/// end (or else the start) of each word.
fn chrf_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    for w in s.split_whitespace() {
        let chars: Vec<char> = w.chars().collect();
        if chars.len() == 1 {
            out.push(w.to_string());
        } else if PUNCTS.contains(chars[chars.len() - 1]) {
            out.push(chars[..chars.len() - 1].iter().collect());
            out.push(chars[chars.len() - 1].to_string());
        } else if PUNCTS.contains(chars[0]) {
            out.push(chars[0].to_string());
            out.push(chars[1..].iter().collect());
        } else {
            out.push(w.to_string());
        }
    }
    out
}

/// chrF++ statistics of one segment: per order, `[hyp, ref, match]`.
fn chrf_stats(hyp: &str, reference: &str) -> Vec<[usize; 3]> {
    let squash = |s: &str| -> Vec<char> { s.split_whitespace().flat_map(str::chars).collect() };
    let (hc, rc) = (squash(hyp), squash(reference));
    let (hw, rw) = (chrf_words(hyp), chrf_words(reference));
    let mut stats = Vec::with_capacity(8);
    for n in 1..=6 {
        let (h, r) = (ngrams(&hc, n), ngrams(&rc, n));
        stats.push([h.values().sum(), r.values().sum(), overlap(&h, &r)]);
    }
    for n in 1..=2 {
        let (h, r) = (ngrams(&hw, n), ngrams(&rw, n));
        stats.push([h.values().sum(), r.values().sum(), overlap(&h, &r)]);
    }
    stats
}

/// Corpus chrF++ (0–100) of hypotheses against one reference each.
pub fn chrf_pp(hyps: &[String], refs: &[String]) -> f64 {
    let mut total = vec![[0usize; 3]; 8];
    for (h, r) in hyps.iter().zip(refs) {
        for (t, s) in total.iter_mut().zip(chrf_stats(h, r)) {
            for k in 0..3 {
                t[k] += s[k];
            }
        }
    }
    let beta2 = 4.0;
    let (mut p, mut r, mut eff) = (0.0, 0.0, 0);
    for [nh, nr, nm] in total {
        if nh > 0 && nr > 0 {
            p += nm as f64 / nh as f64;
            r += nm as f64 / nr as f64;
            eff += 1;
        }
    }
    if eff == 0 {
        return 0.0;
    }
    let (p, r) = (p / eff as f64, r / eff as f64);
    if p + r == 0.0 {
        return 0.0;
    }
    100.0 * (1.0 + beta2) * p * r / (beta2 * p + r)
}

/// The 13a tokenizer of mteval / sacreBLEU.
pub fn tokenize_13a(line: &str) -> String {
    let mut s = line
        .replace("<skipped>", "")
        .replace("-\n", "")
        .replace('\n', " ");
    if s.contains('&') {
        s = s
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">");
    }
    let is_punct =
        |c: char| matches!(c, '{'..='~' | '['..='`' | ' '..='&' | '('..='+' | ':'..='@' | '/');
    let mut out = String::new();
    for c in format!(" {s} ").chars() {
        if is_punct(c) {
            out.push(' ');
            out.push(c);
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    // Each rule is one left-to-right, non-overlapping pass over pairs.
    let pass = |text: &str,
                first: &dyn Fn(char) -> bool,
                second: &dyn Fn(char) -> bool,
                join: &dyn Fn(char, char) -> String| {
        let chars: Vec<char> = text.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        while i < chars.len() {
            if i + 1 < chars.len() && first(chars[i]) && second(chars[i + 1]) {
                out.push_str(&join(chars[i], chars[i + 1]));
                i += 2;
            } else {
                out.push(chars[i]);
                i += 1;
            }
        }
        out
    };
    let digit = |c: char| c.is_ascii_digit();
    let dot = |c: char| c == '.' || c == ',';
    let out = pass(&out, &|c| !digit(c), &dot, &|a, b| format!("{a} {b} "));
    let out = pass(&out, &dot, &|c| !digit(c), &|a, b| format!(" {a} {b}"));
    let out = pass(&out, &digit, &|c| c == '-', &|a, b| format!("{a} {b} "));
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Corpus BLEU (0–100), sacreBLEU defaults: 13a, exponential smoothing.
pub fn bleu(hyps: &[String], refs: &[String]) -> f64 {
    let (mut correct, mut total) = ([0usize; 4], [0usize; 4]);
    let (mut sys_len, mut ref_len) = (0usize, 0usize);
    for (h, r) in hyps.iter().zip(refs) {
        let ht: Vec<String> = tokenize_13a(h.trim_end())
            .split(' ')
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect();
        let rt: Vec<String> = tokenize_13a(r.trim_end())
            .split(' ')
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect();
        sys_len += ht.len();
        ref_len += rt.len();
        for n in 1..=4 {
            let (hn, rn) = (ngrams(&ht, n), ngrams(&rt, n));
            correct[n - 1] += overlap(&hn, &rn);
            total[n - 1] += hn.values().sum::<usize>();
        }
    }
    if correct.iter().all(|c| *c == 0) {
        return 0.0;
    }
    let bp = if sys_len < ref_len {
        if sys_len > 0 {
            (1.0 - ref_len as f64 / sys_len as f64).exp()
        } else {
            0.0
        }
    } else {
        1.0
    };
    let mut smooth = 1.0;
    let mut log_sum = 0.0;
    for n in 0..4 {
        if total[n] == 0 {
            return 0.0;
        }
        let p = if correct[n] == 0 {
            smooth *= 2.0;
            100.0 / (smooth * total[n] as f64)
        } else {
            100.0 * correct[n] as f64 / total[n] as f64
        };
        log_sum += p.ln();
    }
    bp * (log_sum / 4.0).exp()
}

/// A mean with its 95 % confidence interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Interval {
    /// The mean of the values.
    pub mean: f64,
    /// The 2.5th percentile of the resampled means.
    pub low: f64,
    /// The 97.5th percentile of the resampled means.
    pub high: f64,
}

/// Resamples in [`bootstrap`].
pub const BOOTSTRAP_RESAMPLES: usize = 2000;

/// The mean of `values` with a percentile bootstrap interval: `resamples`
/// means of as many values drawn with replacement, from a fixed seed, so a
/// report is the same each time it is made. For a paired comparison, pass
/// the per-document differences.
pub fn bootstrap(values: &[f64], resamples: usize) -> Interval {
    use rand::{Rng, SeedableRng};
    let n = values.len();
    if n == 0 {
        return Interval::default();
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5EED);
    let mut means: Vec<f64> = (0..resamples.max(1))
        .map(|_| (0..n).map(|_| values[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| means[((q * (means.len() - 1) as f64).round() as usize).min(means.len() - 1)];
    Interval {
        mean,
        low: at(0.025),
        high: at(0.975),
    }
}

#[cfg(test)]
mod tests;
