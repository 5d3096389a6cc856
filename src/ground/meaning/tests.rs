use super::*;

fn check(claim: &str, evidence: &[&str]) -> (Verdict, String) {
    let ev: Vec<String> = evidence.iter().map(|s| s.to_string()).collect();
    verdict(&lexical(claim, &ev), None)
}

#[test]
fn stems_join_inflections() {
    for (a, b) in [
        ("arrested", "arrests"),
        ("cities", "city"),
        ("stopped", "stop"),
        ("planned", "plans"),
        ("decreased", "decrease"),
        ("told", "tells"),
        ("missed", "miss"),
        ("killed", "kills"),
    ] {
        assert_eq!(stem(a), stem(b), "{a} {b}");
    }
    assert_ne!(stem("escape"), stem("affect"));
}

#[test]
fn copies_compressions_and_inflections_are_supported() {
    let ev = ["Police arrested three men in Quetta on Sunday after a bomb attack on a market, officials said."];
    for c in [
        "Police arrested three men in Quetta on Sunday after a bomb attack on a market, officials said.",
        "Police arrested three men in Quetta after a bomb attack.",
        "Three men were arrested by police in Quetta.",
    ] {
        assert_eq!(check(c, &ev).0, Verdict::Supported, "{c}: {:?}", lexical(c, &ev.map(String::from)));
    }
}

#[test]
fn a_negation_added_or_dropped_is_a_contradiction() {
    let ev = ["The minister said the talks would not resume before the election."];
    let (v, why) = check(
        "The minister said the talks would resume before the election.",
        &ev,
    );
    assert_eq!(v, Verdict::Contradicted, "{why}");
    assert!(why.contains("evidence negates"), "{why}");
    let (v, _) = check(
        "Officials did not confirm the deaths.",
        &["Officials confirmed the deaths."],
    );
    assert_eq!(v, Verdict::Contradicted);
    // A dropped negated clause is not a contradiction.
    let (v, why) = check(
        "The party backed the minister.",
        &["The minister said he would not resign, and the party backed the minister."],
    );
    assert_eq!(v, Verdict::Supported, "{why}");
}

#[test]
fn an_antonym_is_a_contradiction() {
    // The unseen weather article: the counties escape the warning.
    let ev = ["Southernmost counties are expected to escape the worst of the weather warning."];
    let (v, why) = check(
        "The warning is expected to affect southernmost counties.",
        &ev,
    );
    assert_eq!(v, Verdict::Contradicted, "{why}");
    let (v, why) = check(
        "Inflation fell to 12 percent in March.",
        &["Inflation rose to 12 percent in March."],
    );
    assert_eq!(v, Verdict::Contradicted, "{why}");
}

#[test]
fn swapped_roles_are_a_contradiction_but_a_passive_is_not() {
    let ev = ["Peshawar Zalmi beat Lahore Qalandars by six wickets on Friday."];
    let (v, why) = check("Lahore Qalandars beat Peshawar Zalmi on Friday.", &ev);
    assert_eq!(v, Verdict::Contradicted, "{why}");
    let ev = ["Khan praised Sharif for the budget."];
    assert_eq!(
        check("Sharif praised Khan for the budget.", &ev).0,
        Verdict::Contradicted
    );
    assert_eq!(
        check("Sharif was praised by Khan for the budget.", &ev).0,
        Verdict::Supported
    );
}

#[test]
fn a_name_moved_in_from_another_sentence_is_unsupported() {
    // The Doha talks: the Defence Minister leads the delegation; the
    // Foreign Office only announced the talks.
    let ev = [
        "A delegation led by Defence Minister Khawaja Asif will hold talks with the Afghan Taliban in Doha today.",
        "The Foreign Office announced the visit in a statement.",
    ];
    let (v, why) = check(
        "The Foreign Office will hold talks with the Afghan Taliban in Doha today.",
        &ev,
    );
    assert_eq!(v, Verdict::Unsupported, "{why}");
}

#[test]
fn cause_and_effect_reversed() {
    let ev = ["Schools were closed because heavy snow blocked the roads."];
    let (v, why) = check(
        "Heavy snow blocked the roads because schools were closed.",
        &ev,
    );
    assert_eq!(v, Verdict::Contradicted, "{why}");
}

#[test]
fn future_told_as_past() {
    let ev = ["The delegation will meet Taliban officials in Doha on Tuesday."];
    let (v, why) = check(
        "The delegation met Taliban officials in Doha on Tuesday.",
        &ev,
    );
    assert_eq!(v, Verdict::Contradicted, "{why}");
    let (v, _) = check(
        "The delegation is due to meet Taliban officials in Doha.",
        &ev,
    );
    assert_eq!(v, Verdict::Supported);
    let (v, _) = check(
        "The delegation will meet Taliban officials.",
        &["The delegation met Taliban officials."],
    );
    assert_eq!(v, Verdict::Contradicted);
}

#[test]
fn wrong_place_or_number_is_unsupported_and_named() {
    let ev = ["Flash floods killed 30 people in Swat on Sunday."];
    let (v, why) = check("Flash floods killed 30 people in Chitral on Sunday.", &ev);
    assert_eq!(v, Verdict::Unsupported);
    assert!(why.contains("chitral"), "{why}");
    let (v, why) = check("Flash floods killed 40 people in Swat.", &ev);
    assert_eq!(v, Verdict::Unsupported);
    assert!(why.contains("40"), "{why}");
}

#[test]
fn the_judge_decides_when_the_words_are_there() {
    let ev = vec!["Flash floods killed 30 people in Swat on Sunday.".to_string()];
    let f = lexical("Floods in Swat killed 30 people.", &ev);
    assert_eq!(verdict(&f, Some(2.5)).0, Verdict::Supported);
    let (v, why) = verdict(&f, Some(-3.0));
    assert_eq!(v, Verdict::Unsupported);
    assert!(why.contains("-3.00"), "{why}");
    // A contradiction found in the words is not overruled by the judge.
    let f = lexical("Floods in Swat did not kill 30 people.", &ev);
    assert_eq!(verdict(&f, Some(5.0)).0, Verdict::Contradicted);
}
