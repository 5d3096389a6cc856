//! T5, the architecture of MADLAD-400: an encoder-decoder with RMS norms,
//! T5 relative position buckets (bidirectional in the encoder, causal in
//! the decoder), gated or plain feed-forward blocks, and a key-value cache
//! per hypothesis with the cross-attention keys and values shared.
//!
//! Written here rather than taken from candle-transformers: its `t5` and
//! `quantized_t5` bucket the decoder's self-attention positions as if they
//! were bidirectional, which the parity test against the reference showed
//! from the fourth decoder token on (see the README's design notes). Weights
//! come from safetensors (f32) or GGUF (quantized matrices).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::Activation;
use candle_transformers::quantized_var_builder::VarBuilder as QVarBuilder;
use serde::Deserialize;

use super::seq2seq::Seq2Seq;
use super::weights;
use crate::error::{Error, Result};

/// The fields of a T5 `config.json` that inference needs.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Hidden size.
    pub d_model: usize,
    /// Size of one attention head.
    pub d_kv: usize,
    /// Feed-forward size.
    pub d_ff: usize,
    /// Encoder layers.
    pub num_layers: usize,
    /// Decoder layers (default: as the encoder).
    #[serde(default)]
    pub num_decoder_layers: Option<usize>,
    /// Attention heads.
    pub num_heads: usize,
    /// Relative position buckets.
    pub relative_attention_num_buckets: usize,
    /// Largest distance the buckets tell apart.
    #[serde(default = "max_distance")]
    pub relative_attention_max_distance: usize,
    /// RMS norm epsilon.
    #[serde(default = "eps")]
    pub layer_norm_epsilon: f64,
    /// `gated-gelu`, `relu`, ...
    #[serde(default = "relu")]
    pub feed_forward_proj: String,
    /// Output projection shared with the embeddings (and outputs scaled).
    #[serde(default = "yes")]
    pub tie_word_embeddings: bool,
    /// Scale decoder outputs by 1/√d_model (newer configs say it outright).
    #[serde(default)]
    pub scale_decoder_outputs: Option<bool>,
    /// Padding id.
    pub pad_token_id: u32,
    /// End of sequence.
    pub eos_token_id: u32,
    /// First decoder token (default: padding).
    #[serde(default)]
    pub decoder_start_token_id: Option<u32>,
}

fn max_distance() -> usize {
    128
}
fn eps() -> f64 {
    1e-6
}
fn relu() -> String {
    "relu".into()
}
fn yes() -> bool {
    true
}

/// Where weights come from.
enum Vb {
    F32(candle_nn::VarBuilder<'static>),
    Quantized(QVarBuilder, String),
}

impl Vb {
    fn pp(&self, s: impl ToString) -> Self {
        match self {
            Vb::F32(v) => Vb::F32(v.pp(s)),
            Vb::Quantized(v, p) => {
                let s = s.to_string();
                Vb::Quantized(v.pp(&s), if p.is_empty() { s } else { format!("{p}.{s}") })
            }
        }
    }

    fn contains(&self, name: &str) -> bool {
        match self {
            Vb::F32(v) => v.contains_tensor(name),
            Vb::Quantized(v, p) => v.contains_key(&if p.is_empty() {
                name.to_string()
            } else {
                format!("{p}.{name}")
            }),
        }
    }

    fn linear(&self, i: usize, o: usize) -> Result<Lin> {
        Ok(match self {
            Vb::F32(v) => Lin::F32(candle_nn::linear_no_bias(i, o, v.clone())?),
            Vb::Quantized(v, _) => Lin::Quantized(
                candle_transformers::quantized_nn::linear_no_bias(i, o, v.clone())?,
            ),
        })
    }

    fn tensor(&self, shape: (usize, usize), name: &str) -> Result<Tensor> {
        Ok(match self {
            Vb::F32(v) => v.get(shape, name)?,
            Vb::Quantized(v, _) => v.get(shape, name)?.dequantize(&Device::Cpu)?,
        })
    }

