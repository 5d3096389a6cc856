//! Batch JSONL input: each line an item or an unreadable line named by its
//! number, and each item through the article reader.
#![no_main]

use khulasa::article::{from_bytes, ReadOptions};
use khulasa::batch::inputs::jsonl_lines;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (mut items, mut bad) = (Vec::new(), Vec::new());
    jsonl_lines("wire.jsonl", data, &mut items, &mut bad);
    let lines = data
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .count();
    assert_eq!(items.len() + bad.len(), lines);
    for item in &items {
        assert!(!item.id.is_empty() && !item.id.contains('/'));
        let _ = from_bytes(&item.origin, &item.bytes, &ReadOptions::default());
    }
});
