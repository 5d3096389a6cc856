use super::*;

fn accepts(shape: DigestShape, nums: Option<&NumberSet>, s: &str) -> bool {
    let mut m = DigestMachine::new(shape, nums);
    m.feed(s.as_bytes()) && m.is_done()
}

const GOOD: &str = r#"{"headline": "Floods hit Swat", "summary": "Floods hit the valley. Many died.", "key_facts": ["One.", "Two.", "Three."]}"#;

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
    assert!(!accepts(d, None, r#"{"headline": "", "summary": "a", "key_facts": ["a","b","c"]}"#));
}

#[test]
fn enforces_fact_count() {
    let d = DigestShape::default();
    assert!(!accepts(d, None, r#"{"headline": "h", "summary": "s", "key_facts": ["a", "b"]}"#));
    let six = r#"{"headline": "h", "summary": "s", "key_facts": ["a", "b", "c", "d", "e", "f"]}"#;
    assert!(!accepts(d, None, six));
    let five = r#"{"headline": "h", "summary": "s", "key_facts": ["a", "b", "c", "d", "e"]}"#;
    assert!(accepts(d, None, five));
}

#[test]
fn enforces_headline_words_and_summary_sentences() {
    let d = DigestShape::default();
    let long = format!(r#"{{"headline": "{}", "summary": "s", "key_facts": ["a", "b", "c"]}}"#, "w ".repeat(16).trim());
    assert!(!accepts(d, None, &long));
    let ok = format!(r#"{{"headline": "{}", "summary": "s", "key_facts": ["a", "b", "c"]}}"#, "w ".repeat(15).trim());
    assert!(accepts(d, None, &ok));
    let five = r#"{"headline": "h", "summary": "A a. B b. C c. D d. E e.", "key_facts": ["a", "b", "c"]}"#;
    assert!(!accepts(d, None, five));
    let abbrev = r#"{"headline": "h", "summary": "Mr. A met Dr. B in the U.S. today. B b. C c. D d.", "key_facts": ["a", "b", "c"]}"#;
    assert!(accepts(d, None, abbrev));
}

#[test]
fn limit_is_reported() {
    let mut m = DigestMachine::new(DigestShape::default(), None);
    assert!(m.feed(br#"{"headline": "a b c d e f g h i j k l m n o"#));
    assert!(!m.allows(b" p"));
    let mut probe = m;
    probe.feed(b" p");
    assert_eq!(probe.limits_hit() & 1, 1);
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
    let with = |h: &str| format!(r#"{{"headline": "{h}", "summary": "s", "key_facts": ["a", "b", "c"]}}"#);
    assert!(accepts(d, Some(&set), &with("2,600 homes hit")));
    assert!(accepts(d, Some(&set), &with("2600 homes, 14 villages")));
    assert!(accepts(d, Some(&set), &with("1.5 million in 2024.")));
    assert!(!accepts(d, Some(&set), &with("2,700 homes hit")));
    assert!(!accepts(d, Some(&set), &with("140 villages")));
    assert!(!accepts(d, Some(&set), &with("1 village")));
    assert!(accepts(d, None, &with("140 villages")));
}

#[test]
fn closing_completes_any_prefix() {
    let shape = DigestShape::default();
    for cut in [0, 5, 20, 40, 60, 90, GOOD.len() - 3] {
        let mut m = DigestMachine::new(shape, None);
        assert!(m.feed(&GOOD.as_bytes()[..cut]));
        let tail = m.closing();
        let mut m2 = m;
        assert!(m2.feed(&tail) && m2.is_done(), "cut {cut}: {}", String::from_utf8_lossy(&tail));
        let full = [&GOOD.as_bytes()[..cut], &tail[..]].concat();
        serde_json::from_slice::<serde_json::Value>(&full).unwrap();
    }
}
