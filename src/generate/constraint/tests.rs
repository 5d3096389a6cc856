use super::*;

fn accepts(shape: DigestShape, nums: Option<&NumberSet>, s: &str) -> bool {
    let mut m = DigestMachine::new(shape, nums);
    m.feed(s.as_bytes()) && m.is_done()
}

const GOOD: &str = r#"{"headline": "Floods hit Swat", "summary": "Floods hit the valley. Many died.", "key_facts": ["One.", "Two.", "Three."]}"#;

fn digest(h: &str, s: &str, facts: &[&str]) -> String {
    let q = |x: &str| serde_json::to_string(x).unwrap();
    let facts: Vec<String> = facts.iter().map(|f| q(f)).collect();
    format!(
        r#"{{"headline": {}, "summary": {}, "key_facts": [{}]}}"#,
        q(h),
        q(s),
        facts.join(", ")
    )
}

#[test]
fn accepts_valid_digest_with_whitespace() {
    assert!(accepts(DigestShape::default(), None, GOOD));
    let pretty = "{\n  \"headline\": \"A b\",\n  \"summary\": \"C d.\",\n  \"key_facts\": [\n    \"E.\",\n    \"F.\",\n    \"G.\"\n  ]\n}";
    assert!(accepts(DigestShape::default(), None, pretty));
}

