use super::*;

fn fixture(name: &str) -> serde_json::Value {
    let p = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn rouge_matches_rouge_score_to_1e6() {
    let cases = fixture("metrics_cases.json");
    let reference = fixture("metrics_reference.json");
    for (c, r) in cases["rouge"]
        .as_array()
        .unwrap()
        .iter()
        .zip(reference["rouge"].as_array().unwrap())
    {
        let (cand, refr) = (c["cand"].as_str().unwrap(), c["ref"].as_str().unwrap());
        for (name, ours) in [
            ("rouge1", rouge_n(cand, refr, 1)),
            ("rouge2", rouge_n(cand, refr, 2)),
            ("rougeL", rouge_l(cand, refr)),
        ] {
            let want: Vec<f64> = r[name]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            for (got, want) in [ours.precision, ours.recall, ours.f1].iter().zip(&want) {
                assert!(
                    (got - want).abs() < 1e-6,
                    "{name} on {cand:?}: {got} vs {want}"
                );
            }
        }
    }
}

#[test]
fn rouge_lsum_matches_rouge_score_to_1e6() {
    let cases = fixture("metrics_cases.json");
    let reference = fixture("metrics_reference.json");
    let cases = cases["rouge_lsum"].as_array().unwrap();
    let want = reference["rouge_lsum"].as_array().unwrap();
    assert_eq!(cases.len(), want.len());
    for (c, w) in cases.iter().zip(want) {
        let (cand, refr) = (c["cand"].as_str().unwrap(), c["ref"].as_str().unwrap());
        let ours = rouge_lsum(cand, refr);
        for (got, want) in [ours.precision, ours.recall, ours.f1]
            .iter()
            .zip(w.as_array().unwrap())
        {
            let want = want.as_f64().unwrap();
            assert!(
                (got - want).abs() < 1e-6,
                "rougeLsum on {cand:?}: {got} vs {want}"
            );
        }
    }
    // Sentences in another order count in ROUGE-Lsum, not in ROUGE-L.
    let (a, b) = (
        "Schools stayed shut.\nRain closed roads.",
        "Rain closed roads.\nSchools stayed shut.",
    );
    assert!((rouge_lsum(a, b).f1 - 1.0).abs() < 1e-12);
    assert!(rouge_l(a, b).f1 < 0.7);
}

#[test]
fn chrf_and_bleu_match_sacrebleu() {
    let cases = fixture("metrics_cases.json");
    let reference = fixture("metrics_reference.json");
    let strings = |k: &str| -> Vec<String> {
        cases["translation"][k]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect()
    };
    let (hyps, refs) = (strings("hyps"), strings("refs"));
    let chrf = chrf_pp(&hyps, &refs);
    assert!(
        (chrf - reference["chrf_pp"].as_f64().unwrap()).abs() < 0.01,
        "chrF++ {chrf}"
    );
    for (h, want) in hyps.iter().zip(reference["tok13a"].as_array().unwrap()) {
        assert_eq!(tokenize_13a(h), want.as_str().unwrap());
    }
    let b = bleu(&hyps, &refs);
    assert!(
        (b - reference["bleu"].as_f64().unwrap()).abs() < 0.01,
        "BLEU {b}"
    );
}

#[test]
fn urdu_tokens_keep_words_whole() {
    assert_eq!(
        rouge_tokens("سوات میں سیلاب، 30 افراد۔"),
        ["سوات", "میں", "سیلاب", "30", "افراد"]
    );
    assert!((rouge_n("سوات میں سیلاب", "سوات میں سیلاب", 1).f1 - 1.0).abs() < 1e-12);
}

#[test]
fn bootstrap_interval_holds_the_mean_and_narrows_with_more_values() {
    let few: Vec<f64> = (0..10).map(|i| f64::from(i % 5)).collect();
    let many: Vec<f64> = (0..400).map(|i| f64::from(i % 5)).collect();
    let (a, b) = (
        bootstrap(&few, BOOTSTRAP_RESAMPLES),
        bootstrap(&many, BOOTSTRAP_RESAMPLES),
    );
    assert!((a.mean - 2.0).abs() < 1e-12 && (b.mean - 2.0).abs() < 1e-12);
    assert!(a.low < 2.0 && 2.0 < a.high, "{a:?}");
    assert!(b.high - b.low < (a.high - a.low) / 3.0, "{a:?} {b:?}");
    // Same values, same interval; constant values, no spread.
    assert_eq!(bootstrap(&few, BOOTSTRAP_RESAMPLES), a);
    let flat = bootstrap(&[1.5; 7], 100);
    assert_eq!((flat.low, flat.mean, flat.high), (1.5, 1.5, 1.5));
    assert_eq!(bootstrap(&[], 100), Interval::default());
}
