//! Translation backends against reference outputs of Hugging Face
//! `transformers` on tiny random checkpoints (tests/fixtures/translate,
//! made by make_fixtures.py): source ids, decoder logits to 1e-4, greedy and
//! beam-search token sequences exactly. Each architecture is also loaded
//! with one weight damaged, and the logits must then disagree.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use khulasa::lang::Lang;
use khulasa::models::TranslatorManifest;
use khulasa::translate::codec::Codec;
use khulasa::translate::m2m100::M2M100;
use khulasa::translate::marian::Marian;
use khulasa::translate::neural::{Net, Seq2SeqTranslator};
use khulasa::translate::seq2seq::Decoding;
use khulasa::translate::t5::T5;
use serde_json::Value;

const TOLERANCE: f32 = 1e-4;
const MAX_NEW_TOKENS: usize = 16;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/translate")
        .join(name)
}

fn manifest(backend: &str, langs: &[(&str, &str)]) -> TranslatorManifest {
    TranslatorManifest {
        id: format!("tiny-{backend}"),
        task: "translate".into(),
        backend: backend.into(),
        description: "tiny random checkpoint".into(),
        licence: "test".into(),
        repo: String::new(),
        revision: String::new(),
        files: vec![],
        weights: None,
        sha256: BTreeMap::new(),
        max_source_tokens: 64,
        languages: langs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        pairs: vec![],
    }
}

