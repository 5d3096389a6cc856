use super::*;
use crate::article::{from_bytes, ReadOptions};
use crate::generate::ScriptedGenerator;

const DIGEST: &str = r#"{"headline": "Rain closes 12 roads in Lahore", "summary": "Rain fell in Lahore on Monday. Officials closed 12 roads.", "key_facts": ["Rain fell on Monday.", "12 roads were closed.", "The city is Lahore."]}"#;

fn article(text: &str) -> Article {
    from_bytes("t.txt", text.as_bytes(), &ReadOptions::default()).unwrap()
}

fn long_article() -> Article {
    let paras: Vec<String> = (1..=9)
        .map(|i| format!("Paragraph {i} says that officials in Lahore counted 12 closed roads today. It also adds a second sentence for length here."))
        .collect();
    article(&paras.join("\n\n"))
}

#[test]
fn one_pass_when_it_fits() {
    let mut g = ScriptedGenerator::new([DIGEST.to_string()]);
    let a = article("Rain fell in Lahore on Monday. Officials closed 12 roads.");
    let d = Summarizer::new(&Prompts::embedded(), SummarizeOptions::default())
        .run(&mut g, &a)
        .unwrap();
    assert_eq!(d.chunks, 1);
    assert_eq!(d.passes.len(), 1);
    assert_eq!(d.passes[0].stage, "digest");
    assert_eq!(d.key_facts.len(), 3);
    assert_eq!(d.schema_version, 1);
    assert!(g.seen[0][1].content.contains("Officials closed 12 roads."));
}

#[test]
fn map_reduce_in_order() {
    let a = long_article();
    let opts = SummarizeOptions {
        context_tokens: 64,
        ..Default::default()
    };
    let notes: Vec<String> = (1..=3).map(|i| format!("- note {i}")).collect();
    let mut replies = notes.clone();
    replies.push(DIGEST.to_string());
    let mut g = ScriptedGenerator::new(replies);
    let d = Summarizer::new(&Prompts::embedded(), opts)
        .run(&mut g, &a)
        .unwrap();
    assert_eq!(d.chunks, 3);
    let stages: Vec<&str> = d.passes.iter().map(|p| p.stage.as_str()).collect();
    assert_eq!(stages, ["notes", "notes", "notes", "reduce"]);
    // Each map call saw its own chunk, in article order.
    assert!(
        g.seen[0][1].content.contains("part 1 of 3")
            && g.seen[0][1].content.contains("Paragraph 1 says")
    );
    assert!(
        g.seen[2][1].content.contains("part 3 of 3")
            && g.seen[2][1].content.contains("Paragraph 9 says")
    );
    // The reduce call saw every note in order.
    let reduce = &g.seen[3][1].content;
    let (p1, p3) = (
        reduce.find("- note 1").unwrap(),
        reduce.find("- note 3").unwrap(),
    );
    assert!(p1 < p3);
}