#[test]
fn rejects_wrong_keys_and_structure() {
    let d = DigestShape::default();
    assert!(!accepts(d, None, r#"{"title": "x"}"#));
    assert!(!accepts(d, None, r#"{"headline": 5}"#));
    assert!(!accepts(d, None, &digest("", "a.", &["a.", "b.", "c."])));
}

#[test]
fn enforces_fact_count() {
    let d = DigestShape::default();
    assert!(!accepts(d, None, &digest("h", "s.", &["a.", "b."])));
    assert!(!accepts(
        d,
        None,
        &digest("h", "s.", &["a.", "b.", "c.", "d.", "e.", "f."])
    ));
    assert!(accepts(
        d,
        None,
        &digest("h", "s.", &["a.", "b.", "c.", "d.", "e."])
    ));
}

#[test]
fn enforces_headline_words_and_summary_sentences() {
    let d = DigestShape::default();
    let facts = ["a.", "b.", "c."];
    assert!(!accepts(
        d,
        None,
        &digest("w ".repeat(16).trim(), "s.", &facts)
    ));
    assert!(accepts(
        d,
        None,
        &digest("w ".repeat(15).trim(), "s.", &facts)
    ));
    assert!(!accepts(
        d,
        None,
        &digest("h", "A a. B b. C c. D d. E e.", &facts)
    ));
    assert!(accepts(
        d,
        None,
        &digest(
            "h",
            "Mr. A met Dr. B in the U.S. today. B b. C c. D d.",
            &facts
        )
    ));
}

#[test]
fn summary_and_facts_end_with_a_full_stop_unless_bounded() {
    let d = DigestShape::default();
    assert!(!accepts(
        d,
        None,
        &digest("h", "no stop", &["a.", "b.", "c."])
    ));
    assert!(!accepts(
        d,
        None,
        &digest("h", "s.", &["a.", "b.", "but then he"])
    ));
    assert!(accepts(
        d,
        None,
        &digest("h", "Ends here.", &["a!", "b?", "c۔"])
    ));
    assert!(accepts(
        d,
        None,
        &digest("h", "He said \"go.\"", &["a.", "b.", "c."])
    ));
    let long_fact = "w ".repeat(30);
    let mut m = DigestMachine::new(d, None);
    assert!(m.feed(digest("h", "s.", &["a.", "b.", long_fact.trim()]).as_bytes()) && m.is_done());
    assert_eq!(m.limits_hit(), 4 << 2);
}

#[test]
fn limit_is_reported() {
    let mut m = DigestMachine::new(DigestShape::default(), None);
    assert!(m.feed(br#"{"headline": "a b c d e f g h i j k l m n o"#));
    assert!(!m.allows(b" p"));
    assert_eq!(m.limits_hit(), 0);
    assert!(m.feed(br#"", "summary": "Short.", "key_facts": ["a."#));
    assert_eq!(m.limits_hit(), 1);
}

#[test]
fn rejects_control_chars_double_spaces_and_bad_utf8() {
    let mut m = DigestMachine::new(DigestShape::default(), None);
    assert!(m.feed(br#"{"headline": "a"#));
    assert!(!m.allows(b"\n"));
    assert!(!m.allows(b"  b"));
    assert!(!m.allows(&[0xff]));
    assert!(m.allows(&[0xd8]));
    assert!(!m.allows(&[0xd8, 0x41]));
    assert!(m.allows("ییی".as_bytes()));
    assert!(m.allows(br#"\"q\""#));
}

#[test]
fn numbers_must_come_from_source() {
    let set = NumberSet::from_source("About 2,600 homes and 14 villages; 1.5 million people; ۲۰۲۴");
    let d = DigestShape::default();
    let with = |h: &str| digest(h, "s.", &["a.", "b.", "c."]);
    assert!(accepts(d, Some(&set), &with("2,600 homes hit")));
    assert!(accepts(d, Some(&set), &with("2600 homes, 14 villages")));
    assert!(accepts(d, Some(&set), &with("1.5 million in 2024.")));
    assert!(!accepts(d, Some(&set), &with("2,700 homes hit")));
    assert!(!accepts(d, Some(&set), &with("140 villages")));
    assert!(!accepts(d, Some(&set), &with("1 village")));
    assert!(accepts(d, None, &with("140 villages")));
    // A comma groups three digits, or two before another (lakh grouping).
    let set = NumberSet::from_source("Sturridge scored in the 89th minute; Rs150000 and 2,600");
    assert!(accepts(d, Some(&set), &with("In the 89th minute")));
    assert!(!accepts(d, Some(&set), &with("In the 8,9th minute")));
    assert!(accepts(d, Some(&set), &with("Rs1,50,000 paid")));
    assert!(accepts(d, Some(&set), &with("Rs150,000 paid")));
    assert!(!accepts(d, Some(&set), &with("Rs15,0000 paid")));
    assert!(!accepts(d, Some(&set), &with("Rs1,500,00 paid")));
    assert!(!accepts(d, Some(&set), &with("26,00 homes")));
}

#[test]
fn closing_completes_any_prefix() {
    let shape = DigestShape::default();
    for cut in 0..GOOD.len() {
        let mut m = DigestMachine::new(shape, None);
        assert!(m.feed(&GOOD.as_bytes()[..cut]));
        let tail = m.closing();
        let mut m2 = m;
        assert!(
            m2.feed(&tail) && m2.is_done(),
            "cut {cut}: {}",
            String::from_utf8_lossy(&tail)
        );
        let full = [&GOOD.as_bytes()[..cut], &tail[..]].concat();
        serde_json::from_slice::<serde_json::Value>(&full).unwrap();
    }
}

#[test]
fn a_number_can_never_lead_to_a_dead_end() {
    let set = NumberSet::from_source("in 2024 and 1.5 and 2,600");
    let mut m = DigestMachine::new(DigestShape::default(), Some(&set));
    assert!(m.feed(br#"{"headline": "In 2"#));
    assert!(
        !m.allows(b"."),
        "2. leads nowhere: 2 is not a number of the source"
    );
    assert!(m.allows(b",600") && m.allows(b"024.") && m.allows(b"600"));
    let mut m = DigestMachine::new(DigestShape::default(), Some(&set));
    assert!(m.feed(br#"{"headline": "At 1"#));
    assert!(m.allows(b".5 m") && !m.allows(b".6"));
}

/// Walks a digest machine (numbers "12 and 1.5") through the pieces that
/// `choices` picks, skipping those it does not allow; `step` sees the machine
/// and the text after each choice and ends the walk by returning false.
fn walk<'n>(
    nums: &'n NumberSet,
    pieces: &[&[u8]],
    choices: &[usize],
    mut step: impl FnMut(&DigestMachine<'n>, &[u8]) -> bool,
) -> (DigestMachine<'n>, Vec<u8>) {
    let mut m = DigestMachine::new(DigestShape::default(), Some(nums));
    let mut text = Vec::new();
    for &c in choices {
        if m.allows(pieces[c]) {
            m.feed(pieces[c]);
            text.extend_from_slice(pieces[c]);
        }
        if !step(&m, &text) {
            break;
        }
    }
    (m, text)
}

proptest::proptest! {
    #[test]
    fn closing_completes_every_reachable_state(choices in proptest::collection::vec(0usize..12, 0..300)) {
        // Walk the machine with random allowed pieces, then close it.
        let pieces: [&[u8]; 12] = [b"{", b"\"headline\"", b":", b" ", b"\"", b"ab", b"x.", b"1", b",", b"]", "ییی".as_bytes(), b"wordwordwordword"];
        let nums = NumberSet::from_source("12 and 1.5");
        let (m, mut text) = walk(&nums, &pieces, &choices, |_, _| true);
        if !m.at_safe_point() {
            return Ok(());
        }
        let tail = m.closing();
        let mut done = m;
        proptest::prop_assert!(done.feed(&tail) && done.is_done(), "{}|{}", String::from_utf8_lossy(&text), String::from_utf8_lossy(&tail));
        text.extend_from_slice(&tail);
        proptest::prop_assert!(serde_json::from_slice::<serde_json::Value>(&text).is_ok());
    }
}

proptest::proptest! {
    #[test]
    fn every_reachable_state_has_a_next_byte(choices in proptest::collection::vec(0usize..14, 0..300)) {
        // Pieces that end inside a character or an escape included: whatever
        // the machine accepted, some byte must still be accepted after it
        // (a dead end stops decoding with no valid token).
        let pieces: [&[u8]; 14] = [b"{", b"\"headline\"", b":", b" ", b"\"", b"ab", b"x.", b"1", b",", b"]", b"\xD8", b"\xE2\x80", b"\\", b"word word word"];
        let nums = NumberSet::from_source("12 and 1.5");
        let mut dead_end = None;
        walk(&nums, &pieces, &choices, |m, text| {
            if m.is_done() {
                return false;
            }
            if !(0u8..=255).any(|b| m.allows(&[b])) {
                dead_end = Some(String::from_utf8_lossy(text).into_owned());
                return false;
            }
            true
        });
        proptest::prop_assert!(dead_end.is_none(), "dead end after {:?}", dead_end);
    }
}

#[test]
fn no_character_or_escape_starts_at_a_word_bound() {
    // At the headline's 15th word, after a space, only the closing quote fits:
    // neither the first byte of a character nor a backslash may be taken.
    let mut m = DigestMachine::new(DigestShape::default(), None);
    let words = vec!["w"; 15].join(" ");
    assert!(m.feed(format!("{{\"headline\": \"{words} ").as_bytes()));
    assert!(m.allows(b"\""));
    assert!(!m.allows(b"\xE2") && !m.allows(b"\xD8") && !m.allows(b"\\"));
    // Inside a word the same bytes are fine.
    let mut m = DigestMachine::new(DigestShape::default(), None);
    assert!(m.feed(br#"{"headline": "w"#));
    assert!(m.allows(b"\xE2") && m.allows(b"\\"));
}

#[test]
fn closing_after_an_over_long_word() {
    let mut m = DigestMachine::new(DigestShape::default(), None);
    assert!(m.feed(br#"{"headline": "a", "summary": "the "#));
    assert!(m.feed("x".repeat(48).as_bytes()));
    assert!(!m.allows(b"y") && !m.allows(b"."));
    let tail = m.closing();
    let mut done = m;
    assert!(
        done.feed(&tail) && done.is_done(),
        "{}",
        String::from_utf8_lossy(&tail)
    );
}

/// Fields (the summary) that the machine accepts and refuses, as the fact
/// check reads their numbers.
#[test]
fn number_words_follow_the_fact_check() {
    let source = "Three people died and 12 were hurt. The bill came to £8 million, \
                  2.5 billion rupees in all. Dozens fled.";
    let set = NumberSet::from_source(source);
    let d = DigestShape::default();
    let cases = [
        "Three people died.",
        "Twelve were hurt.",
        "A dozen were hurt.",
        "Dozens fled.",
        "It cost 8 million.",
        "It cost £8m.",
        "It cost 2.5 billion rupees.",
        "It cost 2.5bn rupees.",
        "Someone fled, and no one stayed.",
        "Tenants fled.",
        "Four people died.",
        "Twenty-two were hurt.",
        "Seven fled.",
        "It cost 8 billion.",
        "It cost £8bn.",
        "It cost 2.5 million rupees.",
        "Hundreds fled.",
    ];
    for summary in cases {
        let text = digest("h", summary, &["a.", "b.", "c."]);
        let ok = ground::unsupported_numbers(summary, source).is_empty();
        assert_eq!(accepts(d, Some(&set), &text), ok, "{summary}");
    }
    // "one" is a number the source lacks: the check and the machine agree.
    assert!(!ground::unsupported_numbers("no one stayed", source).is_empty());
}

#[test]
fn token_ending_on_a_missing_number_word_is_refused() {
    let set = NumberSet::from_source("Three people died.");
    let mut m = DigestMachine::new(DigestShape::default(), Some(&set));
    assert!(m.feed(br#"{"headline": "Blast kills"#));
    assert!(m.allows(b" three"));
    assert!(!m.allows(b" four"));
    assert!(!m.allows(b" Four"));
    // A longer word that starts like one is fine, and so is a prefix.
    assert!(m.allows(b" fourth"));
    assert!(m.allows(b" fou"));
    // Spelled out piece by piece, the word still cannot end.
    assert!(m.feed(b" fo"));
    assert!(m.feed(b"ur"));
    assert!(!m.allows(b" "));
    assert!(!m.allows(b"\""));
    assert!(!m.at_safe_point());
}

#[test]
fn number_words_are_free_without_a_source() {
    assert!(accepts(
        DigestShape::default(),
        None,
        &digest("h", "Four people died.", &["a.", "b.", "c."])
    ));
}

#[test]
fn no_facts_ends_the_digest_after_its_summary() {
    let shape = DigestShape {
        min_facts: 0,
        max_facts: 0,
        ..DigestShape::default()
    };
    assert_eq!(PROGRAM[SUMMARY_STEP], Step::Str(Field::Summary));
    let head = r#"{"headline": "Floods hit Swat", "summary": "Floods hit the valley."#;
    let mut m = DigestMachine::new(shape, None);
    assert!(m.feed(head.as_bytes()) && !m.is_done());
    let mut closed = m;
    assert!(closed.feed(&m.closing()) && closed.is_done());
    assert!(accepts(shape, None, &format!("{head}\"")));
    // Nothing may follow the summary.
    assert!(!m.allows(b"\","));
    assert!(!accepts(shape, None, GOOD));
}
