//! The real shipped models: tokenizer parity, and the default pipeline end to
//! end on an NTREX article. Run in release mode.

use assert_cmd::Command;
use khulasa::generate::candle::{tokenizer, CandleGenerator, LoadOptions};
use khulasa::generate::Generator;
use khulasa::lang::Lang;

use crate::common::{eval_dir, model_path, ntrex_article, qwen_tokenizer_json};

fn load(id: &str) -> CandleGenerator {
    let r = model_path(id);
    CandleGenerator::load(&LoadOptions {
        gguf: r.gguf,
        tokenizer_json: None,
        id: r.id,
        sha256: r.sha256,
        licence: r.licence,
    })
    .unwrap()
}

fn ntrex_lines(file: &str, n: usize) -> Vec<String> {
    let text = std::fs::read_to_string(eval_dir().join("ntrex128").join(file)).unwrap();
    text.lines().take(n).map(str::to_string).collect()
}

#[test]
fn gguf_tokenizer_matches_official_qwen_tokenizer_on_en_ur_ps() {
    let g = load("qwen2.5-coder-0.5b-instruct");
    let official = tokenizers::Tokenizer::from_file(qwen_tokenizer_json()).unwrap();
    let mut checked = 0;
    for file in [
        "newstest2019-src.eng.txt",
        "newstest2019-ref.urd.txt",
        "newstest2019-ref.pus.txt",
    ] {
        for line in ntrex_lines(file, 300) {
            let ours = g.encode(&line).unwrap();
            let theirs = official
                .encode(line.as_str(), false)
                .unwrap()
                .get_ids()
                .to_vec();
            assert_eq!(ours, theirs, "{file}: {line}");
            checked += 1;
        }
    }
    let extra = "  Numbers 2,600 and 1.5%\n\n\ttabs, 'quotes' I'm you'll — ZWNJ: می‌خواهم; emoji 🙂";
    assert_eq!(
        g.encode(extra).unwrap(),
        official.encode(extra, false).unwrap().get_ids().to_vec()
    );
    assert_eq!(checked, 900);
}

#[test]
fn smollm2_gguf_tokenizer_splits_digits_without_leading_space() {
    let g = load("smollm2-135m-instruct");
    let ids = g.encode("In 2024 the").unwrap();
    let toks: Vec<String> = ids
        .iter()
        .map(|&i| g.tokenizer().id_to_token(i).unwrap())
        .collect();
    assert_eq!(toks, ["In", "Ġ", "2", "0", "2", "4", "Ġthe"]);
    let chat = g
        .chat_template()
        .render(&[khulasa::generate::Message::user("hi")])
        .unwrap();
    assert_eq!(g.chat_template().origin, "gguf");
    assert!(
        chat.contains("<|im_start|>user\nhi<|im_end|>")
            && chat.ends_with("<|im_start|>assistant\n"),
        "{chat}"
    );
}

#[test]
fn gemma3_base_model_loads_and_generates() {
    let mut g = load("gemma-3-270m");
    assert_eq!(g.info().architecture, "gemma3");
    let ids = g.encode("The capital of France is").unwrap();
    assert_eq!(
        g.tokenizer().decode(&ids, true).unwrap(),
        "The capital of France is"
    );
    let req = khulasa::generate::Request {
        messages: vec![khulasa::generate::Message::user("The capital of France is")],
        max_new_tokens: 8,
        sampling: Default::default(),
        digest: None,
    };
    let out = g.generate(&req).unwrap();
    assert!(out.generated_tokens > 0);
    let _ = tokenizer::token_bytes(g.tokenizer(), "llama");
}