#[test]
fn notes_that_do_not_fit_are_collapsed_and_reported() {
    let a = long_article();
    let opts = SummarizeOptions {
        context_tokens: 64,
        ..Default::default()
    };
    let wordy = |i: usize| {
        (0..25)
            .map(|k| format!("- fact {i} {k} words words"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut replies: Vec<String> = (1..=3).map(wordy).collect();
    replies.extend((0..10).map(|_| "- merged fact".to_string()));
    let mut g = ScriptedGenerator::new(replies);
    let err_or = Summarizer::new(&Prompts::embedded(), opts).run(&mut g, &a);
    // The scripted replies run out before a digest: the collapse passes happened first.
    assert!(err_or.is_err());
    let collapse_calls = g
        .seen
        .iter()
        .filter(|m| m[1].content.contains("Merge them"))
        .count();
    assert!(collapse_calls >= 2, "{collapse_calls}");
}

#[test]
fn duplicate_facts_removed_and_reported() {
    let dup = r#"{"headline": "h", "summary": "s.", "key_facts": ["Rain fell.", "rain fell", "Roads closed.", "Lahore."]}"#;
    let mut w = Vec::new();
    let p = parse_digest(dup, 0, &DigestShape::default(), &mut w).unwrap();
    assert_eq!(p.key_facts, ["Rain fell.", "Roads closed.", "Lahore."]);
    assert!(w[0].contains("duplicate key fact removed"));
}

#[test]
fn runaway_summary_cut_at_sentence_boundary() {
    let run = r#"{"headline": "h", "summary": "One thing happened. Then another and another and", "key_facts": ["a", "b", "c"]}"#;
    let mut w = Vec::new();
    let p = parse_digest(run, 2, &DigestShape::default(), &mut w).unwrap();
    assert_eq!(p.summary, "One thing happened.");
    assert!(w[0].contains("cut at the last sentence boundary"));
}

#[test]
fn numbers_outside_the_source_break_the_grammar() {
    let bad = DIGEST.replace("12 roads were", "13 roads were");
    let mut g = ScriptedGenerator::new([bad]);
    let a = article("Rain fell in Lahore on Monday. Officials closed 12 roads.");
    let e = Summarizer::new(&Prompts::embedded(), SummarizeOptions::default())
        .run(&mut g, &a)
        .unwrap_err();
    assert!(e.to_string().contains("grammar"), "{e}");
}

#[test]
fn fact_cut_at_bound_is_dropped_with_its_continuation() {
    let text = r#"{"headline": "h", "summary": "s.", "key_facts": ["A long fact that was cut", "and its tail.", "Two.", "Three.", "Four."]}"#;
    let mut w = Vec::new();
    let p = parse_digest(text, 4, &DigestShape::default(), &mut w).unwrap();
    assert_eq!(p.key_facts, ["Two.", "Three.", "Four."]);
    assert_eq!(w.len(), 2, "{w:?}");
}

const WRONG_CITY: &str = r#"{"headline": "Rain closes 12 roads in Lahore", "summary": "Rain fell in Lahore on Monday. Officials closed 12 roads.", "key_facts": ["Rain fell on Monday in Lahore.", "Officials in Karachi closed 12 roads.", "Rain fell in Lahore."]}"#;

fn wrong_city_run(refact_reply: &str, opts: SummarizeOptions) -> (Digest, ScriptedGenerator) {
    let mut g = ScriptedGenerator::new([WRONG_CITY.to_string(), refact_reply.to_string()]);
    let a = article("Rain fell in Lahore on Monday. Officials closed 12 roads.");
    let d = Summarizer::new(&Prompts::embedded(), opts)
        .run(&mut g, &a)
        .unwrap();
    (d, g)
}

#[test]
fn unsupported_fact_is_regenerated_from_its_evidence_and_reported() {
    let (d, g) = wrong_city_run(
        "Fact: \"Officials closed 12 roads.\"\n",
        SummarizeOptions::default(),
    );
    // The repair prompt names the problem and quotes the evidence.
    let prompt = &g.seen[1][1].content;
    assert!(
        prompt.contains("Officials in Karachi closed 12 roads."),
        "{prompt}"
    );
    assert!(prompt.contains("karachi"), "{prompt}");
    assert!(prompt.contains("- Officials closed 12 roads."), "{prompt}");
    assert_eq!(d.key_facts[1], "Officials closed 12 roads.");
    let c = &d.fact_checks[1];
    assert!(c.grounded);
    assert_eq!(
        c.regenerated_from.as_deref(),
        Some("Officials in Karachi closed 12 roads.")
    );
    assert_eq!(d.passes[1].stage, "refact");
    assert!(
        d.warnings.iter().any(|w| w.contains("key fact 2")
            && w.contains("regenerated")
            && w.contains("Karachi")),
        "{:?}",
        d.warnings
    );
    // The other facts were grounded and left alone; so were the headline
    // and the summary.
    assert!(
        d.fact_checks.iter().all(|c| c.grounded),
        "{:?}",
        d.fact_checks
    );
    assert!(d.fact_checks[0].regenerated_from.is_none());
    // JSON says so; a digest without rewrites has no such field.
    let json = serde_json::to_string(&d).unwrap();
    assert!(json.contains("\"regenerated_from\":\"Officials in Karachi closed 12 roads.\""));
    assert_eq!(json.matches("regenerated_from").count(), 1);
}

#[test]
fn a_rewrite_that_is_still_unsupported_is_not_used() {
    let (d, _) = wrong_city_run(
        "Officials in Karachi closed the roads.",
        SummarizeOptions::default(),
    );
    assert_eq!(d.key_facts[1], "Officials in Karachi closed 12 roads.");
    assert!(!d.fact_checks[1].grounded);
    assert!(d.fact_checks[1].regenerated_from.is_none());
    assert!(
        d.warnings
            .iter()
            .any(|w| w.contains("rewrite was not used")),
        "{:?}",
        d.warnings
    );
    // --on-ungrounded flag still lists the fact.
    assert!(
        d.warnings
            .iter()
            .any(|w| w.starts_with("key fact not supported")),
        "{:?}",
        d.warnings
    );
}

#[test]
fn a_rewrite_that_repeats_another_fact_is_not_used() {
    let (d, _) = wrong_city_run("Rain fell in Lahore.", SummarizeOptions::default());
    assert_eq!(d.key_facts[1], "Officials in Karachi closed 12 roads.");
    assert!(
        d.warnings
            .iter()
            .any(|w| w.contains("repeats another fact")),
        "{:?}",
        d.warnings
    );
}

#[test]
fn regeneration_can_be_turned_off() {
    let opts = SummarizeOptions {
        regenerate_facts: false,
        ..Default::default()
    };
    let (d, g) = wrong_city_run("unused", opts);
    assert_eq!(g.seen.len(), 1);
    assert!(!d.fact_checks[1].grounded);
    assert!(d.passes.iter().all(|p| p.stage != "refact"));
}

#[test]
fn clean_fact_takes_the_sentence_out_of_labels_and_quotes() {
    assert_eq!(
        clean_fact("- \"Roads were closed.\"\nExtra line"),
        "Roads were closed."
    );
    assert_eq!(
        clean_fact("Key fact: Roads  were closed."),
        "Roads were closed."
    );
    assert_eq!(
        clean_fact("Officials said: roads were closed."),
        "Officials said: roads were closed."
    );
    assert_eq!(clean_fact("\n\n"), "");
}

#[test]
fn fact_cut_mid_sentence_is_closed_at_its_last_clause() {
    let text = r#"{"headline": "h", "summary": "s.", "key_facts": ["The delegation led by the defence minister met Taliban officials in Doha, and the talks went on into the night with", "Two.", "Three."]}"#;
    let mut w = Vec::new();
    let p = parse_digest(text, 4, &DigestShape::default(), &mut w).unwrap();
    assert_eq!(
        p.key_facts[0],
        "The delegation led by the defence minister met Taliban officials in Doha."
    );
    assert!(w[0].contains("closed at its last clause"), "{w:?}");
    assert!(w[0].contains("and the talks went on"), "{w:?}");
}

const ROLE_SWAP: &str = r#"{"headline": "Foreign Office to hold talks in Doha", "summary": "Khawaja Asif will lead talks with the Taliban in Doha.", "key_facts": ["The Foreign Office will hold talks with the Taliban in Doha.", "Khawaja Asif leads the delegation.", "The talks are in Doha."]}"#;
const DOHA: &str = "A delegation led by Defence Minister Khawaja Asif will hold talks with the Taliban in Doha today, officials in Islamabad said on Saturday morning.\n\nThe Foreign Office announced the visit in a statement issued late on Friday night. The talks are in Doha, where earlier rounds were held over the past year.";

#[test]
fn meaning_check_flags_a_moved_subject_and_asks_the_model_about_the_rest() {
    use crate::ground::{Field, Verdict};
    // The first fact has a subject from another sentence: found in the
    // words, rewritten from its evidence. The judge is asked about each
    // claim the words find supported, in one call (facts 2 and 3 and the
    // summary, which share their evidence), and then about the rewrite.
    let mut g = ScriptedGenerator::new([
        ROLE_SWAP.to_string(),
        "A delegation led by Khawaja Asif will hold talks with the Taliban in Doha.".to_string(),
    ])
    .with_judgements([2.0, 2.0, -2.5, 3.0]);
    let d = Summarizer::new(&Prompts::embedded(), SummarizeOptions::default())
        .run(&mut g, &article(DOHA))
        .unwrap();
    let first = &d.fact_checks[0];
    assert_eq!(
        first.regenerated_from.as_deref(),
        Some("The Foreign Office will hold talks with the Taliban in Doha.")
    );
    assert_eq!(first.verdict, Verdict::Supported, "{first:?}");
    assert_eq!(first.score, Some(3.0));
    // Headline and summary are checked too, after the key facts.
    let of = |f: Field| d.fact_checks.iter().find(|c| c.field == f).unwrap();
    let headline = of(Field::Headline);
    assert_eq!(headline.fact, "Foreign Office to hold talks in Doha");
    assert_eq!(headline.verdict, Verdict::Unsupported);
    assert!(headline.reason.contains("office"), "{headline:?}");
    let summary = of(Field::Summary);
    assert_eq!(
        (summary.verdict, summary.score),
        (Verdict::Unsupported, Some(-2.5))
    );
    assert!(
        d.warnings
            .iter()
            .any(|w| w.starts_with("headline not supported")),
        "{:?}",
        d.warnings
    );
    let judged = g
        .seen
        .iter()
        .filter(|m| m[1].content.contains("Claim: "))
        .count();
    assert_eq!(judged, 4);
}

#[test]
fn an_input_of_too_many_chunks_is_refused_before_any_model_call() {
    // One endless line: refused on its word count, before tokenizing.
    let endless = "flood water rose across the valley ".repeat(20_000);
    let mut g = ScriptedGenerator::new(Vec::<String>::new());
    let opts = SummarizeOptions {
        context_tokens: 512,
        max_chunks: 4,
        ..Default::default()
    };
    let err = Summarizer::new(&Prompts::embedded(), opts.clone())
        .run(&mut g, &article(&endless))
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("t.txt: 120000 words"), "{msg}");
    assert!(msg.contains("--max-chunks 4"), "{msg}");
    assert!(g.seen.is_empty());
    // Within the word bound but past it in chunks (six sentences of 300
    // words, one to a chunk): refused after chunking.
    let sentence = format!("{}roads today. ", "Lahore counted closed ".repeat(100));
    let err = Summarizer::new(&Prompts::embedded(), opts)
        .run(&mut g, &article(&sentence.repeat(6)))
        .unwrap_err();
    assert!(err.to_string().contains("chunks of 512 tokens"), "{err}");
    assert!(g.seen.is_empty());
}

#[test]
fn candidates_share_the_prompt_and_the_best_summary_is_kept() {
    let a = article(
        "Rain fell in Lahore on Monday. Officials closed 12 roads. The city council met later.",
    );
    let off = r#"{"headline": "Council meets in Lahore", "summary": "The city council met later.", "key_facts": ["Rain fell on Monday.", "12 roads were closed.", "The city is Lahore."]}"#;
    let sampled = r#"{"headline": "Rain closes 12 roads in Lahore", "summary": "Rain fell in Lahore on Monday, and officials closed 12 roads.""#;
    let empty_like = r#"{"headline": "Rain in Lahore", "summary": "Rain fell in Lahore.""#;
    let mut g = ScriptedGenerator::new([off, sampled, empty_like].map(String::from));
    let opts = SummarizeOptions {
        candidates: 3,
        judge: false,
        ..Default::default()
    };
    let d = Summarizer::new(&Prompts::embedded(), opts)
        .run(&mut g, &a)
        .unwrap();
    let stages: Vec<&str> = d.passes.iter().map(|p| p.stage.as_str()).collect();
    assert_eq!(stages, ["digest", "candidate", "candidate"]);
    assert_eq!(g.seen[1], g.seen[0]);
    assert_eq!(g.seen[2], g.seen[0]);
    let sel = d.selection.as_ref().unwrap();
    assert_eq!(sel.chosen, 1);
    assert_eq!(sel.candidates[0].origin, "greedy");
    assert_eq!(sel.candidates[1].origin, "sampled, seed 43");
    assert_eq!(d.headline, "Rain closes 12 roads in Lahore");
    assert_eq!(
        d.summary,
        "Rain fell in Lahore on Monday, and officials closed 12 roads."
    );
    // The key facts are the digest's own.
    assert_eq!(d.key_facts.len(), 3);
}

#[test]
fn one_candidate_is_the_digest_as_decoded() {
    let mut g = ScriptedGenerator::new([DIGEST.to_string()]);
    let a = article("Rain fell in Lahore on Monday. Officials closed 12 roads.");
    let d = Summarizer::new(&Prompts::embedded(), SummarizeOptions::default())
        .run(&mut g, &a)
        .unwrap();
    assert!(d.selection.is_none());
    assert_eq!(
        d.summary,
        "Rain fell in Lahore on Monday. Officials closed 12 roads."
    );
}

#[test]
fn a_digest_that_copies_the_worked_examples_is_written_again_without_them() {
    let a = article("Police in Quetta arrested two men on Friday. They were carrying 12 rifles.");
    let copied = r#"{"headline": "Two men arrested in Quetta", "summary": "Police in Quetta arrested two men on Friday. He forged signatures on more than 12 withdrawal slips.", "key_facts": ["The arrests were on Friday.", "They carried 12 rifles.", "The city is Quetta."]}"#;
    let clean = r#"{"headline": "Two men arrested in Quetta", "summary": "Police in Quetta arrested two men on Friday. They were carrying 12 rifles.", "key_facts": ["The arrests were on Friday.", "They carried 12 rifles.", "The city is Quetta."]}"#;
    let mut g = ScriptedGenerator::new([copied, clean].map(String::from));
    let d = Summarizer::new(&Prompts::embedded(), no_judge())
        .run(&mut g, &a)
        .unwrap();
    assert!(g.seen[0][1].content.contains("Two examples"));
    assert!(!g.seen[1][1].content.contains("Two examples"));
    assert!(g.seen[1][1]
        .content
        .contains("They were carrying 12 rifles."));
    assert_eq!(
        d.summary,
        "Police in Quetta arrested two men on Friday. They were carrying 12 rifles."
    );
    let stages: Vec<(&str, usize)> = d
        .passes
        .iter()
        .map(|p| (p.stage.as_str(), p.index))
        .collect();
    assert_eq!(stages, [("digest", 1), ("digest", 2)]);
    assert!(
        d.warnings
            .iter()
            .any(|w| w.contains("worked examples") && w.contains("forged signatures on more")),
        "{:?}",
        d.warnings
    );
}

#[test]
fn words_the_article_shares_with_the_examples_are_not_copying() {
    let a = article("The judge said the driver was drunk. His lawyer said he would appeal.");
    let reply = r#"{"headline": "Drunk driver to appeal", "summary": "The judge said the driver was drunk. His lawyer said he would appeal.", "key_facts": ["The driver was drunk.", "He will appeal.", "A judge spoke."]}"#;
    let mut g = ScriptedGenerator::new([reply.to_string()]);
    let d = Summarizer::new(&Prompts::embedded(), no_judge())
        .run(&mut g, &a)
        .unwrap();
    assert_eq!(d.passes.len(), 1);
    assert!(!d.warnings.iter().any(|w| w.contains("worked examples")));
}

fn no_judge() -> SummarizeOptions {
    SummarizeOptions {
        judge: false,
        ..Default::default()
    }
}

#[test]
fn a_candidate_that_copies_the_worked_examples_is_left_out() {
    let a = article("Rain fell in Lahore on Monday. Officials closed 12 roads.");
    let copied = r#"{"headline": "Rain in Lahore", "summary": "Rescue teams moved about 12 people to relief camps.""#;
    let mut g = ScriptedGenerator::new([DIGEST, copied].map(String::from));
    let opts = SummarizeOptions {
        candidates: 2,
        ..no_judge()
    };
    let d = Summarizer::new(&Prompts::embedded(), opts)
        .run(&mut g, &a)
        .unwrap();
    assert_eq!(d.selection.as_ref().unwrap().candidates.len(), 1);
    assert_eq!(
        d.summary,
        "Rain fell in Lahore on Monday. Officials closed 12 roads."
    );
    assert!(
        d.warnings
            .iter()
            .any(|w| w.contains("candidate 2 left out") && w.contains("worked examples")),
        "{:?}",
        d.warnings
    );
}