fn reference(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(fixture(name).join("reference.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["cases"].as_array().unwrap().clone()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn max_logit_diff(t: &mut Seq2SeqTranslator, case: &Value) -> f32 {
    let got = t
        .prefix_logits(&ids(&case["src_ids"]), &ids(&case["decoder_prefix"]))
        .unwrap();
    let want = case["prefix_logits"].as_array().unwrap();
    assert_eq!(got.len(), want.len());
    let mut worst = 0f32;
    for (g, w) in got.iter().zip(want) {
        let w = w.as_array().unwrap();
        assert_eq!(g.len(), w.len(), "vocabulary size");
        for (a, b) in g.iter().zip(w) {
            worst = worst.max((a - b.as_f64().unwrap() as f32).abs());
        }
    }
    worst
}

/// Source ids, logits, greedy and beam outputs of every case.
fn check_parity(
    t: &mut Seq2SeqTranslator,
    name: &str,
    from: Lang,
    to_of: impl Fn(&Value) -> Lang,
    text_of: impl Fn(&Value) -> String,
) {
    for (i, case) in reference(name).iter().enumerate() {
        let to = to_of(case);
        let (src, special) = t.prepare(&text_of(case), from, to).unwrap();
        assert_eq!(src, ids(&case["src_ids"]), "{name} case {i}: source ids");
        let diff = max_logit_diff(t, case);
        assert!(
            diff <= TOLERANCE,
            "{name} case {i}: logits differ by {diff}"
        );
        let greedy = t
            .decode_ids(&src, &special, &Decoding::greedy(MAX_NEW_TOKENS))
            .unwrap();
        assert_eq!(
            greedy.tokens,
            ids(&case["greedy"]),
            "{name} case {i}: greedy"
        );
        for b in case["beams"].as_array().unwrap() {
            let d = Decoding::beam(
                b["num_beams"].as_u64().unwrap() as usize,
                b["length_penalty"].as_f64().unwrap() as f32,
                b["no_repeat_ngram_size"].as_u64().unwrap() as usize,
                MAX_NEW_TOKENS,
            );
            let out = t.decode_ids(&src, &special, &d).unwrap();
            assert_eq!(out.tokens, ids(&b["ids"]), "{name} case {i}: beam {b}");
        }
    }
}

fn t5() -> Seq2SeqTranslator {
    let m = manifest(
        "madlad",
        &[("en", "<2en>"), ("ur", "<2ur>"), ("ps", "<2ps>")],
    );
    Seq2SeqTranslator::load(&m, &fixture("t5")).unwrap()
}

fn m2m100() -> Seq2SeqTranslator {
    let m = manifest(
        "nllb",
        &[("en", "eng_Latn"), ("ur", "urd_Arab"), ("ps", "pbt_Arab")],
    );
    Seq2SeqTranslator::load(&m, &fixture("m2m100")).unwrap()
}

fn marian() -> Seq2SeqTranslator {
    let mut m = manifest("marian", &[("en", ""), ("ur", "")]);
    m.pairs = vec![("en".into(), "ur".into())];
    Seq2SeqTranslator::load(&m, &fixture("marian")).unwrap()
}

fn plain_text(case: &Value) -> String {
    case["text"].as_str().unwrap().to_string()
}

#[test]
fn t5_matches_the_reference() {
    check_parity(
        &mut t5(),
        "t5",
        Lang::En,
        |_| Lang::Ur,
        |c| plain_text(c).trim_start_matches("<2ur> ").to_string(),
    );
}

#[test]
fn m2m100_matches_the_reference() {
    let to = |c: &Value| match c["tgt_lang"].as_str().unwrap() {
        "urd_Arab" => Lang::Ur,
        _ => Lang::Ps,
    };
    check_parity(&mut m2m100(), "m2m100", Lang::En, to, plain_text);
}

#[test]
fn marian_matches_the_reference_and_decodes_its_text() {
    let mut t = marian();
    check_parity(&mut t, "marian", Lang::En, |_| Lang::Ur, plain_text);
    for case in reference("marian") {
        assert_eq!(
            t.codec().decode(&ids(&case["greedy"])).unwrap(),
            case["greedy_text"].as_str().unwrap()
        );
    }
    // One direction only.
    assert!(t.prepare("x", Lang::En, Lang::Ps).is_err());
}

/// Loads `name` with `tensor` doubled and returns the largest
/// logit difference from the reference.
fn damaged(name: &str, tensor: &str) -> f32 {
    let dir = fixture(name);
    let mut tensors = khulasa::translate::load_tensors(&dir.join("model.safetensors")).unwrap();
    let t = tensors
        .get(tensor)
        .unwrap_or_else(|| panic!("{name}: no tensor {tensor}"));
    tensors.insert(tensor.to_string(), (t * 2.0).unwrap());
    let (m, net) = match name {
        "t5" => (
            manifest("madlad", &[("en", "<2en>"), ("ur", "<2ur>")]),
            Net::T5(Box::new(T5::from_tensors("t", &dir, tensors).unwrap())),
        ),
        "m2m100" => (
            manifest("nllb", &[("en", "eng_Latn"), ("ur", "urd_Arab")]),
            Net::M2M100(Box::new(M2M100::from_tensors("t", &dir, tensors).unwrap())),
        ),
        _ => (
            manifest("marian", &[("en", ""), ("ur", "")]),
            Net::Marian(Box::new(Marian::from_tensors("t", &dir, tensors).unwrap())),
        ),
    };
    let mut t = Seq2SeqTranslator::new(m, Codec::load(&dir).unwrap(), net);
    max_logit_diff(&mut t, &reference(name)[0])
}

#[test]
fn a_damaged_layer_breaks_parity() {
    let cases = [
        ("t5", "encoder.block.1.layer.1.DenseReluDense.wo.weight"),
        ("t5", "decoder.block.0.layer.1.EncDecAttention.v.weight"),
        ("t5", "decoder.final_layer_norm.weight"),
        ("t5", "lm_head.weight"),
        ("m2m100", "model.encoder.layers.0.self_attn.v_proj.weight"),
        (
            "m2m100",
            "model.encoder.layers.1.self_attn_layer_norm.weight",
        ),
        ("m2m100", "model.decoder.layers.1.fc2.weight"),
        (
            "m2m100",
            "model.decoder.layers.0.encoder_attn.out_proj.weight",
        ),
        ("m2m100", "model.decoder.layer_norm.weight"),
        ("marian", "model.encoder.layers.1.fc1.weight"),
        ("marian", "model.decoder.layers.0.self_attn.q_proj.weight"),
        (
            "marian",
            "model.decoder.layers.1.encoder_attn.v_proj.weight",
        ),
        ("marian", "model.shared.weight"),
    ];
    for (name, tensor) in cases {
        let diff = damaged(name, tensor);
        assert!(
            diff > 10.0 * TOLERANCE,
            "{name}: damaging {tensor} changed logits by only {diff}"
        );
    }
}

/// MADLAD-400 ships GGUF: the same tiny T5 written as GGUF (f32 tensors)
/// and loaded through the quantized path gives the reference logits.
#[test]
fn t5_from_gguf_matches_the_reference() {
    use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
    let dir = fixture("t5");
    let tensors = khulasa::translate::load_tensors(&dir.join("model.safetensors")).unwrap();
    let q: Vec<(String, QTensor)> = tensors
        .iter()
        .map(|(k, v)| (k.clone(), QTensor::quantize(v, GgmlDType::F32).unwrap()))
        .collect();
    let refs: Vec<(&str, &QTensor)> = q.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let work = tempfile::tempdir().unwrap();
    for f in ["config.json", "tokenizer.json"] {
        std::fs::copy(dir.join(f), work.path().join(f)).unwrap();
    }
    let gguf = work.path().join("model.gguf");
    let mut file = std::fs::File::create(&gguf).unwrap();
    gguf_file::write(&mut file, &[], &refs).unwrap();
    drop(file);
    let mut m = manifest("madlad", &[("en", "<2en>"), ("ur", "<2ur>")]);
    m.weights = Some("model.gguf".into());
    let mut t = Seq2SeqTranslator::load(&m, work.path()).unwrap();
    for case in reference("t5") {
        let diff = max_logit_diff(&mut t, &case);
        assert!(diff <= TOLERANCE, "gguf logits differ by {diff}");
    }
}
