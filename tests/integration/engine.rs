//! The candle engine on tiny random checkpoints of every architecture: the
//! real GGUF loader, GGUF tokenizer, chat template and decode loop.

use khulasa::generate::candle::{tiny, CandleGenerator, LoadOptions, ARCHITECTURES};
use khulasa::generate::{DigestShape, Generator, Message, NumberSet, Request, Sampling};

fn load_tiny(arch: &str, dir: &std::path::Path) -> CandleGenerator {
    let path = dir.join(format!("tiny-{arch}.gguf"));
    tiny::write_tiny(arch, &path, 7).unwrap();
    CandleGenerator::load(&LoadOptions {
        gguf: path,
        tokenizer_json: None,
        id: format!("tiny-{arch}"),
        sha256: String::new(),
        licence: "test".into(),
    })
    .unwrap_or_else(|e| panic!("{arch}: {e}"))
}

fn chat() -> Vec<Message> {
    vec![
        Message::system("Summarize."),
        Message::user("the heater ran in 2024 as the sea rose"),
    ]
}

#[test]
fn every_architecture_loads_tokenizes_and_decodes() {
    let dir = tempfile::tempdir().unwrap();
    for arch in ARCHITECTURES {
        let mut g = load_tiny(arch, dir.path());
        assert_eq!(g.info().architecture, *arch);
        let ids = g.encode("the heater").unwrap();
        assert!(!ids.is_empty());
        assert_eq!(
            g.tokenizer().decode(&ids, true).unwrap(),
            "the heater",
            "{arch}"
        );
        let req = Request {
            messages: chat(),
            max_new_tokens: 12,
            sampling: Sampling::default(),
            digest: None,
        };
        let a = g.generate(&req).unwrap();
        let b = g.generate(&req).unwrap();
        assert!(a.prompt_tokens > 5, "{arch}");
        assert_eq!(
            a.text, b.text,
            "{arch}: greedy decoding must be deterministic"
        );
        assert!(a.generated_tokens <= 12);
    }
}

#[test]
fn chat_template_specials_become_single_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let g = load_tiny("qwen2", dir.path());
    let rendered = g.chat_template().render(&chat()).unwrap();
    assert!(rendered.starts_with("<|im_start|>system\n"));
    let ids = g.encode(&rendered).unwrap();
    let start = g.tokenizer().token_to_id("<|im_start|>").unwrap();
    assert_eq!(ids.iter().filter(|&&i| i == start).count(), 3);
    let gemma = load_tiny("gemma3", dir.path());
    assert_eq!(gemma.chat_template().origin, "preset:gemma");
}

#[test]
fn kv_cache_matches_full_forward() {
    let dir = tempfile::tempdir().unwrap();
    for arch in ARCHITECTURES {
        let mut g = load_tiny(arch, dir.path());
        // Within Gemma 3's sliding window (64 in the tiny model): candle's
        // quantized_gemma3 ignores the window when decoding one token at a time.
        let ids = g
            .encode("the sea rose as the heater ran in a hot season there")
            .unwrap();
        assert!(ids.len() >= 20, "{arch}: {}", ids.len());
        let full = g.logits(&ids).unwrap();
        let step = g.logits_incremental(&ids).unwrap();
        let diff = full
            .iter()
            .zip(&step)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(diff < 1e-3, "{arch}: incremental logits differ by {diff}");
    }
}

#[test]
fn random_weights_still_give_a_valid_bounded_digest() {
    let dir = tempfile::tempdir().unwrap();
    let numbers = NumberSet::from_source("in 2024");
    for arch in ARCHITECTURES {
        let mut g = load_tiny(arch, dir.path());
        for max_new_tokens in [20, 400] {
            let req = Request {
                messages: chat(),
                max_new_tokens,
                sampling: Sampling {
                    no_repeat_ngram: 8,
                    ..Sampling::default()
                },
                digest: Some((DigestShape::default(), Some(&numbers))),
            };
            let out = g.generate(&req).unwrap();
            let v: serde_json::Value = serde_json::from_str(&out.text)
                .unwrap_or_else(|e| panic!("{arch}/{max_new_tokens}: {e}: {}", out.text));
            let facts = v["key_facts"].as_array().unwrap();
            assert!((3..=5).contains(&facts.len()), "{arch}: {}", out.text);
            assert!(v["headline"].as_str().unwrap().split_whitespace().count() <= 15);
            for n in khulasa::numbers::extract(&out.text) {
                assert_eq!(n, "2024", "{arch}: number {n} not in source: {}", out.text);
            }
            if max_new_tokens == 20 {
                assert!(
                    out.notes.iter().any(|n| n.contains("closed by force")),
                    "{arch}: {:?}",
                    out.notes
                );
            }
        }
    }
}

