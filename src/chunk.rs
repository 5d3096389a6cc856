//! Token-budgeted chunking: sentences are packed into chunks that never
//! exceed a budget counted in the model's own tokens.

use crate::segment::Sentence;

/// Counts tokens the way a model does.
pub trait TokenCounter {
    /// Number of tokens in `text`.
    fn count(&self, text: &str) -> usize;
}

/// Counts characters: a stand-in for tests and a rough upper bound.
#[derive(Debug, Clone, Copy, Default)]
pub struct CharCounter;

impl TokenCounter for CharCounter {
    fn count(&self, text: &str) -> usize {
        text.chars().count()
    }
}

impl<T: TokenCounter + ?Sized> TokenCounter for &T {
    fn count(&self, text: &str) -> usize {
        (**self).count(text)
    }
}

/// Chunking options.
#[derive(Debug, Clone, Copy)]
pub struct ChunkOptions {
    /// Largest chunk in tokens.
    pub budget: usize,
    /// Tokens of trailing sentences repeated at the start of the next chunk
    /// (0 = no overlap; default 0).
    pub overlap: usize,
}

/// A chunk of consecutive sentences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The text: sentences joined by spaces, paragraphs by newlines.
    pub text: String,
    /// Tokens in `text`.
    pub tokens: usize,
    /// Number of leading pieces repeated from the previous chunk.
    pub overlap_pieces: usize,
    /// True when a sentence had to be split at word boundaries to fit.
    pub split_sentence: bool,
}

/// A piece of text to pack: a sentence, or part of an over-long one.
#[derive(Debug, Clone)]
struct Piece {
    text: String,
    para_start: bool,
    split: bool,
}

