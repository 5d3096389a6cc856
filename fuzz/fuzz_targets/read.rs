//! Bytes of any kind through the article reader, in every format: an article
//! or an error, never a panic.
#![no_main]

use khulasa::article::{from_bytes, ReadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let name = ["a.txt", "a.md", "a.html", "a.json", "a"][usize::from(pick) % 5];
    for strip_furniture in [true, false] {
        let opts = ReadOptions {
            strip_furniture,
            ..ReadOptions::default()
        };
        if let Ok(a) = from_bytes(name, bytes, &opts) {
            assert!(!a.full_text().trim().is_empty(), "an article without text");
        }
    }
});
