//! Marian (OPUS-MT) through candle-transformers' `marian`. The decoder state
//! is a clone of the model (its caches then belong to one hypothesis) and
//! the number of tokens fed so far.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use candle_transformers::models::marian;

use super::seq2seq::Seq2Seq;
use super::weights;
use crate::error::Result;

/// A Marian encoder-decoder.
#[derive(Debug)]
pub struct Marian {
    net: marian::MTModel,
    /// The model's configuration.
    pub config: marian::Config,
    /// Tokens never generated (`bad_words_ids` of one token in config.json).
    pub banned: Vec<u32>,
}

/// One hypothesis.
#[derive(Debug, Clone)]
pub struct MarianState {
    net: marian::MTModel,
    enc: Tensor,
    pos: usize,
}

impl Marian {
    /// Loads `config.json` and the weights from `dir`.
    pub fn load(model: &str, dir: &Path) -> Result<Self> {
        let tensors = weights::tensors(&weights::weight_file(model, dir)?)?;
        Self::from_tensors(model, dir, tensors)
    }

    /// Builds the model from already loaded tensors.
    pub fn from_tensors(model: &str, dir: &Path, tensors: HashMap<String, Tensor>) -> Result<Self> {
        let config: marian::Config = weights::config(model, dir)?;
        let raw = weights::config_value(model, dir)?;
        let banned = raw["bad_words_ids"]
            .as_array()
            .map(|ids| {
                ids.iter()
                    .filter_map(|w| w.as_array().filter(|w| w.len() == 1)?[0].as_u64())
                    .map(|t| t as u32)
                    .collect()
            })
            .unwrap_or_default();
        let net = marian::MTModel::new(&config, weights::var_builder(tensors))?;
        Ok(Self {
            net,
            config,
            banned,
        })
    }
}

impl Seq2Seq for Marian {
    type State = MarianState;

    fn start(&mut self, src: &[u32]) -> Result<MarianState> {
        let mut net = self.net.clone();
        net.reset_kv_cache();
        let ids = Tensor::new(src, &Device::Cpu)?.unsqueeze(0)?;
        let enc = net.encoder().forward(&ids, 0)?;
        Ok(MarianState { net, enc, pos: 0 })
    }

    fn step(&self, state: &mut MarianState, token: u32) -> Result<Vec<f32>> {
        let ids = Tensor::new(&[token], &Device::Cpu)?.unsqueeze(0)?;
        let logits = state.net.decode(&ids, &state.enc, state.pos)?;
        state.pos += 1;
        Ok(logits.squeeze(0)?.squeeze(0)?.to_vec1()?)
    }
}
