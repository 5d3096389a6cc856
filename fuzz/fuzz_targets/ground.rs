//! Number extraction and the grounding checks on any source and claims.
#![no_main]

use khulasa::{ground, numbers};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let (source, claims) = text.split_once('\u{1}').unwrap_or((text, text));
    let facts: Vec<String> = claims.split('\n').map(str::to_string).collect();
    let _ = numbers::extract(source);
    let _ = ground::numbers_in(claims);
    let _ = ground::unsupported_numbers(claims, source);
    let checks = ground::check_facts(&facts, source);
    assert_eq!(checks.len(), facts.len());
    let _ = ground::check_claims(claims, claims, source);
    // A text supports its own numbers.
    assert!(ground::unsupported_numbers(source, source).is_empty());
});
