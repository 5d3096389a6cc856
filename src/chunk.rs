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
    /// Its tokens, counted alone.
    tokens: usize,
}

/// Packs `sentences` into chunks of at most `opts.budget` tokens, in order.
///
/// Each piece is counted once; a chunk is filled while the sum of its
/// pieces' counts and one token per separator fits, then counted whole
/// (pieces that do not fit after all go back to the next chunk). The work is
/// linear in the length of the text, whatever its shape.
pub fn chunk(
    sentences: &[Sentence<'_>],
    counter: &dyn TokenCounter,
    opts: ChunkOptions,
) -> Vec<Chunk> {
    let budget = opts.budget.max(1);
    let mut queue: std::collections::VecDeque<Piece> = sentences
        .iter()
        .flat_map(|s| split_long(s.text, s.para_start, counter, budget))
        .collect();
    let sep = separator_cost(counter);
    let mut chunks = Vec::new();
    let mut cur: Vec<Piece> = Vec::new();
    let mut overlap_n = 0;
    loop {
        let mut estimate = estimate(&cur, sep);
        while let Some(next) = queue.front() {
            let add = next.tokens + if cur.is_empty() { 0 } else { sep };
            if cur.len() > overlap_n && estimate + add > budget {
                break;
            }
            estimate += add;
            cur.extend(queue.pop_front());
        }
        if cur.len() <= overlap_n {
            break;
        }
        let mut tokens = counter.count(&join(&cur));
        // Overlap must never push a chunk over budget; then the last
        // pieces go back, down to one (which fits on its own). Pieces are
        // taken off by their counts, and the rest counted again.
        while tokens > budget && (overlap_n > 0 || cur.len() > 1) {
            let mut over = tokens;
            while over > budget && (overlap_n > 0 || cur.len() > 1) {
                let p = if overlap_n > 0 {
                    overlap_n -= 1;
                    cur.remove(0)
                } else {
                    let p = cur.pop().expect("more than one piece");
                    queue.push_front(p.clone());
                    p
                };
                over = over.saturating_sub(p.tokens + sep);
            }
            tokens = counter.count(&join(&cur));
        }
        chunks.push(Chunk {
            text: join(&cur),
            tokens,
            overlap_pieces: overlap_n,
            split_sentence: cur.iter().any(|p| p.split),
        });
        let Some(next) = queue.front() else { break };
        cur = carry_over(&cur, opts.overlap, next, budget, sep);
        overlap_n = cur.len();
    }
    chunks
}

/// What joining two pieces with a space adds to their counts: 1 for a
/// character count, 0 for a tokenizer that folds the space into the next
/// word's token.
fn separator_cost(counter: &dyn TokenCounter) -> usize {
    counter
        .count("a a")
        .saturating_sub(2 * counter.count("a"))
        .min(1)
}

/// The tokens of `pieces` joined, from their own counts and `sep` per
/// separator.
fn estimate(pieces: &[Piece], sep: usize) -> usize {
    pieces.iter().map(|p| p.tokens).sum::<usize>() + pieces.len().saturating_sub(1) * sep
}

/// The trailing pieces of `cur` to repeat before `next`: at most `overlap`
/// tokens, and room left for `next`.
fn carry_over(
    cur: &[Piece],
    overlap: usize,
    next: &Piece,
    budget: usize,
    sep: usize,
) -> Vec<Piece> {
    if overlap == 0 {
        return Vec::new();
    }
    let (mut n, mut tokens) = (0, 0);
    for p in cur.iter().rev() {
        let t = tokens + p.tokens + if n > 0 { sep } else { 0 };
        if t > overlap || t + sep + next.tokens > budget {
            break;
        }
        (n, tokens) = (n + 1, t);
    }
    cur[cur.len() - n..].to_vec()
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
/// longer than the budget at character boundaries). Each word is counted
/// once, and each piece once more when it is done.
fn split_long(
    text: &str,
    para_start: bool,
    counter: &dyn TokenCounter,
    budget: usize,
) -> Vec<Piece> {
    let whole = counter.count(text);
    if whole <= budget {
        return vec![Piece {
            text: text.to_string(),
            para_start,
            split: false,
            tokens: whole,
        }];
    }
    let sep = separator_cost(counter);
    let mut out: Vec<(String, usize)> = Vec::new();
    let mut cur = String::new();
    let mut estimate = 0;
    let flush = |cur: &mut String, out: &mut Vec<(String, usize)>| {
        if !cur.is_empty() {
            fit(std::mem::take(cur), counter, budget, out);
        }
    };
    for word in text.split_whitespace() {
        let w = counter.count(word);
        if w > budget {
            flush(&mut cur, &mut out);
            estimate = 0;
            let mut buf = [0u8; 4];
            for c in word.chars() {
                let t = counter.count(c.encode_utf8(&mut buf));
                if estimate + t > budget && !cur.is_empty() {
                    flush(&mut cur, &mut out);
                    estimate = 0;
                }
                cur.push(c);
                estimate += t;
            }
            continue;
        }
        if !cur.is_empty() && estimate + sep + w > budget {
            flush(&mut cur, &mut out);
            estimate = 0;
        }
        if !cur.is_empty() {
            cur.push(' ');
            estimate += sep;
        }
        cur.push_str(word);
        estimate += w;
    }
    flush(&mut cur, &mut out);
    out.into_iter()
        .enumerate()
        .map(|(i, (text, tokens))| Piece {
            text,
            para_start: para_start && i == 0,
            split: true,
            tokens,
        })
        .collect()
}

/// Pushes `text` onto `out` with its count, halved (at a space where there
/// is one) until each half fits: the estimate that made it can fall short
/// when a tokenizer counts words differently inside a sentence.
fn fit(text: String, counter: &dyn TokenCounter, budget: usize, out: &mut Vec<(String, usize)>) {
    let tokens = counter.count(&text);
    let chars = text.chars().count();
    if tokens <= budget || chars <= 1 {
        out.push((text, tokens));
        return;
    }
    let mid = text
        .char_indices()
        .nth(chars / 2)
        .map_or(text.len(), |(i, _)| i);
    let cut = text[..mid]
        .rfind(' ')
        .filter(|&i| i > 0)
        .or_else(|| text[mid..].find(' ').map(|i| mid + i))
        .unwrap_or(mid);
    let (a, b) = text.split_at(cut);
    let (a, b) = (a.trim_end().to_string(), b.trim_start().to_string());
    if a.is_empty() || b.is_empty() {
        out.push((text, tokens));
        return;
    }
    fit(a, counter, budget, out);
    fit(b, counter, budget, out);
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

    /// Counts characters, and how many it was asked to scan.
    #[derive(Default)]
    struct Counting(std::cell::Cell<usize>);

    impl TokenCounter for Counting {
        fn count(&self, text: &str) -> usize {
            self.0.set(self.0.get() + text.len());
            CharCounter.count(text) / 4 + 1
        }
    }

    /// Bytes scanned to chunk `text` with a 3,072-token budget.
    fn work(text: &str) -> usize {
        let counter = Counting::default();
        let sents = segment::split(text);
        let chunks = chunk(
            &sents,
            &counter,
            ChunkOptions {
                budget: 3072,
                overlap: 64,
            },
        );
        assert!(chunks.iter().all(|c| c.tokens <= 3072));
        counter.0.get()
    }

    #[test]
    fn work_grows_linearly_on_pathological_shapes() {
        type Shape = (&'static str, fn(usize) -> String);
        let shapes: [Shape; 4] = [
            ("one endless sentence", |n| {
                let ws = ["flood", "water", "rose", "across", "the", "valley"];
                (0..n / 6)
                    .map(|i| ws[i % ws.len()])
                    .collect::<Vec<_>>()
                    .join(" ")
            }),
            ("one word repeated", |n| "word ".repeat(n / 5)),
            ("only punctuation", |n| "!?.,;".repeat(n / 5)),
            ("thousands of tiny paragraphs", |n| "Yes.\n\n".repeat(n / 6)),
        ];
        for (name, make) in shapes {
            let small = work(&make(100_000));
            let large = work(&make(2_000_000));
            // 20 times the input: at most 30 times the work.
            assert!(
                large <= small * 30,
                "{name}: {small} bytes scanned for 100 KB, {large} for 2 MB"
            );
            assert!(
                large <= 2_000_000 * 8,
                "{name}: {large} bytes scanned for 2 MB"
            );
        }
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