#[test]
fn default_pipeline_end_to_end_on_ntrex_article() {
    let dir = tempfile::tempdir().unwrap();
    let article = ntrex_article("upi.176249", "newstest2019-src.eng.txt");
    let path = dir.path().join("article.txt");
    std::fs::write(&path, &article).unwrap();
    let mut cmd = Command::cargo_bin("khulasa").unwrap();
    cmd.env_clear();
    for k in [
        "HOME",
        "HF_HOME",
        "HF_HUB_CACHE",
        "KHULASA_CACHE",
        "XDG_CACHE_HOME",
        "PATH",
    ] {
        if let Some(v) = std::env::var_os(k) {
            cmd.env(k, v);
        }
    }
    let out = cmd
        .args([
            "summarize",
            path.to_str().unwrap(),
            "--model",
            "qwen2.5-coder-0.5b-instruct",
            "--format",
            "json",
            "--offline",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON digest");
    let headline = v["headline"].as_str().unwrap();
    let words = headline.split_whitespace().count();
    assert!((1..=15).contains(&words), "headline: {headline}");
    let facts = v["key_facts"].as_array().unwrap();
    assert!((3..=5).contains(&facts.len()), "{v}");
    let summary = v["summary"].as_str().unwrap();
    assert!(!summary.is_empty());
    let source: Vec<String> = khulasa::numbers::extract(&article);
    let mut output = format!("{headline}\n{summary}\n");
    for f in facts {
        output.push_str(f.as_str().unwrap());
        output.push('\n');
    }
    for n in khulasa::numbers::extract(&output) {
        assert!(
            source.contains(&n),
            "number {n} is not in the source; output: {output}"
        );
    }
    assert_eq!(v["language"], "en");
    assert_eq!(
        v["model"]["sha256"],
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    );
}

/// The llm backend with the real 0.5B model: Urdu out, in Arabic script,
/// every number kept or flagged.
#[test]
fn llm_backend_translates_a_sentence_into_urdu() {
    use khulasa::translate::{translate_text, TranslateOptions};
    let mut g = load("qwen2.5-coder-0.5b-instruct");
    let mut t =
        khulasa::translate::llm::LlmTranslator::new(&mut g, khulasa::prompt::Prompts::embedded());
    let src = "The flood killed 27 people in Swat on Monday.";
    let out = translate_text(
        &mut t,
        "s",
        src,
        Lang::En,
        Lang::Ur,
        TranslateOptions::default(),
    )
    .unwrap();
    if out.flags.iter().any(|f| f.dropped) {
        // Left out, and said why: never passed off as a translation.
        assert!(out.text.is_empty(), "{out:?}");
        assert!(
            out.flags.iter().any(|f| f.problem.contains("not Urdu")),
            "{out:?}"
        );
    } else {
        let lost = khulasa::translate::missing_numbers(src, &out.text);
        let flagged_numbers = out.flags.iter().any(|f| f.problem.contains("27"));
        assert!(lost.is_empty() || flagged_numbers, "{out:?}");
        let arabic = khulasa::lang::detect(&out.text).arabic_share;
        assert!(arabic > 0.5, "{out:?}");
    }
}

/// Greedy tokens from candle-transformers' own `quantized_qwen2` (the
/// reference our Qwen2 replaces), fed one prompt pass then one token a step.
fn reference_greedy(gguf: &std::path::Path, prompt: &[u32], n: usize) -> Vec<u32> {
    use candle_core::quantized::gguf_file;
    use candle_core::{Device, Tensor};
    let mut r = std::io::BufReader::new(std::fs::File::open(gguf).unwrap());
    let ct = gguf_file::Content::read(&mut r).unwrap();
    let mut m = candle_transformers::models::quantized_qwen2::ModelWeights::from_gguf(
        ct,
        &mut r,
        &Device::Cpu,
    )
    .unwrap();
    let argmax = |t: Tensor| -> u32 {
        t.squeeze(0)
            .unwrap()
            .argmax(0)
            .unwrap()
            .to_scalar()
            .unwrap()
    };
    let input = Tensor::new(prompt, &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let mut next = argmax(m.forward(&input, 0).unwrap());
    let mut out = vec![next];
    for pos in prompt.len()..prompt.len() + n - 1 {
        let input = Tensor::new(&[next], &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        next = argmax(m.forward(&input, pos).unwrap());
        out.push(next);
    }
    out
}

#[test]
fn qwen2_greedy_tokens_match_candle_reference_on_both_models() {
    let article = ntrex_article("upi.176249", "newstest2019-src.eng.txt");
    for id in ["qwen2.5-coder-1.5b-instruct", "qwen2.5-coder-0.5b-instruct"] {
        let mut g = load(id);
        let text = format!(
            "<|im_start|>user\nSummarize this article in one sentence.\n\n{article}<|im_end|>\n<|im_start|>assistant\n"
        );
        let prompt = g.encode(&text).unwrap();
        let ours = g.greedy(&prompt, 32).unwrap();
        let reference = reference_greedy(&model_path(id).gguf, &prompt, 32);
        assert_eq!(
            g.tokenizer().decode(&ours, false).unwrap(),
            g.tokenizer().decode(&reference, false).unwrap(),
            "{id}"
        );
        assert_eq!(ours, reference, "{id}");
    }
}
