//! M2M100, the architecture of NLLB-200, written here because candle has no
//! model for it: a pre-norm Transformer encoder-decoder with sinusoidal
//! positions (offset 2), shared scaled token embeddings tied to the output
//! projection, and a key-value cache per hypothesis. The cross-attention keys
//! and values are computed once per source sentence and shared by every
//! hypothesis.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{layer_norm, linear, Activation, Embedding, LayerNorm, Linear, VarBuilder};
use serde::Deserialize;

use super::seq2seq::Seq2Seq;
use super::weights;
use crate::error::{Error, Result};

/// The fields of an M2M100 `config.json` that inference needs.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Hidden size.
    pub d_model: usize,
    /// Encoder layers.
    pub encoder_layers: usize,
    /// Decoder layers.
    pub decoder_layers: usize,
    /// Encoder attention heads.
    pub encoder_attention_heads: usize,
    /// Decoder attention heads.
    pub decoder_attention_heads: usize,
    /// Encoder feed-forward size.
    pub encoder_ffn_dim: usize,
    /// Decoder feed-forward size.
    pub decoder_ffn_dim: usize,
    /// Longest sequence the position table covers.
    pub max_position_embeddings: usize,
    /// Multiply token embeddings by √d_model.
    #[serde(default = "yes")]
    pub scale_embedding: bool,
    /// Feed-forward activation.
    #[serde(default = "relu")]
    pub activation_function: Activation,
    /// Padding id (also the position offset base).
    pub pad_token_id: u32,
    /// End of sequence.
    pub eos_token_id: u32,
    /// First decoder token (the end token for M2M100 and NLLB).
    pub decoder_start_token_id: u32,
}

fn yes() -> bool {
    true
}
fn relu() -> Activation {
    Activation::Relu
}

/// Layer-norm epsilon of the reference implementation.
const LN_EPS: f64 = 1e-5;
/// Position ids start after the padding id: `pad + 1 + index`.
const POSITION_OFFSET: usize = 2;

type Attention = super::attention::Attention<Linear>;

fn attention(vb: VarBuilder, d: usize, heads: usize) -> Result<Attention> {
    Ok(Attention {
        q: linear(d, d, vb.pp("q_proj"))?,
        k: linear(d, d, vb.pp("k_proj"))?,
        v: linear(d, d, vb.pp("v_proj"))?,
        out: linear(d, d, vb.pp("out_proj"))?,
        heads,
        head_dim: d / heads,
        scale: ((d / heads) as f64).powf(-0.5),
    })
}

#[derive(Debug, Clone)]
struct FeedForward {
    fc1: Linear,
    fc2: Linear,
    act: Activation,
    norm: LayerNorm,
}

impl FeedForward {
    fn load(vb: VarBuilder, d: usize, ffn: usize, act: Activation) -> Result<Self> {
        Ok(Self {
            fc1: linear(d, ffn, vb.pp("fc1"))?,
            fc2: linear(ffn, d, vb.pp("fc2"))?,
            act,
            norm: layer_norm(d, LN_EPS, vb.pp("final_layer_norm"))?,
        })
    }

    /// Pre-norm feed-forward block with its residual.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let h = self.norm.forward(x)?;
        let h = self
            .fc2
            .forward(&self.act.forward(&self.fc1.forward(&h)?)?)?;
        x + h
    }
}

#[derive(Debug, Clone)]
struct EncoderLayer {
    attn: Attention,
    attn_norm: LayerNorm,
    ffn: FeedForward,
}

#[derive(Debug, Clone)]
struct DecoderLayer {
    attn: Attention,
    attn_norm: LayerNorm,
    cross: Attention,
    cross_norm: LayerNorm,
    ffn: FeedForward,
}

/// An M2M100 / NLLB encoder-decoder.
#[derive(Debug)]
pub struct M2M100 {
    embed: Embedding,
    embed_scale: f64,
    positions: Tensor,
    encoder: Vec<EncoderLayer>,
    encoder_norm: LayerNorm,
    decoder: Arc<Vec<DecoderLayer>>,
    decoder_norm: LayerNorm,
    lm_head: Tensor,
    /// The model's configuration.
    pub config: Config,
}

/// One hypothesis of the decoder.
pub type M2M100State = super::attention::DecoderState;

/// The sinusoidal table of the reference: `sin` in the first half, `cos` in
/// the second, frequencies `exp(-i · ln(10000) / (half - 1))`, the padding
/// row zero.
fn sinusoidal(rows: usize, d: usize, pad: usize) -> candle_core::Result<Tensor> {
    let half = d / 2;
    let step = (10000f32).ln() / (half as f32 - 1.0);
    let freqs: Vec<f32> = (0..half).map(|i| (i as f32 * -step).exp()).collect();
    let mut table = vec![0f32; rows * d];
    for pos in 0..rows {
        if pos == pad {
            continue;
        }
        for (i, f) in freqs.iter().enumerate() {
            let angle = pos as f32 * f;
            table[pos * d + i] = angle.sin();
            table[pos * d + half + i] = angle.cos();
        }
    }
    Tensor::from_vec(table, (rows, d), &Device::Cpu)
}

impl M2M100 {
    /// Loads `config.json` and the weights from `dir`.
    pub fn load(model: &str, dir: &Path) -> Result<Self> {
        let tensors = weights::tensors(&weights::weight_file(model, dir)?)?;
        Self::from_tensors(model, dir, tensors)
    }

