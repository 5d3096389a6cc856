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

#[test]
fn only_an_unbroken_unframed_span_counts_as_quoted() {
    let ev = |s: &str| vec![s.to_string()];
    let doha = ev("Pakistan's Foreign Office announced that a delegation led by the Defence Minister will hold talks in Doha today.");
    // An unbroken span of the sentence.
    assert!(quoted(
        "A delegation led by the Defence Minister will hold talks in Doha today",
        &doha
    ));
    // Words dropped from inside: the subject changes. Not a quote.
    assert!(!quoted(
        "Pakistan's Foreign Office will hold talks in Doha today",
        &doha
    ));
    // Too short to stand alone.
    assert!(!quoted("will hold talks in Doha", &doha));
    // A span framed by a denial or a condition asserts something else.
    assert!(!quoted(
        "the army killed five militants in the raid",
        &ev("The army denied reports that the army killed five militants in the raid.")
    ));
    assert!(!quoted(
        "the talks will resume in Doha next week",
        &ev("Officials said the talks will resume in Doha next week if the ceasefire holds.")
    ));
    assert!(quoted(
        "the talks will resume in Doha next week",
        &ev("Officials said the talks will resume in Doha next week.")
    ));
    // A longer claim than any sentence.
    assert!(!quoted(
        "one two three four five six seven",
        &ev("one two three")
    ));
}

#[test]
fn future_told_as_past_beside_another_future() {
    let (v, why) = check(
        "Mickelson set a record on Sunday, but he will have to turn his form around.",
        &["Mickelson will set a record on Sunday, but he will have to turn his form around."],
    );
    assert_eq!(v, Verdict::Contradicted, "{why}");
    let (v, why) = check(
        "The duo announced that the ninth series was the final one.",
        &["The duo have announced that the ninth series will be the final one."],
    );
    assert_eq!(v, Verdict::Contradicted, "{why}");
    let (v, why) = check(
        "Doctors said only time told if I will recover.",
        &["Doctors said only time will tell if I will recover."],
    );
    assert_eq!(v, Verdict::Contradicted, "{why}");
    // Still future, or a plan: supported.
    for claim in [
        "Mickelson is expected to set a record on Sunday.",
        "The ninth series will be the final one, the duo announced.",
        "Doctors said only time will tell whether I recover.",
    ] {
        let (v, why) = check(
            claim,
            &["Mickelson will set a record on Sunday. The duo have announced that the ninth series will be the final one. Doctors said only time will tell if I will recover."],
        );
        assert_eq!(v, Verdict::Supported, "{claim}: {why}");
    }
}

#[test]
fn a_name_put_in_the_place_of_another_is_unsupported() {
    let cases = [
        (
            "KSWB-TV said at first he thought it was a lobster.",
            "Hammel said at first he thought it was a lobster. Chad Hammel told KSWB-TV in San Diego he had been diving.",
        ),
        (
            "Rangers host Graham Dorrans on Thursday, knowing that victory will do.",
            "Rangers host Rapid Vienna on Thursday, knowing that victory will do. A knee injury kept Graham Dorrans out.",
        ),
        (
            "Tennessee State head coach Christion Abercrombie told reporters the injury happened before halftime.",
            "Tennessee State head coach Rod Reed told reporters the injury happened before halftime. Linebacker Christion Abercrombie had surgery.",
        ),
    ];
    for (claim, source) in cases {
        let ev: Vec<String> = crate::segment::split(source)
            .into_iter()
            .map(|s| s.text.to_string())
            .collect();
        let found = lexical(claim, &ev);
        assert!(
            found.iter().any(|f| matches!(f, Finding::NameSwapped(..))),
            "{claim}: {found:?}"
        );
    }
    // A name from the same sentence, or a pronoun resolved: no swap.
    let ev = vec![
        "He said at first he thought it was a lobster, Chad Hammel told reporters.".to_string(),
    ];
    let found = lexical("Hammel said at first he thought it was a lobster.", &ev);
    assert!(
        !found.iter().any(|f| matches!(f, Finding::NameSwapped(..))),
        "{found:?}"
    );
    let ev = vec!["He said at first he thought it was a lobster.".to_string()];
    let found = lexical("Hammel said at first he thought it was a lobster.", &ev);
    assert!(
        !found.iter().any(|f| matches!(f, Finding::NameSwapped(..))),
        "{found:?}"
    );
}

#[test]
fn a_copy_beside_a_sentence_of_the_same_shape_is_supported() {
    let ev = [
        "In January 2013, Queen Beatrix of the Netherlands passed the crown to her son.",
        "In July 2013, King Albert II of Belgium gave up his kingship.",
    ];
    let (v, why) = check(ev[0], &ev);
    assert_eq!(v, Verdict::Supported, "{why}");
    let ev = [
        "Restaurant groups continue to struggle, albeit a sales drop will be particularly painful.",
        "Takings in restaurants were down, figures revealed. Mr Moss will also get a bonus.",
    ];
    for claim in [ev[0], "Mr Moss, who was criticised, will also get a bonus."] {
        let (v, why) = check(claim, &ev);
        assert_eq!(v, Verdict::Supported, "{claim}: {why}");
    }
}

#[test]
fn a_count_that_opens_a_sentence_is_not_a_name_to_swap() {
    let (v, why) = check(
        "Six prison officers have been injured in a disturbance at HMP Long Lartin on Sunday.",
        &[
            "Disorder broke out at HMP Long Lartin in Worcestershire on Sunday.",
            "Six prison officers have been injured in a disturbance at a high security jail.",
            "Long Lartin prison: Six officers hurt in disorder",
        ],
    );
    assert_ne!(v, Verdict::Contradicted, "{why}");
}
