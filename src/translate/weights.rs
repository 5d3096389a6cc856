//! Loading a seq2seq checkpoint folder: `config.json` and the weights
//! (`*.safetensors`, PyTorch `*.bin`, or GGUF for quantized T5).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Reads and parses `config.json` in `dir`.
pub fn config<T: DeserializeOwned>(model: &str, dir: &Path) -> Result<T> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::model(model, format!("{}: {e}", path.display())))
}

/// Raw `config.json` as JSON, for optional fields the model structs lack.
pub fn config_value(model: &str, dir: &Path) -> Result<serde_json::Value> {
    config(model, dir)
}

/// The weight file in `dir`: `model.safetensors`, then `pytorch_model.bin`.
pub fn weight_file(model: &str, dir: &Path) -> Result<PathBuf> {
    ["model.safetensors", "pytorch_model.bin"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::model(
                model,
                format!(
                    "{}: no model.safetensors or pytorch_model.bin; run `khulasa models pull {model}`",
                    dir.display()
                ),
            )
        })
}

/// All tensors of a safetensors or PyTorch file, as f32 on the CPU.
pub fn tensors(path: &Path) -> Result<HashMap<String, Tensor>> {
    let dev = Device::Cpu;
    let map = if path.extension().is_some_and(|e| e == "bin") {
        candle_core::pickle::read_all(path)?.into_iter().collect()
    } else {
        candle_core::safetensors::load(path, &dev)?
    };
    map.into_iter()
        .map(|(k, v)| Ok((k, v.to_dtype(DType::F32)?)))
        .collect()
}

/// A variable builder over loaded tensors.
pub fn var_builder(tensors: HashMap<String, Tensor>) -> VarBuilder<'static> {
    VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu)
}