#[test]
fn sampling_with_seed_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let mut g = load_tiny("llama", dir.path());
    let req = |seed| Request {
        messages: chat(),
        max_new_tokens: 16,
        sampling: Sampling {
            temperature: 1.0,
            seed,
            ..Sampling::default()
        },
        digest: None,
    };
    let a = g.generate(&req(1)).unwrap().text;
    assert_eq!(a, g.generate(&req(1)).unwrap().text);
    let others: Vec<String> = (2..6).map(|s| g.generate(&req(s)).unwrap().text).collect();
    assert!(
        others.iter().any(|o| *o != a),
        "different seeds should differ"
    );
}

#[test]
fn bench_reports_rates_memory_and_a_digest_time() {
    use assert_cmd::Command;
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("tiny-qwen2.gguf");
    tiny::write_tiny("qwen2", &gguf, 7).unwrap();
    let article = dir.path().join("a.txt");
    std::fs::write(
        &article,
        "The heater ran in the sea town. The sea rose as the heater ran.",
    )
    .unwrap();
    let out = Command::cargo_bin("khulasa")
        .unwrap()
        .env_clear()
        .env("HOME", dir.path())
        .args([
            "bench",
            "--model",
            gguf.to_str().unwrap(),
            "--prompt-tokens",
            "64",
            "--gen-tokens",
            "8",
            "--runs",
            "3",
        ])
        .arg("--article")
        .arg(&article)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    for k in [
        "prompt_tokens_per_sec",
        "gen_tokens_per_sec",
        "load_secs",
        "digest_secs",
    ] {
        assert!(v[k].as_f64().unwrap() > 0.0, "{k}: {v}");
    }
    assert!(v["peak_rss_bytes"].as_u64().unwrap() > 0);
    assert_eq!(v["prompt_tokens"], 64);
}

#[test]
fn lanes_decode_together_and_give_the_replies_of_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut g = load_tiny("qwen2", dir.path());
    let numbers = NumberSet::from_source("the heater ran in 2024 as the sea rose");
    let requests: Vec<Request<'_>> = (0..6)
        .map(|i| Request {
            messages: vec![
                Message::system("Summarize."),
                Message::user(format!("story {i}: the heater ran in 2024 as the sea rose")),
            ],
            max_new_tokens: 10 + 7 * i,
            sampling: Sampling::default(),
            digest: (i % 2 == 1).then(|| (DigestShape::default(), Some(&numbers))),
        })
        .collect();
    let alone: Vec<_> = requests
        .iter()
        .map(|r| {
            let out = g.generate(r).unwrap();
            (out.text, out.generated_tokens, out.stop)
        })
        .collect();
    let judged_alone = g.yes_no(&chat()).unwrap();
    let mut together = vec![None; requests.len()];
    let mut judged = Vec::new();
    g.lanes(3, &mut |lanes| {
        assert_eq!(lanes.len(), 3);
        let (together, judged) = (&mut together, &mut judged);
        std::thread::scope(|s| {
            let mut handles = Vec::new();
            for (l, mut lane) in lanes.into_iter().enumerate() {
                let requests = &requests;
                handles.push(s.spawn(move || {
                    // Lane l takes requests l, l + 3: sequences of different
                    // lengths join and leave the batch at different steps.
                    let mut out = Vec::new();
                    for i in (l..requests.len()).step_by(3) {
                        let r = lane.generate(&requests[i]).unwrap();
                        out.push((i, (r.text, r.generated_tokens, r.stop)));
                    }
                    (out, lane.yes_no(&chat()).unwrap())
                }));
            }
            for h in handles {
                let (out, j) = h.join().unwrap();
                for (i, r) in out {
                    together[i] = Some(r);
                }
                judged.push(j);
            }
        });
    })
    .unwrap();
    for (i, (a, b)) in alone.iter().zip(&together).enumerate() {
        assert_eq!(Some(a), b.as_ref(), "request {i}");
    }
    // (The tiny vocabulary has no "Yes" or "No": the odds are NaN, compared by bits.)
    let bits = |j: &Option<f32>| j.map(f32::to_bits);
    assert!(
        judged.iter().all(|j| bits(j) == bits(&judged_alone)),
        "{judged:?} vs {judged_alone:?}"
    );
    // The model is whole again after the lanes.
    let again = g.generate(&requests[0]).unwrap();
    assert_eq!(again.text, alone[0].0);
}