/// Packs `sentences` into chunks of at most `opts.budget` tokens, in order.
pub fn chunk(
    sentences: &[Sentence<'_>],
    counter: &dyn TokenCounter,
    opts: ChunkOptions,
) -> Vec<Chunk> {
    let budget = opts.budget.max(1);
    let pieces: Vec<Piece> = sentences
        .iter()
        .flat_map(|s| split_long(s.text, s.para_start, counter, budget))
        .collect();
    let mut chunks = Vec::new();
    let mut cur: Vec<Piece> = Vec::new();
    let mut overlap_n = 0;
    for piece in pieces {
        let mut candidate = cur.clone();
        candidate.push(piece.clone());
        if cur.len() > overlap_n && counter.count(&join(&candidate)) > budget {
            let carried = carry_over(&cur, counter, opts.overlap, &piece, budget);
            chunks.push(finish(&cur, counter, overlap_n));
            overlap_n = carried.len();
            cur = carried;
            cur.push(piece);
            // Overlap must never push a chunk over budget.
            while overlap_n > 0 && counter.count(&join(&cur)) > budget {
                cur.remove(0);
                overlap_n -= 1;
            }
        } else {
            cur = candidate;
        }
    }
    if cur.len() > overlap_n || (chunks.is_empty() && !cur.is_empty()) {
        chunks.push(finish(&cur, counter, overlap_n));
    }
    chunks
}

fn carry_over(
    cur: &[Piece],
    counter: &dyn TokenCounter,
    overlap: usize,
    next: &Piece,
    budget: usize,
) -> Vec<Piece> {
    if overlap == 0 {
        return Vec::new();
    }
    let mut carried: Vec<Piece> = Vec::new();
    for p in cur.iter().rev() {
        let mut trial = vec![p.clone()];
        trial.extend(carried.iter().cloned());
        let t = counter.count(&join(&trial));
        let mut with_next = trial.clone();
        with_next.push(next.clone());
        if t > overlap || counter.count(&join(&with_next)) > budget {
            break;
        }
        carried = trial;
    }
    carried
}

fn finish(pieces: &[Piece], counter: &dyn TokenCounter, overlap: usize) -> Chunk {
    let text = join(pieces);
    Chunk {
        tokens: counter.count(&text),
        text,
        overlap_pieces: overlap,
        split_sentence: pieces.iter().any(|p| p.split),
    }
}

fn join(pieces: &[Piece]) -> String {
    let mut out = String::new();
    for (i, p) in pieces.iter().enumerate() {
        if i > 0 {
            out.push(if p.para_start { '\n' } else { ' ' });
        }
        out.push_str(&p.text);
    }
    out
}

/// Splits a sentence longer than `budget` at word boundaries (and a word
/// longer than the budget at character boundaries).
fn split_long(
    text: &str,
    para_start: bool,
    counter: &dyn TokenCounter,
    budget: usize,
) -> Vec<Piece> {
    if counter.count(text) <= budget {
        return vec![Piece {
            text: text.to_string(),
            para_start,
            split: false,
        }];
    }
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        let trial = if cur.is_empty() {
            word.to_string()
        } else {
            format!("{cur} {word}")
        };
        if counter.count(&trial) <= budget {
            cur = trial;
            continue;
        }
        if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        if counter.count(word) <= budget {
            cur = word.to_string();
        } else {
            for c in word.chars() {
                let mut t = cur.clone();
                t.push(c);
                if counter.count(&t) > budget && !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                cur.push(c);
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out.into_iter()
        .enumerate()
        .map(|(i, t)| Piece {
            text: t,
            para_start: para_start && i == 0,
            split: true,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment;
    use proptest::prelude::*;

    fn strip(s: &str) -> String {
        s.chars().filter(|c| !c.is_whitespace()).collect()
    }

    #[test]
    fn packs_whole_sentences() {
        let text = "One two three. Four five six. Seven eight nine.";
        let s = segment::split(text);
        let c = chunk(
            &s,
            &CharCounter,
            ChunkOptions {
                budget: 30,
                overlap: 0,
            },
        );
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].text, "One two three. Four five six.");
        assert_eq!(c[1].text, "Seven eight nine.");
    }

    #[test]
    fn splits_long_sentence_at_words() {
        let text = "alpha beta gamma delta epsilon zeta eta theta.";
        let s = segment::split(text);
        let c = chunk(
            &s,
            &CharCounter,
            ChunkOptions {
                budget: 12,
                overlap: 0,
            },
        );
        assert!(c.iter().all(|c| c.tokens <= 12 && c.split_sentence));
        assert_eq!(c[0].text, "alpha beta");
    }

    #[test]
    fn overlap_repeats_tail() {
        let text = "Aa aa. Bb bb. Cc cc. Dd dd.";
        let s = segment::split(text);
        let c = chunk(
            &s,
            &CharCounter,
            ChunkOptions {
                budget: 13,
                overlap: 6,
            },
        );
        assert_eq!(c[0].text, "Aa aa. Bb bb.");
        assert_eq!(c[1].text, "Bb bb. Cc cc.");
        assert_eq!(c[1].overlap_pieces, 1);
    }

    proptest! {
        #[test]
        fn chunks_fit_and_cover_in_order(
            words in proptest::collection::vec("[a-z]{1,12}|[A-Z][a-z]{0,5}\\.|[0-9]{1,4}|\n", 1..120),
            budget in 5usize..80,
            overlap in 0usize..20,
        ) {
            let text = words.join(" ");
            let sents = segment::split(&text);
            let chunks = chunk(&sents, &CharCounter, ChunkOptions { budget, overlap });
            for c in &chunks {
                prop_assert!(c.tokens <= budget, "chunk of {} > {}", c.tokens, budget);
                prop_assert_eq!(c.tokens, CharCounter.count(&c.text));
            }
            // Without the overlapping pieces, chunks rebuild the text in order.
            let no_overlap = chunk(&sents, &CharCounter, ChunkOptions { budget, overlap: 0 });
            let rebuilt: String = no_overlap.iter().map(|c| strip(&c.text)).collect();
            prop_assert_eq!(rebuilt, strip(&text));
        }
    }
}
