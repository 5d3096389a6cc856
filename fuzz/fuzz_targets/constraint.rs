//! The digest constraint machine fed random byte strings as tokens: what it
//! allows it accepts, and its closing bytes always finish a digest that
//! parses as JSON.
#![no_main]

use khulasa::generate::constraint::{DigestMachine, DigestShape, NumberSet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let numbers = NumberSet::from_source("In 2024, 1,200 people and 3.5 million rupees; 15 March.");
    let mut m = DigestMachine::new(DigestShape::default(), Some(&numbers));
    let mut out = Vec::new();
    let mut rest = data;
    while let Some((&n, tail)) = rest.split_first() {
        let n = usize::from(n % 8).min(tail.len());
        let (token, tail) = tail.split_at(n);
        rest = tail;
        if m.allows(token) {
            assert!(m.feed(token), "an allowed token was refused");
            out.extend_from_slice(token);
        }
        if m.is_done() {
            break;
        }
    }
    if !m.is_done() {
        let close = m.closing();
        assert!(m.feed(&close), "the machine refused its own closing bytes");
        out.extend_from_slice(&close);
    }
    if m.is_done() {
        let v: serde_json::Value = serde_json::from_slice(&out).expect("a finished digest is JSON");
        assert!(v.get("headline").is_some());
    }
});
