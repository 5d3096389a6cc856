//! The quantized architectures khulasa runs, behind one local enum.

use std::collections::HashMap;
use std::fs::File;
use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::{Device, Tensor};
use candle_transformers::models::{quantized_gemma3, quantized_llama, quantized_qwen3};

use super::qwen2::Qwen2;

use crate::error::{Error, Result};

/// A loaded quantized model.
pub(crate) enum Model {
    /// Our own Qwen2 (quantized embeddings, prefix reuse).
    Qwen2(Qwen2),
    Llama(quantized_llama::ModelWeights),
    Qwen3(quantized_qwen3::ModelWeights),
    Gemma3(quantized_gemma3::ModelWeights),
}

/// A GGUF file's metadata and its architecture name.
pub(crate) struct Loaded {
    pub model: Model,
    pub metadata: HashMap<String, Value>,
    pub architecture: String,
    pub context_length: usize,
}

/// Architectures this build can run.
pub const ARCHITECTURES: &[&str] = &["qwen2", "llama", "qwen3", "gemma3"];

impl Model {
    /// The bytes of one sequence's KV cache per position, where each lane
    /// has a cache of its own (Qwen2; the others have one cache).
    pub(crate) fn lane_kv_bytes_per_position(&self) -> Option<u64> {
        match self {
            Model::Qwen2(m) => Some(m.kv_bytes_per_position()),
            _ => None,
        }
    }

    /// Keeps the prompt beginnings in `file` too (Qwen2; the others have
    /// none).
    pub(crate) fn keep_prefixes_in(&mut self, file: std::path::PathBuf) {
        if let Model::Qwen2(m) = self {
            m.keep_prefixes_in(file);
        }
    }

    /// The most the kept prompt beginnings take (Qwen2; see
    /// `qwen2::Prefixes`).
    pub(crate) fn kept_prefix_bytes(&self) -> Option<u64> {
        match self {
            Model::Qwen2(m) => Some(m.kv_bytes_per_position() * m.kept_prefix_positions()),
            _ => None,
        }
    }

    /// Loads a GGUF file.
    pub(crate) fn load(path: &Path, device: &Device) -> Result<Loaded> {
        let name = path.display().to_string();
        let file = map(path)?;
        super::gguf::check_header(&file).map_err(|why| {
            Error::model(
                &name,
                format!("not a readable GGUF file ({why}); check the path or re-download it"),
            )
        })?;
        let mut reader = Cursor::new(&file[..]);
        let content = gguf_file::Content::read(&mut reader).map_err(|e| {
            Error::model(
                &name,
                format!(
                    "not a readable GGUF file ({}); check the path or re-download it",
                    without_backtrace(&e)
                ),
            )
        })?;
        let metadata = content.metadata.clone();
        let architecture = metadata
            .get("general.architecture")
            .and_then(|v| v.to_string().ok().cloned())
            .unwrap_or_default();
        let context_length = metadata
            .get(&format!("{architecture}.context_length"))
            .and_then(|v| v.to_u32().ok())
            .unwrap_or(4096) as usize;
        let model = match architecture.as_str() {
            "qwen2" => Model::Qwen2(Qwen2::from_gguf(&content, &mut reader, &file, device)?),
            "llama" => Model::Llama(quantized_llama::ModelWeights::from_gguf(
                content,
                &mut reader,
                device,
            )?),
            "qwen3" => Model::Qwen3(quantized_qwen3::ModelWeights::from_gguf(
                content,
                &mut reader,
                device,
            )?),
            "gemma3" => Model::Gemma3(quantized_gemma3::ModelWeights::from_gguf(
                content,
                &mut reader,
                device,
            )?),
            other => {
                return Err(Error::model(
                    &name,
                    format!(
                        "architecture '{other}' is not supported; use one of {}",
                        ARCHITECTURES.join(", ")
                    ),
                ))
            }
        };
        Ok(Loaded {
            model,
            metadata,
            architecture,
            context_length,
        })
    }

    /// Runs `ids` at positions `pos..` and returns the last position's logits.
    pub(crate) fn forward(&mut self, ids: &[u32], pos: usize, device: &Device) -> Result<Vec<f32>> {
        let input = || -> Result<Tensor> { Ok(Tensor::new(ids, device)?.unsqueeze(0)?) };
        let logits = match self {
            Model::Qwen2(m) => return m.forward(ids, pos, device),
            Model::Llama(m) => m.forward(&input()?, pos)?,
            Model::Qwen3(m) => m.forward(&input()?, pos)?,
            Model::Gemma3(m) => m.forward(&input()?, pos)?,
        };
        Ok(logits
            .squeeze(0)?
            .to_dtype(candle_core::DType::F32)?
            .to_vec1::<f32>()?)
    }

    /// Whether a step may go back to an earlier position (Qwen2's cache
    /// forgets the later ones; the others' caches only grow).
    pub(crate) fn can_rewind(&self) -> bool {
        matches!(self, Model::Qwen2(_))
    }

    /// The Qwen2 model, whose decode steps can run several sequences at
    /// once (see [`Qwen2::forward_steps`]); `None` for the others.
    pub(crate) fn batched(&mut self) -> Option<&mut Qwen2> {
        match self {
            Model::Qwen2(m) => Some(m),
            _ => None,
        }
    }

    /// Forgets the KV cache (a forward at position 0 also resets Gemma 3's).
    pub(crate) fn clear(&mut self) {
        match self {
            Model::Qwen2(m) => m.clear(),
            Model::Llama(m) => m.clear_kv_cache(),
            Model::Qwen3(m) => m.clear_kv_cache(),
            Model::Gemma3(_) => {}
        }
    }

    /// Runs a prompt from position 0 and returns its last logits and how
    /// many of its leading tokens were taken from the cache of the previous
    /// pass instead of being computed (Qwen2 only; 0 for the others).
    pub(crate) fn prefill(&mut self, ids: &[u32], device: &Device) -> Result<(Vec<f32>, usize)> {
        if let Model::Qwen2(m) = self {
            return m.prefill(ids, device);
        }
        self.clear();
        Ok((self.forward(ids, 0, device)?, 0))
    }
}

/// The message of a candle error without the backtrace candle attaches
/// when `RUST_BACKTRACE` is set: an error stays one line.
fn without_backtrace(e: &candle_core::Error) -> String {
    match e {
        candle_core::Error::WithBacktrace { inner, .. } => without_backtrace(inner),
        e => e.to_string(),
    }
}

/// `path` mapped into memory, its pages read in now (a warm load then
/// costs the mapping, not a copy of the file; a cold one reads the file
/// once, as a copy would).
pub(crate) fn map(path: &Path) -> Result<Arc<memmap2::Mmap>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    // SAFETY: the mapping is read-only and nothing in this process writes
    // the file. Model files are written whole to a temporary name and
    // renamed into place (`models::mirror`, and hf-hub's blob store), so a file in the cache is
    // never changed while it is mapped; a file changed by someone else
    // while mapped can make a read fail with SIGBUS, the known limit of
    // mapping that llama.cpp and candle's safetensors loader share.
    #[allow(unsafe_code)]
    let map = unsafe { memmap2::MmapOptions::new().populate().map(&file) };
    Ok(Arc::new(map.map_err(|e| Error::io(path, e))?))
}
