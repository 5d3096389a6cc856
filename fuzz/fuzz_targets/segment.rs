//! The sentence splitter: every sentence is a trimmed, in-order slice of
//! the text at its stated offset.
#![no_main]

use khulasa::segment::split;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let mut last = 0;
    for s in split(text) {
        assert!(s.start >= last, "sentences out of order");
        assert_eq!(&text[s.start..s.start + s.text.len()], s.text);
        assert!(!s.text.is_empty() && s.text.trim() == s.text);
        last = s.start + s.text.len();
    }
});
