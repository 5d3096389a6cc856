//! Tiny random-weight GGUF checkpoints for each architecture, with a small
//! vocabulary of their own. Tests write them to exercise the real load,
//! tokenizer and decode path without downloading anything.

use std::path::Path;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use rand::{rngs::StdRng, Rng, SeedableRng};

use crate::error::{Error, Result};

const HIDDEN: usize = 64;
const HEADS: usize = 4;
const KV_HEADS: usize = 2;
const HEAD_DIM: usize = 16;
const FFN: usize = 128;
const LAYERS: usize = 2;

struct Builder {
    rng: StdRng,
    dtype: GgmlDType,
    tensors: Vec<(String, QTensor)>,
}

impl Builder {
    fn random(&mut self, shape: &[usize], scale: f32) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n)
            .map(|_| (self.rng.random::<f32>() * 2.0 - 1.0) * scale)
            .collect();
        Ok(Tensor::from_vec(data, shape, &Device::Cpu)?)
    }
    /// A quantized matrix `[rows, cols]`.
    fn matrix(&mut self, name: &str, rows: usize, cols: usize) -> Result<()> {
        let t = self.random(&[rows, cols], 0.3)?;
        self.tensors
            .push((name.into(), QTensor::quantize(&t, self.dtype)?));
        Ok(())
    }
    /// An f32 vector (norm weights near 1, biases near 0).
    fn vector(&mut self, name: &str, len: usize, around: f32) -> Result<()> {
        let t = (self.random(&[len], 0.1)? + around as f64)?;
        self.tensors
            .push((name.into(), QTensor::quantize(&t, GgmlDType::F32)?));
        Ok(())
    }
}

/// Byte-level BPE vocabulary: 256 byte symbols, a few merges, ChatML specials.
fn gpt2_vocab() -> (Vec<String>, Vec<String>, Vec<i32>) {
    let mut printable: Vec<u8> = (b'!'..=b'~')
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF)
        .collect();
    let mut by_byte = vec!['\0'; 256];
    for &b in &printable {
        by_byte[b as usize] = b as char;
    }
    let mut n = 0u32;
    for b in 0..=255u8 {
        if !printable.contains(&b) {
            printable.push(b);
            by_byte[b as usize] = char::from_u32(256 + n).expect("valid");
            n += 1;
        }
    }
    let mut tokens: Vec<String> = by_byte.iter().map(|c| c.to_string()).collect();
    let merges: Vec<String> = [
        "Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r", "o n", "Ġ s", "\" ,", "Ġ \"",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for m in &merges {
        tokens.push(m.replace(' ', ""));
    }
    let mut types = vec![1; tokens.len()];
    for s in ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] {
        tokens.push(s.into());
        types.push(3);
    }
    (tokens, merges, types)
}