    /// Builds the model from already loaded tensors.
    pub fn from_tensors(model: &str, dir: &Path, tensors: HashMap<String, Tensor>) -> Result<Self> {
        let config: Config = weights::config(model, dir)?;
        let c = &config;
        if !c.d_model.is_multiple_of(c.encoder_attention_heads)
            || !c.d_model.is_multiple_of(c.decoder_attention_heads)
        {
            return Err(Error::model(
                model,
                "d_model is not a multiple of the attention heads",
            ));
        }
        let has_head = tensors.contains_key("lm_head.weight");
        let vb = weights::var_builder(tensors);
        let m = vb.pp("model");
        let shared = if m.contains_tensor("shared.weight") {
            m.pp("shared")
        } else {
            m.pp("encoder").pp("embed_tokens")
        };
        let embed = candle_nn::embedding(c.vocab_size, c.d_model, shared)?;
        let lm_head = if has_head {
            vb.pp("lm_head").get((c.vocab_size, c.d_model), "weight")?
        } else {
            embed.embeddings().clone()
        };
        let d = c.d_model;
        let enc = m.pp("encoder");
        let encoder = (0..c.encoder_layers)
            .map(|i| {
                let l = enc.pp("layers").pp(i);
                Ok(EncoderLayer {
                    attn: attention(l.pp("self_attn"), d, c.encoder_attention_heads)?,
                    attn_norm: layer_norm(d, LN_EPS, l.pp("self_attn_layer_norm"))?,
                    ffn: FeedForward::load(l.clone(), d, c.encoder_ffn_dim, c.activation_function)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let dec = m.pp("decoder");
        let decoder = (0..c.decoder_layers)
            .map(|i| {
                let l = dec.pp("layers").pp(i);
                Ok(DecoderLayer {
                    attn: attention(l.pp("self_attn"), d, c.decoder_attention_heads)?,
                    attn_norm: layer_norm(d, LN_EPS, l.pp("self_attn_layer_norm"))?,
                    cross: attention(l.pp("encoder_attn"), d, c.decoder_attention_heads)?,
                    cross_norm: layer_norm(d, LN_EPS, l.pp("encoder_attn_layer_norm"))?,
                    ffn: FeedForward::load(l.clone(), d, c.decoder_ffn_dim, c.activation_function)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            embed,
            embed_scale: if c.scale_embedding {
                (d as f64).sqrt()
            } else {
                1.0
            },
            positions: sinusoidal(
                c.max_position_embeddings + POSITION_OFFSET,
                d,
                c.pad_token_id as usize,
            )?,
            encoder,
            encoder_norm: layer_norm(d, LN_EPS, enc.pp("layer_norm"))?,
            decoder: Arc::new(decoder),
            decoder_norm: layer_norm(d, LN_EPS, dec.pp("layer_norm"))?,
            lm_head,
            config,
        })
    }

    /// Scaled token embeddings plus positions `start..start + len`.
    fn embed(&self, ids: &[u32], start: usize) -> Result<Tensor> {
        let rows = self.positions.dim(0)?;
        if start + ids.len() + POSITION_OFFSET > rows {
            return Err(Error::Generation(format!(
                "sequence of {} tokens exceeds the model's {} positions",
                start + ids.len(),
                self.config.max_position_embeddings
            )));
        }
        let t = Tensor::new(ids, &Device::Cpu)?;
        let tok = (self.embed.forward(&t)? * self.embed_scale)?;
        let pos = self
            .positions
            .narrow(0, start + POSITION_OFFSET, ids.len())?;
        Ok((tok + pos)?.unsqueeze(0)?)
    }

    /// Encoder output for the source ids: (1, len, d).
    pub fn encode(&self, src: &[u32]) -> Result<Tensor> {
        let mut x = self.embed(src, 0)?;
        for l in &self.encoder {
            let h = l.attn_norm.forward(&x)?;
            let (k, v) = l.attn.keys_values(&h)?;
            x = (&x + l.attn.attend(&h, &k, &v, None)?)?;
            x = l.ffn.forward(&x)?;
        }
        Ok(self.encoder_norm.forward(&x)?)
    }
}

impl Seq2Seq for M2M100 {
    type State = M2M100State;

    fn start(&mut self, src: &[u32]) -> Result<M2M100State> {
        let enc = self.encode(src)?;
        Ok(M2M100State::new(
            self.decoder.iter().map(|l| &l.cross),
            &enc,
        )?)
    }

    fn step(&self, state: &mut M2M100State, token: u32) -> Result<Vec<f32>> {
        let mut x = self.embed(&[token], state.pos)?;
        for (i, l) in self.decoder.iter().enumerate() {
            let h = l.attn_norm.forward(&x)?;
            let (k, v) = l.attn.cached(&h, &mut state.self_kv[i])?;
            // One new query sees every earlier position: no mask needed.
            x = (&x + l.attn.attend(&h, &k, &v, None)?)?;
            let h = l.cross_norm.forward(&x)?;
            let (ck, cv) = &state.cross_kv[i];
            x = (&x + l.cross.attend(&h, ck, cv, None)?)?;
            x = l.ffn.forward(&x)?;
        }
        state.pos += 1;
        let x = self.decoder_norm.forward(&x)?;
        let logits = x.squeeze(0)?.matmul(&self.lm_head.t()?)?;
        Ok(logits.squeeze(0)?.to_dtype(DType::F32)?.to_vec1()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinusoidal_table_has_sin_then_cos_and_a_zero_padding_row() {
        let t = sinusoidal(6, 8, 1).unwrap().to_vec2::<f32>().unwrap();
        assert!(t[1].iter().all(|v| *v == 0.0));
        // position 0: sin 0 = 0, cos 0 = 1
        assert_eq!(&t[0][..4], &[0.0; 4]);
        assert_eq!(&t[0][4..], &[1.0; 4]);
        // position 3, frequency 0: sin 3
        assert!((t[3][0] - 3f32.sin()).abs() < 1e-6);
        // last frequency is 1/10000
        assert!((t[3][3] - (3.0f32 / 10000.0).sin()).abs() < 1e-6);
    }
}