    fn vector(&self, n: usize, name: &str) -> Result<Tensor> {
        Ok(match self {
            Vb::F32(v) => v.get(n, name)?,
            Vb::Quantized(v, _) => v.get(n, name)?.dequantize(&Device::Cpu)?,
        })
    }
}

#[derive(Debug, Clone)]
enum Lin {
    F32(candle_nn::Linear),
    Quantized(candle_transformers::quantized_nn::Linear),
}

impl Module for Lin {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Lin::F32(l) => l.forward(x),
            Lin::Quantized(l) => l.forward(x),
        }
    }
}

#[derive(Debug, Clone)]
struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    fn load(vb: &Vb, d: usize, eps: f64) -> Result<Self> {
        Ok(Self {
            weight: vb.vector(d, "weight")?,
            eps,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let var = x.sqr()?.mean_keepdim(D::Minus1)?;
        x.broadcast_div(&(var + self.eps)?.sqrt()?)?
            .broadcast_mul(&self.weight)
    }
}

type Attention = super::attention::Attention<Lin>;

fn attention(vb: &Vb, c: &Config) -> Result<Attention> {
    let inner = c.num_heads * c.d_kv;
    Ok(Attention {
        q: vb.pp("q").linear(c.d_model, inner)?,
        k: vb.pp("k").linear(c.d_model, inner)?,
        v: vb.pp("v").linear(c.d_model, inner)?,
        out: vb.pp("o").linear(inner, c.d_model)?,
        heads: c.num_heads,
        head_dim: c.d_kv,
        // T5 does not scale its attention scores.
        scale: 1.0,
    })
}

#[derive(Debug, Clone)]
struct FeedForward {
    wi: Lin,
    wi_gate: Option<Lin>,
    wo: Lin,
    act: Activation,
    norm: RmsNorm,
}

impl FeedForward {
    fn load(vb: &Vb, c: &Config) -> Result<Self> {
        let dense = vb.pp("DenseReluDense");
        let (gated, act) = match c.feed_forward_proj.as_str() {
            "gated-gelu" => (true, Activation::NewGelu),
            "gated-silu" => (true, Activation::Silu),
            "relu" => (false, Activation::Relu),
            "gelu" => (false, Activation::NewGelu),
            other => {
                return Err(Error::Generation(format!(
                    "T5 feed_forward_proj '{other}' is not supported"
                )))
            }
        };
        let (wi, wi_gate) = if gated {
            (
                dense.pp("wi_1").linear(c.d_model, c.d_ff)?,
                Some(dense.pp("wi_0").linear(c.d_model, c.d_ff)?),
            )
        } else {
            (dense.pp("wi").linear(c.d_model, c.d_ff)?, None)
        };
        Ok(Self {
            wi,
            wi_gate,
            wo: dense.pp("wo").linear(c.d_ff, c.d_model)?,
            act,
            norm: RmsNorm::load(&vb.pp("layer_norm"), c.d_model, c.layer_norm_epsilon)?,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let h = self.norm.forward(x)?;
        let up = self.wi.forward(&h)?;
        let h = match &self.wi_gate {
            Some(g) => (self.act.forward(&g.forward(&h)?)? * up)?,
            None => self.act.forward(&up)?,
        };
        x + self.wo.forward(&h)?
    }
}

#[derive(Debug, Clone)]
struct Block {
    attn: Attention,
    attn_norm: RmsNorm,
    cross: Option<(Attention, RmsNorm)>,
    ffn: FeedForward,
}

impl Block {
    fn load(vb: &Vb, c: &Config, decoder: bool) -> Result<Self> {
        let l = vb.pp("layer");
        let cross = if decoder {
            let x = l.pp(1);
            Some((
                attention(&x.pp("EncDecAttention"), c)?,
                RmsNorm::load(&x.pp("layer_norm"), c.d_model, c.layer_norm_epsilon)?,
            ))
        } else {
            None
        };
        Ok(Self {
            attn: attention(&l.pp(0).pp("SelfAttention"), c)?,
            attn_norm: RmsNorm::load(&l.pp(0).pp("layer_norm"), c.d_model, c.layer_norm_epsilon)?,
            cross,
            ffn: FeedForward::load(&l.pp(if decoder { 2 } else { 1 }), c)?,
        })
    }
}

/// T5's relative position bucket for `rel = key position - query position`.
pub fn bucket(rel: i64, bidirectional: bool, num_buckets: usize, max_distance: usize) -> usize {
    let mut buckets = num_buckets as i64;
    let mut out = 0i64;
    let n = if bidirectional {
        buckets /= 2;
        if rel > 0 {
            out += buckets;
        }
        rel.abs()
    } else {
        (-rel).max(0)
    };
    let max_exact = buckets / 2;
    if n < max_exact {
        out += n;
    } else {
        let large = max_exact
            + ((n as f32 / max_exact as f32).ln() / (max_distance as f32 / max_exact as f32).ln()
                * (buckets - max_exact) as f32) as i64;
        out += large.min(buckets - 1);
    }
    out as usize
}

/// A T5 encoder-decoder.
#[derive(Debug)]
pub struct T5 {
    embed: Tensor,
    encoder: Vec<Block>,
    encoder_bias: Tensor,
    encoder_norm: RmsNorm,
    decoder: Arc<Vec<Block>>,
    decoder_bias: Tensor,
    decoder_norm: RmsNorm,
    lm_head: Tensor,
    output_scale: f64,
    /// The model's configuration.
    pub config: Config,
    /// First decoder token.
    pub decoder_start: u32,
    /// End of sequence.
    pub eos: u32,
}

/// One hypothesis of the decoder.
pub type T5State = super::attention::DecoderState;

impl T5 {
    /// Loads `config.json` from `dir`, and the weights from `gguf` when given
    /// (quantized), else from the safetensors or PyTorch file in `dir`.
    pub fn load(model: &str, dir: &Path, gguf: Option<&Path>) -> Result<Self> {
        let config: Config = weights::config(model, dir)?;
        let vb = match gguf {
            Some(path) => Vb::Quantized(QVarBuilder::from_gguf(path, &Device::Cpu)?, String::new()),
            None => Vb::F32(weights::var_builder(weights::tensors(
                &weights::weight_file(model, dir)?,
            )?)),
        };
        Self::build(config, vb)
    }

    /// Builds the model from already loaded f32 tensors.
    pub fn from_tensors(model: &str, dir: &Path, tensors: HashMap<String, Tensor>) -> Result<Self> {
        let config: Config = weights::config(model, dir)?;
        Self::build(config, Vb::F32(weights::var_builder(tensors)))
    }

    fn build(config: Config, vb: Vb) -> Result<Self> {
        let c = &config;
        let shared = if vb.contains("shared.weight") {
            vb.pp("shared")
        } else {
            vb.pp("decoder").pp("embed_tokens")
        };
        let embed = shared.tensor((c.vocab_size, c.d_model), "weight")?;
        let bias_table = |stack: &str| {
            vb.pp(stack)
                .pp("block")
                .pp(0)
                .pp("layer")
                .pp(0)
                .pp("SelfAttention")
                .pp("relative_attention_bias")
                .tensor((c.relative_attention_num_buckets, c.num_heads), "weight")
        };
        let blocks = |stack: &str, n: usize, decoder: bool| {
            (0..n)
                .map(|i| Block::load(&vb.pp(stack).pp("block").pp(i), c, decoder))
                .collect::<Result<Vec<_>>>()
        };
        let encoder = blocks("encoder", c.num_layers, false)?;
        let decoder = blocks(
            "decoder",
            c.num_decoder_layers.unwrap_or(c.num_layers),
            true,
        )?;
        let lm_head = if !c.tie_word_embeddings && vb.contains("lm_head.weight") {
            vb.pp("lm_head")
                .tensor((c.vocab_size, c.d_model), "weight")?
        } else {
            embed.clone()
        };
        let scale = c.scale_decoder_outputs.unwrap_or(c.tie_word_embeddings);
        Ok(Self {
            encoder_bias: bias_table("encoder")?,
            decoder_bias: bias_table("decoder")?,
            encoder_norm: RmsNorm::load(
                &vb.pp("encoder").pp("final_layer_norm"),
                c.d_model,
                c.layer_norm_epsilon,
            )?,
            decoder_norm: RmsNorm::load(
                &vb.pp("decoder").pp("final_layer_norm"),
                c.d_model,
                c.layer_norm_epsilon,
            )?,
            embed,
            encoder,
            decoder: Arc::new(decoder),
            lm_head,
            output_scale: if scale {
                (c.d_model as f64).powf(-0.5)
            } else {
                1.0
            },
            decoder_start: c.decoder_start_token_id.unwrap_or(c.pad_token_id),
            eos: c.eos_token_id,
            config,
        })
    }

    /// Position bias (1, heads, queries, keys) for queries at `q0..q0+nq`.
    fn position_bias(
        &self,
        table: &Tensor,
        q0: usize,
        nq: usize,
        nk: usize,
        bidirectional: bool,
    ) -> Result<Tensor> {
        let c = &self.config;
        let mut ids = Vec::with_capacity(nq * nk);
        for q in q0..q0 + nq {
            for k in 0..nk {
                ids.push(bucket(
                    k as i64 - q as i64,
                    bidirectional,
                    c.relative_attention_num_buckets,
                    c.relative_attention_max_distance,
                ) as u32);
            }
        }
        let ids = Tensor::from_vec(ids, nq * nk, &Device::Cpu)?;
        let bias = table.index_select(&ids, 0)?; // (nq*nk, heads)
        Ok(bias
            .reshape((nq, nk, c.num_heads))?
            .permute((2, 0, 1))?
            .unsqueeze(0)?)
    }

    fn embed(&self, ids: &[u32]) -> Result<Tensor> {
        let t = Tensor::new(ids, &Device::Cpu)?;
        Ok(self.embed.index_select(&t, 0)?.unsqueeze(0)?)
    }

    /// Encoder output for the source ids: (1, len, d).
    pub fn encode(&self, src: &[u32]) -> Result<Tensor> {
        let mut x = self.embed(src)?;
        let bias = self.position_bias(&self.encoder_bias, 0, src.len(), src.len(), true)?;
        for b in &self.encoder {
            let h = b.attn_norm.forward(&x)?;
            let (k, v) = b.attn.keys_values(&h)?;
            x = (&x + b.attn.attend(&h, &k, &v, Some(&bias))?)?;
            x = b.ffn.forward(&x)?;
        }
        Ok(self.encoder_norm.forward(&x)?)
    }
}

impl Seq2Seq for T5 {
    type State = T5State;

    fn start(&mut self, src: &[u32]) -> Result<T5State> {
        let enc = self.encode(src)?;
        let cross = self.decoder.iter().map(|b| {
            &b.cross
                .as_ref()
                .expect("decoder blocks have cross-attention")
                .0
        });
        Ok(T5State::new(cross, &enc)?)
    }

    fn step(&self, state: &mut T5State, token: u32) -> Result<Vec<f32>> {
        let mut x = self.embed(&[token])?;
        let bias = self.position_bias(&self.decoder_bias, state.pos, 1, state.pos + 1, false)?;
        for (i, b) in self.decoder.iter().enumerate() {
            let h = b.attn_norm.forward(&x)?;
            let (k, v) = b.attn.cached(&h, &mut state.self_kv[i])?;
            x = (&x + b.attn.attend(&h, &k, &v, Some(&bias))?)?;
            let (cross, norm) = b
                .cross
                .as_ref()
                .expect("decoder blocks have cross-attention");
            let h = norm.forward(&x)?;
            let (ck, cv) = &state.cross_kv[i];
            x = (&x + cross.attend(&h, ck, cv, None)?)?;
            x = b.ffn.forward(&x)?;
        }
        state.pos += 1;
        let x = (self.decoder_norm.forward(&x)? * self.output_scale)?;
        let logits = x.squeeze(0)?.matmul(&self.lm_head.t()?)?;
        Ok(logits.squeeze(0)?.to_dtype(DType::F32)?.to_vec1()?)
    }
}

#[cfg(test)]
mod tests {
    use super::bucket;

    #[test]
    fn buckets_match_the_reference_formula() {
        // Values from transformers' T5Attention._relative_position_bucket
        // with 32 buckets and max distance 128.
        let enc: Vec<usize> = [-200, -20, -9, -8, -1, 0, 1, 7, 8, 20, 200]
            .iter()
            .map(|r| bucket(*r, true, 32, 128))
            .collect();
        assert_eq!(enc, vec![15, 10, 8, 8, 1, 0, 17, 23, 24, 26, 31]);
        let dec: Vec<usize> = [-200, -20, -16, -15, -1, 0, 3]
            .iter()
            .map(|r| bucket(*r, false, 32, 128))
            .collect();
        assert_eq!(dec, vec![31, 17, 16, 15, 1, 0, 0]);
    }
}
