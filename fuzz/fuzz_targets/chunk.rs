//! The chunker with a fake token counter: every chunk fits its budget.
#![no_main]

use khulasa::chunk::{chunk, ChunkOptions, TokenCounter};
use khulasa::segment::split;
use libfuzzer_sys::fuzz_target;

/// About four bytes a token, as subword tokenizers go.
struct Quarter;

impl TokenCounter for Quarter {
    fn count(&self, text: &str) -> usize {
        text.len().div_ceil(4)
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&[b, o], rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let budget = usize::from(b) + 1;
    let opts = ChunkOptions {
        budget,
        overlap: usize::from(o) % budget,
    };
    for c in chunk(&split(text), &Quarter, opts) {
        assert!(c.tokens <= budget, "a chunk of {} tokens over {budget}", c.tokens);
        assert_eq!(c.tokens, Quarter.count(&c.text));
    }
});