/// SentencePiece-style vocabulary with byte fallback and Gemma's specials.
fn spm_vocab() -> (Vec<String>, Vec<f32>, Vec<i32>) {
    let mut tokens: Vec<String> = [
        "<pad>",
        "<eos>",
        "<bos>",
        "<unk>",
        "<start_of_turn>",
        "<end_of_turn>",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut types = vec![3, 3, 3, 2, 3, 3];
    for b in 0..=255u8 {
        tokens.push(format!("<0x{b:02X}>"));
        types.push(6);
    }
    for p in [
        "▁", "t", "h", "e", "a", "s", "he", "▁t", "▁the", "▁a", "in", "er",
    ] {
        tokens.push(p.into());
        types.push(1);
    }
    let scores = (0..tokens.len()).map(|i| -(i as f32)).collect();
    (tokens, scores, types)
}

fn strings(v: &[String]) -> Value {
    Value::Array(v.iter().map(|s| Value::String(s.clone())).collect())
}

/// Writes a tiny random checkpoint of `arch` (qwen2, llama, qwen3, gemma3).
pub fn write_tiny(arch: &str, path: &Path, seed: u64) -> Result<()> {
    write_tiny_as(arch, path, seed, GgmlDType::Q8_0)
}

/// [`write_tiny`] with the matrices quantized as `dtype` (a 32-value block type).
pub fn write_tiny_as(arch: &str, path: &Path, seed: u64, dtype: GgmlDType) -> Result<()> {
    let mut b = Builder {
        rng: StdRng::seed_from_u64(seed),
        dtype,
        tensors: Vec::new(),
    };
    let mut md: Vec<(String, Value)> =
        vec![("general.architecture".into(), Value::String(arch.into()))];
    let key = |k: &str| format!("{arch}.{k}");
    let vocab_len = if arch == "gemma3" {
        let (tokens, scores, types) = spm_vocab();
        md.push(("tokenizer.ggml.model".into(), Value::String("llama".into())));
        md.push((
            "tokenizer.ggml.scores".into(),
            Value::Array(scores.into_iter().map(Value::F32).collect()),
        ));
        md.push((
            "tokenizer.ggml.token_type".into(),
            Value::Array(types.into_iter().map(Value::I32).collect()),
        ));
        md.push(("tokenizer.ggml.bos_token_id".into(), Value::U32(2)));
        md.push(("tokenizer.ggml.eos_token_id".into(), Value::U32(1)));
        md.push(("tokenizer.ggml.add_space_prefix".into(), Value::Bool(false)));
        let n = tokens.len();
        md.push(("tokenizer.ggml.tokens".into(), strings(&tokens)));
        n
    } else {
        let (tokens, merges, types) = gpt2_vocab();
        let pre = if arch == "llama" { "smollm" } else { "qwen2" };
        md.push(("tokenizer.ggml.model".into(), Value::String("gpt2".into())));
        md.push(("tokenizer.ggml.pre".into(), Value::String(pre.into())));
        md.push(("tokenizer.ggml.merges".into(), strings(&merges)));
        md.push((
            "tokenizer.ggml.token_type".into(),
            Value::Array(types.into_iter().map(Value::I32).collect()),
        ));
        md.push((
            "tokenizer.ggml.eos_token_id".into(),
            Value::U32(tokens.len() as u32 - 1),
        ));
        let n = tokens.len();
        md.push(("tokenizer.ggml.tokens".into(), strings(&tokens)));
        n
    };
    for (k, v) in [
        ("attention.head_count", HEADS),
        ("attention.head_count_kv", KV_HEADS),
        ("block_count", LAYERS),
        ("embedding_length", HIDDEN),
        ("context_length", 4096),
        ("rope.dimension_count", HEAD_DIM),
        ("attention.key_length", HEAD_DIM),
        ("attention.value_length", HEAD_DIM),
        ("attention.sliding_window", 64),
        ("feed_forward_length", FFN),
    ] {
        md.push((key(k), Value::U32(v as u32)));
    }
    md.push((key("attention.layer_norm_rms_epsilon"), Value::F32(1e-6)));
    md.push((key("rope.freq_base"), Value::F32(10_000.0)));
    md.push((key("rope.local_freq_base"), Value::F32(10_000.0)));

    b.matrix("token_embd.weight", vocab_len, HIDDEN)?;
    b.vector("output_norm.weight", HIDDEN, 1.0)?;
    b.matrix("output.weight", vocab_len, HIDDEN)?;
    for l in 0..LAYERS {
        let p = format!("blk.{l}");
        b.matrix(&format!("{p}.attn_q.weight"), HEADS * HEAD_DIM, HIDDEN)?;
        b.matrix(&format!("{p}.attn_k.weight"), KV_HEADS * HEAD_DIM, HIDDEN)?;
        b.matrix(&format!("{p}.attn_v.weight"), KV_HEADS * HEAD_DIM, HIDDEN)?;
        b.matrix(&format!("{p}.attn_output.weight"), HIDDEN, HEADS * HEAD_DIM)?;
        b.matrix(&format!("{p}.ffn_gate.weight"), FFN, HIDDEN)?;
        b.matrix(&format!("{p}.ffn_up.weight"), FFN, HIDDEN)?;
        b.matrix(&format!("{p}.ffn_down.weight"), HIDDEN, FFN)?;
        b.vector(&format!("{p}.attn_norm.weight"), HIDDEN, 1.0)?;
        b.vector(&format!("{p}.ffn_norm.weight"), HIDDEN, 1.0)?;
        if arch == "qwen2" {
            b.vector(&format!("{p}.attn_q.bias"), HEADS * HEAD_DIM, 0.0)?;
            b.vector(&format!("{p}.attn_k.bias"), KV_HEADS * HEAD_DIM, 0.0)?;
            b.vector(&format!("{p}.attn_v.bias"), KV_HEADS * HEAD_DIM, 0.0)?;
        }
        if arch == "qwen3" || arch == "gemma3" {
            b.vector(&format!("{p}.attn_q_norm.weight"), HEAD_DIM, 1.0)?;
            b.vector(&format!("{p}.attn_k_norm.weight"), HEAD_DIM, 1.0)?;
        }
        if arch == "gemma3" {
            b.vector(&format!("{p}.post_attention_norm.weight"), HIDDEN, 1.0)?;
            b.vector(&format!("{p}.post_ffw_norm.weight"), HIDDEN, 1.0)?;
        }
    }
    let mut file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let md_refs: Vec<(&str, &Value)> = md.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let t_refs: Vec<(&str, &QTensor)> = b.tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    gguf_file::write(&mut file, &md_refs, &t_refs)?;
    Ok(())
}
