//! Qwen2 over GGUF weights, written for khulasa's decode loop.
//!
//! It computes what candle-transformers' `quantized_qwen2` computes (the tests
//! compare the two), with four differences that matter on a small machine:
//!
//! - the token-embedding table stays quantized and only the rows of the
//!   tokens in a pass are dequantized (candle's model keeps an f32 copy of the
//!   whole table: 0.9 GB for the 1.5B model);
//! - matrices are [`super::kernels::Matrix`], multiplied on the file's
//!   compact blocks with no repacked copy;
//! - a decode step's attention runs on candle's worker pool
//!   ([`super::kernels::attention`]);
//! - the KV cache remembers which tokens it holds, so a prompt that starts
//!   like the previous one (the same system prompt and instructions for every
//!   chunk and article) only computes the tokens after the shared prefix.

use std::sync::Arc;

use candle_core::quantized::{gguf_file, QTensor};
use candle_core::{DType, Device, IndexOp, Module, Tensor};
use candle_transformers::quantized_nn::RmsNorm;

use super::kernels::{self, Matrix};
use crate::error::{Error, Result};

struct Layer {
    wq: Matrix,
    wk: Matrix,
    wv: Matrix,
    bq: Tensor,
    bk: Tensor,
    bv: Tensor,
    wo: Matrix,
    gate: Matrix,
    up: Matrix,
    down: Matrix,
    attn_norm: RmsNorm,
    ffn_norm: RmsNorm,
}

/// Keys or values of one layer, `[1, kv_heads, capacity, head_dim]` in f16
/// (see [`kernels::attention`]), of which the first `len` positions are in
/// use. Appending writes in place.
/// A prompt reserves its own positions and [`DECODE_ROOM`] more, so that a
/// digest's cache is allocated once; past that the buffer grows by half.
#[derive(Default)]
struct KvBuffer {
    buf: Option<Tensor>,
    len: usize,
}

/// Positions a prompt pass reserves after its own for the tokens decoded
/// after it, so that the cache of a prompt and its answer is allocated once
/// (an allocator keeps the memory of buffers outgrown and freed).
const DECODE_ROOM: usize = 256;

impl KvBuffer {
    fn capacity(&self) -> Result<usize> {
        Ok(match &self.buf {
            Some(b) => b.dim(2)?,
            None => 0,
        })
    }

    /// Makes room for `need` positions (at least; in whole 256-position
    /// steps) of `kv_heads` heads of `head_dim`, keeping those in use.
    fn reserve(
        &mut self,
        need: usize,
        (kv_heads, head_dim): (usize, usize),
        device: &Device,
    ) -> Result<()> {
        if need <= self.capacity()? {
            return Ok(());
        }
        let grown = Tensor::zeros(
            (1, kv_heads, need.next_multiple_of(256), head_dim),
            DType::F16,
            device,
        )?;
        if let (Some(old), true) = (&self.buf, self.len > 0) {
            grown.slice_set(&old.narrow(2, 0, self.len)?.contiguous()?, 2, 0)?;
        }
        self.buf = Some(grown);
        Ok(())
    }

    /// Appends `new` (`[1, kv_heads, n, head_dim]`, rounded to f16).
    fn append(&mut self, new: &Tensor) -> Result<()> {
        let (_, kv_heads, n, head_dim) = new.dims4()?;
        let need = self.len + n;
        let cap = self.capacity()?;
        if need > cap {
            self.reserve(need.max(cap + cap / 2), (kv_heads, head_dim), new.device())?;
        }
        let Some(buf) = &self.buf else {
            return Err(Error::Generation("the KV cache has no buffer".into()));
        };
        buf.slice_set(&new.to_dtype(DType::F16)?.contiguous()?, 2, self.len)?;
        self.len = need;
        Ok(())
    }

    /// The positions in use, widened to f32.
    fn in_use(&self) -> Result<Tensor> {
        match &self.buf {
            Some(buf) => Ok(buf.narrow(2, 0, self.len)?.to_dtype(DType::F32)?),
            None => Err(Error::Generation("the KV cache is empty".into())),
        }
    }

    /// Calls `f` with the whole buffer's values (`[kv_heads, capacity,
    /// head_dim]`, the first `len` positions in use) and the values between
    /// two heads.
    fn with_values<T>(&self, f: impl FnOnce(&[half::f16], usize) -> Result<T>) -> Result<T> {
        let Some(buf) = &self.buf else {
            return Err(Error::Generation("the KV cache is empty".into()));
        };
        let (_, _, cap, head_dim) = buf.dims4()?;
        let (storage, layout) = buf.storage_and_layout();
        let candle_core::Storage::Cpu(cpu) = &*storage else {
            return Err(Error::Generation(
                "the KV cache is not in CPU memory".into(),
            ));
        };
        let data = cpu.as_slice::<half::f16>()?;
        f(&data[layout.start_offset()..], cap * head_dim)
    }
}

/// Keys and values of one layer.
#[derive(Default)]
struct Kv {
    k: KvBuffer,
    v: KvBuffer,
}

/// One sequence's KV cache: keys and values of every layer, and the tokens
/// they hold, in position order.
#[derive(Default)]
struct Slot {
    layers: Vec<Kv>,
    tokens: Vec<u32>,
    /// Leading positions computed by prompt passes: only these are reused
    /// by a later prompt, since a decode step's products sum in another
    /// order.
    prompt: usize,
}

impl Slot {
    fn new(layers: usize) -> Self {
        Self {
            layers: (0..layers).map(|_| Kv::default()).collect(),
            tokens: Vec::new(),
            prompt: 0,
        }
    }

    /// Keeps the first `len` positions and forgets the rest (their buffers
    /// are overwritten by the next tokens).
    fn keep(&mut self, len: usize) {
        for kv in &mut self.layers {
            kv.k.len = kv.k.len.min(len);
            kv.v.len = kv.v.len.min(len);
        }
        self.tokens.truncate(len);
        self.prompt = self.prompt.min(len);
    }

    /// Readies the slot for a token at `pos`: positions from `pos` on are
    /// forgotten; a position past the cached tokens is an error.
    fn at(&mut self, pos: usize) -> Result<()> {
        if pos > self.tokens.len() {
            return Err(Error::Generation(format!(
                "position {pos} is past the {} cached tokens",
                self.tokens.len()
            )));
        }
        self.keep(pos);
        Ok(())
    }
}

/// Prompt beginnings kept apart from the slots, so that a prompt can
/// reuse the keys and values of an earlier one that another prompt has
/// since replaced in its slot: a batch renders the same instructions and
/// worked examples before every article's text, and the checks' prompts
/// between two articles would otherwise leave nothing of them to reuse.
/// A beginning is kept once two prompts have shared it, shared by every
/// slot, and restored into a slot by copying its positions.
#[derive(Default)]
struct Prefixes {
    kept: Vec<Prefix>,
    /// The tokens of the last prompts, newest last.
    recent: std::collections::VecDeque<Vec<u32>>,
    /// Counts prompts, to find the least recently used beginning.
    clock: u64,
    /// Where they persist between runs, if anywhere (see
    /// [`Qwen2::keep_prefixes_in`]).
    file: Option<std::path::PathBuf>,
}

/// What a file of kept beginnings says about itself before their keys and
/// values (`f16`, little-endian: for each beginning, for each layer, its
/// keys then its values, `[kv_heads, tokens, head_dim]`).
#[derive(serde::Serialize, serde::Deserialize)]
struct PrefixHeader {
    version: u32,
    layers: usize,
    kv_heads: usize,
    head_dim: usize,
    kept: Vec<Vec<u32>>,
    /// sha256 of the keys and values that follow, so that a file damaged on
    /// the disk is never restored.
    sha256: String,
}

/// The layout of a file of kept beginnings (2: keys and values in f16).
const PREFIX_VERSION: u32 = 2;

/// First bytes of a file of kept beginnings.
const PREFIX_MAGIC: &[u8; 8] = b"KHKVPFX1";

/// One kept beginning: its tokens and each layer's keys and values
/// (`[1, kv_heads, tokens, head_dim]`).
struct Prefix {
    tokens: Vec<u32>,
    layers: Vec<(Tensor, Tensor)>,
    used: u64,
}

/// Fewest tokens two prompts must share for their beginning to be kept.
const PREFIX_MIN: usize = 64;
/// Most positions of a kept beginning.
const PREFIX_MAX: usize = 1024;
/// Most beginnings kept (the least recently used is dropped first).
const PREFIXES: usize = 4;
/// Prompts remembered to find shared beginnings in.
const RECENT_PROMPTS: usize = 8;

/// Gives the memory a prompt pass freed (its activations, a cache buffer
/// it outgrew) back to the system. glibc's allocator keeps freed blocks of
/// a few MB for later: after a prompt pass and a digest that made the
/// process's private memory 0.36× the 1.5B model's file where the live
/// buffers take 0.26×. Called once a prompt pass, it costs a few
/// milliseconds against the pass's seconds.
fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only releases free memory of the allocator's
    // own heaps; no pointer of ours is touched.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Leading tokens `a` and `b` share.
fn common(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl Prefixes {
    /// The kept beginning that shares most with `ids`, and how much.
    fn best(&self, ids: &[u32]) -> Option<(usize, usize)> {
        self.kept
            .iter()
            .enumerate()
            .map(|(i, p)| (i, common(&p.tokens, ids)))
            .max_by_key(|&(i, n)| (n, std::cmp::Reverse(i)))
    }

    /// How many leading tokens of `ids` are worth keeping: the most it
    /// shares with a recent prompt, when at least [`PREFIX_MIN`] and not
    /// already kept (at most [`PREFIX_MAX`] and `limit`).
    fn worth_keeping(&self, ids: &[u32], limit: usize) -> Option<usize> {
        let n = self
            .recent
            .iter()
            .map(|r| common(r, ids))
            .max()?
            .min(PREFIX_MAX)
            .min(limit);
        let kept = self.best(ids).map_or(0, |(_, k)| k);
        (n >= PREFIX_MIN && n > kept).then_some(n)
    }

    fn remember(&mut self, ids: &[u32]) {
        if self.recent.len() == RECENT_PROMPTS {
            self.recent.pop_front();
        }
        self.recent.push_back(ids.to_vec());
    }

    /// Keeps `prefix`, in place of a kept beginning it extends, else of the
    /// least recently used one when [`PREFIXES`] are kept.
    fn keep(&mut self, prefix: Prefix) {
        let extended = self
            .kept
            .iter()
            .position(|p| prefix.tokens.starts_with(&p.tokens));
        let at = extended.or_else(|| {
            (self.kept.len() >= PREFIXES).then(|| {
                (0..self.kept.len())
                    .min_by_key(|&i| self.kept[i].used)
                    .unwrap_or(0)
            })
        });
        match at {
            Some(i) => self.kept[i] = prefix,
            None => self.kept.push(prefix),
        }
    }
}

/// Most prompt tokens run through the model at once.
const PREFILL_SLICE: usize = 512;
/// Most queries whose attention scores are computed at once.
const QUERY_CHUNK: usize = 128;
/// Positions the rotary tables cover at first.
const ROTARY_START: usize = 2048;

/// A Qwen2 model with its KV cache.
pub(crate) struct Qwen2 {
    /// The token-embedding table (only the rows in a pass are dequantized).
    embed: Matrix,
    layers: Vec<Layer>,
    norm: RmsNorm,
    output: Matrix,
    /// Rotary tables for the first positions (see [`Qwen2::rotary_for`]).
    cos: Tensor,
    sin: Tensor,
    /// Base of the rotary frequencies and the model's context length.
    rope_base: f32,
    context: usize,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    /// KV caches, one per sequence in flight (see [`Qwen2::select`]).
    slots: Vec<Slot>,
    /// Prompt beginnings shared by the slots.
    prefixes: Prefixes,
    /// The slot that [`Qwen2::prefill`] and [`Qwen2::forward`] use.
    slot: usize,
}

fn metadata_usize(ct: &gguf_file::Content, key: &str) -> Result<usize> {
    ct.metadata
        .get(key)
        .and_then(|v| v.to_u32().ok())
        .map(|v| v as usize)
        .ok_or_else(|| Error::Generation(format!("the GGUF file has no '{key}'")))
}

/// Rotary tables `[positions, head_dim / 2]` (cos, sin).
fn rotary(
    head_dim: usize,
    base: f32,
    positions: usize,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let inv: Vec<f32> = (0..head_dim)
        .step_by(2)
        .map(|i| 1.0 / base.powf(i as f32 / head_dim as f32))
        .collect();
    let inv = Tensor::new(inv.as_slice(), device)?.reshape((1, head_dim / 2))?;
    let pos = Tensor::arange(0, positions as u32, device)?
        .to_dtype(DType::F32)?
        .reshape((positions, 1))?;
    let angles = pos.matmul(&inv)?;
    Ok((angles.cos()?, angles.sin()?))
}

/// Additive causal mask `[seq, past + seq]` for `seq` new tokens after `past`.
fn causal_mask(seq: usize, past: usize, device: &Device) -> Result<Tensor> {
    let total = past + seq;
    let mask: Vec<f32> = (0..seq)
        .flat_map(|i| (0..total).map(move |j| if j > past + i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Ok(Tensor::from_vec(mask, (seq, total), device)?)
}

/// Reads named tensors from a GGUF file.
struct Loader<'a, R> {
    ct: &'a gguf_file::Content,
    reader: &'a mut R,
    device: &'a Device,
    /// Multiply matrices on their compact blocks (candle's `QMatMul` if not).
    compact: bool,
    /// The file mapped into memory, for compact matrices read in place.
    file: Option<&'a Arc<memmap2::Mmap>>,
}

impl<R: std::io::Seek + std::io::Read> Loader<'_, R> {
    fn raw(&mut self, name: &str) -> Result<QTensor> {
        Ok(self.ct.tensor(self.reader, name, self.device)?)
    }
    fn matrix(&mut self, name: &str) -> Result<Matrix> {
        if let (Some(file), true, Some(info)) =
            (self.file, self.compact, self.ct.tensor_infos.get(name))
        {
            let start = self.ct.tensor_data_offset as usize + info.offset as usize;
            if let Some(m) = Matrix::mapped(file, start, info.ggml_dtype, info.shape.dims())? {
                return Ok(m);
            }
        }
        Matrix::new(self.raw(name)?, self.compact)
    }
    fn vector(&mut self, name: &str) -> Result<Tensor> {
        Ok(self.raw(name)?.dequantize(self.device)?)
    }
}

impl Qwen2 {
    /// Loads the weights from a GGUF file's content; the matrices the
    /// compact kernels take stay in `file` (the same file, mapped), the rest
    /// is read through `reader`.
    pub(crate) fn from_gguf<R: std::io::Seek + std::io::Read>(
        ct: &gguf_file::Content,
        reader: &mut R,
        file: &Arc<memmap2::Mmap>,
        device: &Device,
    ) -> Result<Self> {
        Self::load(ct, reader, Some(file), device, true)
    }

    /// Loads the weights, for products on their compact blocks if `compact`
    /// (else candle's own products, as the reference model computes them).
    fn load<R: std::io::Seek + std::io::Read>(
        ct: &gguf_file::Content,
        reader: &mut R,
        file: Option<&Arc<memmap2::Mmap>>,
        device: &Device,
        compact: bool,
    ) -> Result<Self> {
        let heads = metadata_usize(ct, "qwen2.attention.head_count")?;
        let kv_heads = metadata_usize(ct, "qwen2.attention.head_count_kv")?;
        let hidden = metadata_usize(ct, "qwen2.embedding_length")?;
        let context = metadata_usize(ct, "qwen2.context_length")?;
        let blocks = metadata_usize(ct, "qwen2.block_count")?;
        let eps = ct
            .metadata
            .get("qwen2.attention.layer_norm_rms_epsilon")
            .and_then(|v| v.to_f32().ok())
            .unwrap_or(1e-6) as f64;
        let base = ct
            .metadata
            .get("qwen2.rope.freq_base")
            .and_then(|v| v.to_f32().ok())
            .unwrap_or(10_000.0);
        let head_dim = hidden / heads;
        let mut w = Loader {
            ct,
            reader,
            device,
            compact,
            file,
        };
        // The two largest tensors first: reading a tensor into memory (what
        // the compact kernels do not take) holds its bytes twice for a
        // moment (candle copies them into typed blocks), and this way that
        // moment comes before the rest of the model is loaded.
        let embed = w.matrix("token_embd.weight")?;
        let output = if ct.tensor_infos.contains_key("output.weight") {
            w.matrix("output.weight")?
        } else {
            embed.clone()
        };
        let mut layers = Vec::with_capacity(blocks);
        for l in 0..blocks {
            let p = format!("blk.{l}");
            layers.push(Layer {
                wq: w.matrix(&format!("{p}.attn_q.weight"))?,
                wk: w.matrix(&format!("{p}.attn_k.weight"))?,
                wv: w.matrix(&format!("{p}.attn_v.weight"))?,
                bq: w.vector(&format!("{p}.attn_q.bias"))?,
                bk: w.vector(&format!("{p}.attn_k.bias"))?,
                bv: w.vector(&format!("{p}.attn_v.bias"))?,
                wo: w.matrix(&format!("{p}.attn_output.weight"))?,
                gate: w.matrix(&format!("{p}.ffn_gate.weight"))?,
                up: w.matrix(&format!("{p}.ffn_up.weight"))?,
                down: w.matrix(&format!("{p}.ffn_down.weight"))?,
                attn_norm: RmsNorm::from_qtensor(w.raw(&format!("{p}.attn_norm.weight"))?, eps)?,
                ffn_norm: RmsNorm::from_qtensor(w.raw(&format!("{p}.ffn_norm.weight"))?, eps)?,
            });
        }
        let norm = RmsNorm::from_qtensor(w.raw("output_norm.weight")?, eps)?;
        let (cos, sin) = rotary(head_dim, base, context.min(ROTARY_START), device)?;
        Ok(Self {
            embed,
            slots: vec![Slot::new(layers.len())],
            prefixes: Prefixes::default(),
            slot: 0,
            layers,
            norm,
            output,
            cos,
            sin,
            rope_base: base,
            context,
            heads,
            kv_heads,
            head_dim,
        })
    }

    /// Extends the rotary tables to cover `positions` (doubling, up to the
    /// model's context length): a table for all 32,768 positions of the
    /// context costs 8–16 MB that a digest never uses.
    fn rotary_for(&mut self, positions: usize, device: &Device) -> Result<()> {
        if positions <= self.cos.dim(0)? {
            return Ok(());
        }
        if positions > self.context {
            return Err(Error::Generation(format!(
                "{positions} positions exceed the model's context of {}",
                self.context
            )));
        }
        let len = positions.next_power_of_two().min(self.context);
        (self.cos, self.sin) = rotary(self.head_dim, self.rope_base, len, device)?;
        Ok(())
    }

    /// Forgets the KV cache of the slot in use and the kept prompt
    /// beginnings: the next prompt is computed from nothing.
    pub(crate) fn clear(&mut self) {
        self.slots[self.slot].keep(0);
        self.prefixes = Prefixes::default();
    }

    /// Bytes of one slot's keys and values per position: two f16 vectors
    /// of every KV head in every layer.
    pub(crate) fn kv_bytes_per_position(&self) -> u64 {
        (self.layers.len() * 2 * self.kv_heads * self.head_dim * 2) as u64
    }

    /// The most positions the kept prompt beginnings hold together.
    pub(crate) fn kept_prefix_positions(&self) -> u64 {
        (PREFIXES * PREFIX_MAX) as u64
    }

    /// Makes slot `slot` (from 0) the one that [`Qwen2::prefill`] and
    /// [`Qwen2::forward`] use, adding empty slots up to it. Each slot keeps
    /// its own cache, so sequences in flight at once never share one.
    pub(crate) fn select(&mut self, slot: usize) {
        while self.slots.len() <= slot {
            self.slots.push(Slot::new(self.layers.len()));
        }
        self.slot = slot;
    }

    /// The tokens cached in each slot.
    #[cfg(test)]
    pub(crate) fn cached(&self) -> impl Iterator<Item = &[u32]> {
        self.slots.iter().map(|s| s.tokens.as_slice())
    }

    /// Drops every slot but the first (their memory is freed).
    pub(crate) fn release_slots(&mut self) {
        self.slots.truncate(1);
        self.slot = 0;
    }

    /// Runs a prompt, reusing the cached positions it shares with the tokens
    /// already in the cache; returns the last position's logits and the
    /// number of prompt tokens that were reused rather than computed.
    pub(crate) fn prefill(&mut self, ids: &[u32], device: &Device) -> Result<(Vec<f32>, usize)> {
        // The last prompt token is always computed: its logits are needed.
        let limit = ids.len().saturating_sub(1);
        let slot = &self.slots[self.slot];
        let mut shared = common(&slot.tokens[..slot.prompt], ids).min(limit);
        self.slots[self.slot].keep(shared);
        // Made before a kept beginning is restored, so that it too is
        // copied into the prompt's one buffer.
        let room = ids.len() + DECODE_ROOM;
        for kv in &mut self.slots[self.slot].layers {
            kv.k.reserve(room, (self.kv_heads, self.head_dim), device)?;
            kv.v.reserve(room, (self.kv_heads, self.head_dim), device)?;
        }
        self.prefixes.clock += 1;
        if let Some((i, n)) = self.prefixes.best(ids) {
            let n = n.min(limit);
            if n > shared {
                self.restore(i, n)?;
                shared = n;
            }
        }
        // Long prompts go in slices, which bounds the attention scores held
        // at once to PREFILL_SLICE rows. The slices are of equal size, so no
        // last slice of a few tokens takes the kernels for short passes (and
        // makes candle pack a second copy of the weights for them).
        let rest = &ids[shared..];
        let slice = rest
            .len()
            .div_ceil(rest.len().div_ceil(PREFILL_SLICE).max(1));
        let mut logits = Vec::new();
        let mut pos = shared;
        for part in rest.chunks(slice.max(1)) {
            logits = kernels::as_prompt(|| self.forward(part, pos, device))?;
            pos += part.len();
        }
        self.slots[self.slot].prompt = pos;
        return_freed_memory();
        let kept = self.prefixes.worth_keeping(ids, limit);
        if let Some(n) = kept {
            let prefix = self.prefix_of(n)?;
            self.prefixes.keep(prefix);
        }
        self.prefixes.remember(ids);
        if self.prefixes.file.is_some() {
            // A file that cannot be written costs only the reuse in a
            // later run; this run's prompts are unaffected.
            let _ = self.write_prefixes(kept.is_some());
        }
        Ok((logits, shared))
    }

    /// Keeps the prompt beginnings in `file` as well, and starts from the
    /// ones it holds: a later run with the same model, kernel path and
    /// build (the caller names the file after them) restores a beginning
    /// that an earlier run kept instead of computing it. Since a prompt
    /// gives the same values however it is split, a restored beginning
    /// gives the digest a fresh pass gives. A file that is missing, of
    /// another shape or damaged is ignored.
    pub(crate) fn keep_prefixes_in(&mut self, file: std::path::PathBuf) {
        self.prefixes = self.read_prefixes(&file).unwrap_or_default();
        // The recent prompts, if their file reads.
        let recent: Vec<Vec<u32>> = std::fs::read(file.with_extension("recent"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        self.prefixes.recent = recent.into_iter().take(RECENT_PROMPTS).collect();
        self.prefixes.file = Some(file);
    }

    /// The kept beginnings in `file`.
    fn read_prefixes(&self, file: &std::path::Path) -> Result<Prefixes> {
        let bad = |why: &str| Error::Generation(format!("{}: {why}", file.display()));
        let bytes = std::fs::read(file).map_err(|e| bad(&e.to_string()))?;
        let rest = bytes
            .strip_prefix(PREFIX_MAGIC.as_slice())
            .ok_or_else(|| bad("not a file of kept prompt beginnings"))?;
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| bad("no header"))?;
        let header: PrefixHeader =
            serde_json::from_slice(&rest[..end]).map_err(|e| bad(&e.to_string()))?;
        let shape = (self.layers.len(), self.kv_heads, self.head_dim);
        if header.version != PREFIX_VERSION
            || (header.layers, header.kv_heads, header.head_dim) != shape
        {
            return Err(bad("kept for another model"));
        }
        let mut data = &rest[end + 1..];
        if crate::article::sha256_hex(data) != header.sha256 {
            return Err(bad("its keys and values do not match their sha256"));
        }
        let mut out = Prefixes::default();
        for tokens in header.kept.into_iter().take(PREFIXES) {
            let n = tokens.len();
            if n == 0 || n > PREFIX_MAX {
                return Err(bad("a beginning of the wrong size"));
            }
            let floats = self.kv_heads * n * self.head_dim;
            let mut take = || -> Result<Tensor> {
                let bytes = data
                    .get(..2 * floats)
                    .ok_or_else(|| bad("shorter than its header says"))?;
                data = &data[2 * floats..];
                let values: Vec<half::f16> = bytes
                    .chunks_exact(2)
                    .map(|b| half::f16::from_le_bytes([b[0], b[1]]))
                    .collect();
                Ok(Tensor::from_vec(
                    values,
                    (1, self.kv_heads, n, self.head_dim),
                    &Device::Cpu,
                )?)
            };
            let layers = (0..self.layers.len())
                .map(|_| Ok((take()?, take()?)))
                .collect::<Result<_>>()?;
            out.kept.push(Prefix {
                tokens,
                layers,
                used: 0,
            });
        }
        if !data.is_empty() {
            return Err(bad("longer than its header says"));
        }
        Ok(out)
    }

    /// Writes the recent prompts to the file's `.recent` companion, and,
    /// when `changed`, the kept beginnings to the file, each atomically
    /// (a reader never sees half a file, a failed write leaves nothing).
    fn write_prefixes(&self, changed: bool) -> Result<()> {
        use crate::batch::store::write_atomic;
        let Some(file) = &self.prefixes.file else {
            return Ok(());
        };
        let json = |e: serde_json::Error| Error::Generation(e.to_string());
        let recent: Vec<&Vec<u32>> = self.prefixes.recent.iter().collect();
        let recent_file = file.with_extension("recent");
        write_atomic(&recent_file, &serde_json::to_vec(&recent).map_err(json)?)?;
        if !changed {
            return Ok(());
        }
        let mut data = Vec::new();
        for p in &self.prefixes.kept {
            for (k, v) in &p.layers {
                for t in [k, v] {
                    for x in t.flatten_all()?.to_vec1::<half::f16>()? {
                        data.extend_from_slice(&x.to_le_bytes());
                    }
                }
            }
        }
        let header = PrefixHeader {
            version: PREFIX_VERSION,
            layers: self.layers.len(),
            kv_heads: self.kv_heads,
            head_dim: self.head_dim,
            kept: self
                .prefixes
                .kept
                .iter()
                .map(|p| p.tokens.clone())
                .collect(),
            sha256: crate::article::sha256_hex(&data),
        };
        let mut bytes = PREFIX_MAGIC.to_vec();
        bytes.extend(serde_json::to_vec(&header).map_err(json)?);
        bytes.push(b'\n');
        bytes.extend(data);
        write_atomic(file, &bytes)
    }

    /// The first `n` positions of the current slot, copied.
    fn prefix_of(&self, n: usize) -> Result<Prefix> {
        let slot = &self.slots[self.slot];
        let copy = |b: &KvBuffer| -> Result<Tensor> {
            match &b.buf {
                Some(t) if b.len >= n => Ok(t.narrow(2, 0, n)?.copy()?),
                _ => Err(Error::Generation(format!(
                    "the KV cache holds fewer than the {n} positions to keep"
                ))),
            }
        };
        Ok(Prefix {
            tokens: slot.tokens[..n].to_vec(),
            layers: slot
                .layers
                .iter()
                .map(|kv| Ok((copy(&kv.k)?, copy(&kv.v)?)))
                .collect::<Result<_>>()?,
            used: self.prefixes.clock,
        })
    }

    /// Puts the first `n` positions of kept beginning `i` into the current
    /// slot, in place of what it held.
    fn restore(&mut self, i: usize, n: usize) -> Result<()> {
        let prefix = &mut self.prefixes.kept[i];
        prefix.used = self.prefixes.clock;
        let slot = &mut self.slots[self.slot];
        slot.keep(0);
        for (kv, (k, v)) in slot.layers.iter_mut().zip(&prefix.layers) {
            kv.k.append(&k.narrow(2, 0, n)?)?;
            kv.v.append(&v.narrow(2, 0, n)?)?;
        }
        slot.tokens.extend_from_slice(&prefix.tokens[..n]);
        slot.prompt = n;
        Ok(())
    }

    /// Runs `ids` at positions `pos..` (forgetting any cached position from
    /// `pos` on) and returns the last position's logits.
    pub(crate) fn forward(&mut self, ids: &[u32], pos: usize, device: &Device) -> Result<Vec<f32>> {
        self.slots[self.slot].at(pos)?;
        self.rotary_for(pos + ids.len(), device)?;
        let seq = ids.len();
        let mut x = self.embed.embedding(ids, device)?.unsqueeze(0)?;
        // Only candle's attention (off the CPU, or not in f32) takes a mask.
        let mask = if seq > 1 && !own_attention(&x) {
            Some(causal_mask(seq, pos, device)?)
        } else {
            None
        };
        let cos = self.cos.narrow(0, pos, seq)?;
        let sin = self.sin.narrow(0, pos, seq)?;
        let slot = &mut self.slots[self.slot];
        for (layer, cache) in self.layers.iter().zip(slot.layers.iter_mut()) {
            let h = layer.attn_norm.forward(&x)?;
            let a = attention(
                layer,
                &h,
                cache,
                (&cos, &sin),
                mask.as_ref(),
                (self.heads, self.kv_heads, self.head_dim),
            )?;
            x = (x + a)?;
            let h = layer.ffn_norm.forward(&x)?;
            x = (x + kernels::gated_mlp(&layer.gate, &layer.up, &layer.down, &h)?)?;
        }
        slot.tokens.extend_from_slice(ids);
        let last = self.norm.forward(&x.i((.., seq - 1, ..))?)?;
        Ok(self
            .output
            .forward(&last)?
            .squeeze(0)?
            .to_dtype(DType::F32)?
            .to_vec1::<f32>()?)
    }

    /// One decode step of several sequences: `steps` are (slot, token,
    /// position), at most one per slot. The matrices are multiplied once for
    /// all the tokens (each token's values exactly as on its own, see
    /// [`kernels::ROW_TOKENS`]) and attention runs on each slot's own cache.
    /// Returns each step's logits, in the order of `steps`.
    pub(crate) fn forward_steps(
        &mut self,
        steps: &[(usize, u32, usize)],
        device: &Device,
    ) -> Result<Vec<Vec<f32>>> {
        if steps.is_empty() {
            return Ok(Vec::new());
        }
        let mut seen = vec![false; self.slots.len()];
        for &(slot, _, pos) in steps {
            match seen.get_mut(slot) {
                Some(s) if !*s => *s = true,
                Some(_) => {
                    return Err(Error::Generation(format!(
                        "slot {slot} has two tokens in one decode step"
                    )))
                }
                None => return Err(Error::Generation(format!("no KV cache slot {slot}"))),
            }
            self.slots[slot].at(pos)?;
        }
        let last = steps.iter().map(|s| s.2).max().unwrap_or(0);
        self.rotary_for(last + 1, device)?;
        let n = steps.len();
        let ids: Vec<u32> = steps.iter().map(|s| s.1).collect();
        let positions: Vec<u32> = steps.iter().map(|s| s.2 as u32).collect();
        let positions = Tensor::new(positions.as_slice(), device)?;
        let cos = self.cos.index_select(&positions, 0)?;
        let sin = self.sin.index_select(&positions, 0)?;
        let slots: Vec<usize> = steps.iter().map(|s| s.0).collect();
        let mut x = self.embed.embedding(&ids, device)?.unsqueeze(0)?;
        for (l, layer) in self.layers.iter().enumerate() {
            let h = layer.attn_norm.forward(&x)?;
            let a = attention_steps(
                layer,
                &h,
                &mut self.slots,
                (&slots, l),
                (&cos, &sin),
                (self.heads, self.kv_heads, self.head_dim),
            )?;
            x = (x + a)?;
            let h = layer.ffn_norm.forward(&x)?;
            x = (x + kernels::gated_mlp(&layer.gate, &layer.up, &layer.down, &h)?)?;
        }
        for &(slot, id, _) in steps {
            self.slots[slot].tokens.push(id);
        }
        let x = self.norm.forward(&x)?;
        let logits = self.output.forward(&x)?.squeeze(0)?.to_dtype(DType::F32)?;
        let logits: Vec<Vec<f32>> = logits.to_vec2()?;
        debug_assert_eq!(logits.len(), n);
        Ok(logits)
    }
}

/// The queries, keys and values of `x` (`[b, seq, hidden]`), each
/// `[b, heads, seq, head_dim]`, with their biases and rotary positions.
fn queries_keys_values(
    layer: &Layer,
    x: &Tensor,
    (cos, sin): (&Tensor, &Tensor),
    shape: kernels::attention::Heads,
) -> Result<(Tensor, Tensor, Tensor)> {
    let (b, seq, _) = x.dims3()?;
    let split = |t: Tensor, n: usize| -> Result<Tensor> {
        Ok(t.reshape((b, seq, n, shape.head_dim))?
            .transpose(1, 2)?
            .contiguous()?)
    };
    let [q, k, v]: [Tensor; 3] = Matrix::forward_shared(&[&layer.wq, &layer.wk, &layer.wv], x)?
        .try_into()
        .map_err(|_| Error::Generation("query, key and value projections".into()))?;
    let q = split(q.broadcast_add(&layer.bq)?, shape.heads)?;
    let k = split(k.broadcast_add(&layer.bk)?, shape.kv_heads)?;
    let v = split(v.broadcast_add(&layer.bv)?, shape.kv_heads)?;
    let q = candle_nn::rotary_emb::rope(&q, cos, sin)?;
    let k = candle_nn::rotary_emb::rope(&k, cos, sin)?;
    Ok((q, k, v))
}

/// One token's attention output (`heads · head_dim` values) for its
/// queries `q` against every position in `cache`.
fn one_token(cache: &Kv, q: &[f32], shape: kernels::attention::Heads) -> Result<Vec<f32>> {
    let len = cache.k.len;
    cache.k.with_values(|k, stride| {
        cache
            .v
            .with_values(|v, _| kernels::attention::one_token(q, k, v, len, stride, shape))
    })
}

/// Attention of one decode step of several sequences (`x` is `[1, n,
/// hidden]`, token `i` of slot `slots[i]`): the projections for all tokens
/// at once, then each token against its own slot's keys and values of
/// layer `l`.
fn attention_steps(
    layer: &Layer,
    x: &Tensor,
    all: &mut [Slot],
    (slots, l): (&[usize], usize),
    (cos, sin): (&Tensor, &Tensor),
    (heads, kv_heads, head_dim): (usize, usize, usize),
) -> Result<Tensor> {
    let (b, n, hidden) = x.dims3()?;
    let shape = kernels::attention::Heads {
        heads,
        kv_heads,
        head_dim,
    };
    let (q, k, v) = queries_keys_values(layer, x, (cos, sin), shape)?;
    let mut y = Vec::with_capacity(n * hidden);
    for (i, &slot) in slots.iter().enumerate() {
        let cache = &mut all[slot].layers[l];
        cache.k.append(&k.narrow(2, i, 1)?)?;
        cache.v.append(&v.narrow(2, i, 1)?)?;
        let qi: Vec<f32> = q.narrow(2, i, 1)?.flatten_all()?.to_vec1()?;
        y.extend_from_slice(&one_token(cache, &qi, shape)?);
    }
    layer
        .wo
        .forward(&Tensor::from_vec(y, (b, n, hidden), x.device())?)
}

/// True when attention over `t`'s values runs on [`kernels::attention`]
/// (f32 on the CPU), which needs no mask; candle's products otherwise.
fn own_attention(t: &Tensor) -> bool {
    t.device().is_cpu() && t.dtype() == DType::F32
}

fn attention(
    layer: &Layer,
    x: &Tensor,
    cache: &mut Kv,
    (cos, sin): (&Tensor, &Tensor),
    mask: Option<&Tensor>,
    (heads, kv_heads, head_dim): (usize, usize, usize),
) -> Result<Tensor> {
    let (b, seq, hidden) = x.dims3()?;
    let shape = kernels::attention::Heads {
        heads,
        kv_heads,
        head_dim,
    };
    let (q, k, v) = queries_keys_values(layer, x, (cos, sin), shape)?;
    cache.k.append(&k)?;
    cache.v.append(&v)?;
    if b == 1 && own_attention(&q) {
        // Each token over the positions up to its own, as a decode step
        // computes it: the values do not depend on the pass they are in.
        let q: Vec<f32> = q
            .squeeze(0)?
            .transpose(0, 1)?
            .contiguous()?
            .flatten_all()?
            .to_vec1()?;
        let y = if seq == 1 {
            one_token(cache, &q, shape)?
        } else {
            let first = cache.k.len - seq;
            cache.k.with_values(|k, stride| {
                cache.v.with_values(|v, _| {
                    kernels::attention::many_tokens(&q, k, v, first, stride, shape)
                })
            })?
        };
        return layer
            .wo
            .forward(&Tensor::from_vec(y, (1, seq, hidden), x.device())?);
    }
    // Grouped-query attention without copying keys and values for every
    // query head: the `group` query heads of one KV head are stacked as rows.
    // Queries go in chunks, which bounds the scores held at once (for the
    // 0.5B model and a 512-token slice of a 1,000-token prompt, 29 MB a copy
    // without chunks).
    let group = heads / kv_heads;
    let (k, v) = (cache.k.in_use()?, cache.v.in_use()?);
    let kv_len = k.dim(2)?;
    // A pass of several tokens needs its mask here; the caller makes one
    // for the passes it knows come here.
    let made;
    let mask = match mask {
        None if seq > 1 => {
            made = causal_mask(seq, kv_len - seq, x.device())?;
            Some(&made)
        }
        mask => mask,
    };
    let mut ys = Vec::with_capacity(seq.div_ceil(QUERY_CHUNK));
    for start in (0..seq).step_by(QUERY_CHUNK) {
        let n = QUERY_CHUNK.min(seq - start);
        let q = q
            .narrow(2, start, n)?
            .contiguous()?
            .reshape((b, kv_heads, group * n, head_dim))?;
        let scores = (q.matmul(&k.t()?)? / (head_dim as f64).sqrt())?;
        let scores = match mask {
            Some(m) => scores
                .reshape((b, kv_heads, group, n, kv_len))?
                .broadcast_add(&m.narrow(0, start, n)?)?
                .reshape((b, kv_heads, group * n, kv_len))?,
            None => scores,
        };
        let weights = candle_nn::ops::softmax_last_dim(&scores)?;
        ys.push(weights.matmul(&v)?.reshape((b, heads, n, head_dim))?);
    }
    let y = Tensor::cat(&ys, 2)?;
    let y = y.transpose(1, 2)?.reshape((b, seq, hidden))?;
    layer.wo.forward(&y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::BufReader;

    /// A tiny random Qwen2 checkpoint (seed `seed`), loaded on the compact
    /// kernels; the folder holding its file lives as long as the first
    /// value.
    fn tiny_compact(seed: u64) -> (tempfile::TempDir, Qwen2) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        super::super::tiny::write_tiny("qwen2", &path, seed).unwrap();
        let (m, _) = load_both(&path, true);
        (dir, m)
    }

    /// Clears `m`, runs the prompt `ids` from nothing and asserts that
    /// `cached` (the same prompt's logits with reuse) is exactly that:
    /// a prompt's values do not depend on its passes. Returns the fresh
    /// logits.
    fn assert_as_a_fresh_prompt(m: &mut Qwen2, ids: &[u32], cached: &[f32]) -> Vec<f32> {
        m.clear();
        let (fresh, reused) = m.prefill(ids, &Device::Cpu).unwrap();
        assert_eq!(reused, 0);
        assert_eq!(cached, fresh, "{}", max_diff(cached, &fresh));
        fresh
    }

    /// Our model (products on compact blocks if `compact`, else candle's
    /// products) and candle's model.
    fn load_both(
        path: &std::path::Path,
        compact: bool,
    ) -> (
        Qwen2,
        candle_transformers::models::quantized_qwen2::ModelWeights,
    ) {
        let device = Device::Cpu;
        let mut r = BufReader::new(File::open(path).unwrap());
        let ct = gguf_file::Content::read(&mut r).unwrap();
        let file = super::super::model::map(path).unwrap();
        let mapped = compact.then_some(&file);
        let ours = Qwen2::load(&ct, &mut r, mapped, &device, compact).unwrap();
        let mut r = BufReader::new(File::open(path).unwrap());
        let ct = gguf_file::Content::read(&mut r).unwrap();
        let theirs = candle_transformers::models::quantized_qwen2::ModelWeights::from_gguf(
            ct, &mut r, &device,
        )
        .unwrap();
        (ours, theirs)
    }

    fn reference_logits(
        m: &mut candle_transformers::models::quantized_qwen2::ModelWeights,
        ids: &[u32],
        pos: usize,
    ) -> Vec<f32> {
        let input = Tensor::new(ids, &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        m.forward(&input, pos)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    fn argmax(v: &[f32]) -> u32 {
        v.iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(i, _)| i as u32)
    }

    #[test]
    fn matches_candle_qwen2_on_prompt_and_steps() {
        for dtype in [
            candle_core::quantized::GgmlDType::Q8_0,
            candle_core::quantized::GgmlDType::Q5_0,
        ] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("tiny.gguf");
            super::super::tiny::write_tiny_as("qwen2", &path, 7, dtype).unwrap();
            let (mut ours, mut theirs) = load_both(&path, false);
            let prompt = [5u32, 70, 71, 200, 13, 44, 90, 91, 92];
            let mut a = ours.forward(&prompt, 0, &Device::Cpu).unwrap();
            let mut b = reference_logits(&mut theirs, &prompt, 0);
            // Our cache keeps keys and values in f16, candle's in f32: the
            // random weights' large attention scores move the logits by up
            // to 2 % of their largest (a wrong rotary table, mask or cache
            // position moves them by far more).
            let tolerance = 0.03 * b.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(
                max_diff(&a, &b) < tolerance,
                "{dtype:?} prompt: {}",
                max_diff(&a, &b)
            );
            // Greedy steps through the cache, both fed the reference's
            // token: ours is the same wherever the reference's best leads
            // its second by more than the logits may differ.
            for pos in prompt.len()..prompt.len() + 12 {
                let (ta, tb) = (argmax(&a), argmax(&b));
                let mut sorted = b.clone();
                sorted.sort_by(|x, y| y.total_cmp(x));
                if sorted[0] - sorted[1] > 2.0 * tolerance {
                    assert_eq!(ta, tb, "{dtype:?} step at {pos}");
                }
                a = ours.forward(&[tb], pos, &Device::Cpu).unwrap();
                b = reference_logits(&mut theirs, &[tb], pos);
                assert!(
                    max_diff(&a, &b) < tolerance,
                    "{dtype:?} step {pos}: {}",
                    max_diff(&a, &b)
                );
            }
        }
    }

    #[test]
    fn compact_products_keep_the_logits() {
        // Hidden size 64 is a quarter of a 256-value unit, read as if padded
        // with zeros; the compact kernels quantize the activations in
        // 256-value blocks instead of candle's 32, which moves the logits a
        // little.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        super::super::tiny::write_tiny_as(
            "qwen2",
            &path,
            11,
            candle_core::quantized::GgmlDType::Q8_0,
        )
        .unwrap();
        let (mut compact, mut theirs) = load_both(&path, true);
        assert!(compact.layers[0].wq.is_compact());
        let prompt = [5u32, 70, 71, 200, 13, 44, 90, 91, 92];
        let a = compact.forward(&prompt, 0, &Device::Cpu).unwrap();
        let b = reference_logits(&mut theirs, &prompt, 0);
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(
            max_diff(&a, &b) < 0.05 * scale,
            "{} of {scale}",
            max_diff(&a, &b)
        );
    }

    #[test]
    fn a_prompt_makes_its_cache_once_for_itself_and_its_answer() {
        let (_dir, mut m) = tiny_compact(6);
        let caps = |m: &Qwen2| -> Vec<usize> {
            m.slots[0]
                .layers
                .iter()
                .flat_map(|kv| [kv.k.capacity().unwrap(), kv.v.capacity().unwrap()])
                .collect()
        };
        let prompt: Vec<u32> = (0..300).map(|i| 1 + i % 200).collect();
        let (mut logits, _) = m.prefill(&prompt, &Device::Cpu).unwrap();
        // 300 positions and DECODE_ROOM more, in whole 256-position steps.
        let made = (prompt.len() + DECODE_ROOM).next_multiple_of(256);
        assert!(caps(&m).iter().all(|&c| c == made), "{:?}", caps(&m));
        let first = |m: &Qwen2| m.slots[0].layers[0].k.buf.as_ref().unwrap().id();
        let buffer = first(&m);
        for pos in prompt.len()..made {
            logits = m.forward(&[argmax(&logits)], pos, &Device::Cpu).unwrap();
        }
        // The answer filled the buffer made for it, without a new one.
        assert_eq!(first(&m), buffer);
        assert!(caps(&m).iter().all(|&c| c == made));
        // Past it, the buffer grows by half, keeping what it held.
        let held: Vec<half::f16> = m.slots[0].layers[0]
            .k
            .buf
            .as_ref()
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        m.forward(&[argmax(&logits)], made, &Device::Cpu).unwrap();
        assert!(caps(&m)
            .iter()
            .all(|&c| c == (made + made / 2).next_multiple_of(256)));
        let k = m.slots[0].layers[0].k.buf.as_ref().unwrap();
        let kept: Vec<half::f16> = k
            .narrow(2, 0, made)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(kept, held);
    }

    #[test]
    fn rotary_tables_grow_to_the_positions_in_use() {
        let (_dir, mut m) = tiny_compact(5);
        let before: Vec<Vec<f32>> = m.cos.to_vec2().unwrap();
        let start = before.len();
        assert_eq!(start, m.context.min(ROTARY_START));
        if m.context > start {
            m.rotary_for(start + 1, &Device::Cpu).unwrap();
            let after: Vec<Vec<f32>> = m.cos.to_vec2().unwrap();
            assert!(after.len() > start && after.len() <= m.context);
            assert_eq!(&after[..start], &before[..]);
        }
        assert!(m.rotary_for(m.context + 1, &Device::Cpu).is_err());
    }

    #[test]
    fn a_batched_step_gives_each_sequence_its_own_logits_exactly() {
        // Every pass compared here runs on one kernel path.
        let _path = super::super::kernels::testing::path_lock();
        let (_dir, mut m) = tiny_compact(9);
        let prompts: [&[u32]; 3] = [&[1, 2, 3, 4], &[7, 8, 9, 10, 11, 12, 13], &[1, 2, 30]];
        // Slots 0..3 step together; slots 3..6 hold the same prompts, one at a time.
        let mut next = Vec::new();
        for (i, p) in prompts.iter().enumerate() {
            for slot in [i, i + 3] {
                m.select(slot);
                let (logits, _) = m.prefill(p, &Device::Cpu).unwrap();
                if slot == i {
                    next.push((argmax(&logits), p.len()));
                }
            }
        }
        for step in 0..6 {
            // The middle sequence sits out one step, as a finished one would.
            let live: Vec<usize> = (0..3).filter(|&i| !(step == 2 && i == 1)).collect();
            let steps: Vec<(usize, u32, usize)> =
                live.iter().map(|&i| (i, next[i].0, next[i].1)).collect();
            let together = m.forward_steps(&steps, &Device::Cpu).unwrap();
            assert_eq!(together.len(), live.len());
            for (&i, got) in live.iter().zip(&together) {
                m.select(i + 3);
                let alone = m.forward(&[next[i].0], next[i].1, &Device::Cpu).unwrap();
                assert_eq!(got, &alone, "sequence {i} at step {step}");
                next[i] = (argmax(got), next[i].1 + 1);
            }
        }
        let cached: Vec<Vec<u32>> = m.cached().map(<[u32]>::to_vec).collect();
        for i in 0..3 {
            assert_eq!(cached[i], cached[i + 3], "slot {i}");
        }
        // Two tokens for one slot, or a slot that does not exist, are errors.
        assert!(m
            .forward_steps(&[(0, 1, 9), (0, 2, 10)], &Device::Cpu)
            .is_err());
        assert!(m.forward_steps(&[(9, 1, 0)], &Device::Cpu).is_err());
        m.release_slots();
        assert_eq!(m.cached().count(), 1);
    }

    #[test]
    fn prefix_reuse_gives_the_logits_of_a_fresh_pass() {
        // Every pass compared here runs on one kernel path.
        let _path = super::super::kernels::testing::path_lock();
        let (_dir, mut m) = tiny_compact(3);
        let first = [1u32, 2, 3, 4, 5, 6, 7, 8];
        let (_, reused) = m.prefill(&first, &Device::Cpu).unwrap();
        assert_eq!(reused, 0);
        // A generated token extends the cache past the prompt.
        m.forward(&[9], first.len(), &Device::Cpu).unwrap();
        let second = [1u32, 2, 3, 4, 5, 60, 61];
        let (cached, reused) = m.prefill(&second, &Device::Cpu).unwrap();
        assert_eq!(reused, 5);
        let fresh = assert_as_a_fresh_prompt(&mut m, &second, &cached);
        // The same prompt again recomputes only its last token.
        let (again, reused) = m.prefill(&second, &Device::Cpu).unwrap();
        assert_eq!(reused, second.len() - 1);
        assert_eq!(again, fresh);
        // A prompt longer than one slice gives the logits of one pass.
        let long: Vec<u32> = (0..PREFILL_SLICE as u32 + 90)
            .map(|i| (i * 7) % 250)
            .collect();
        m.clear();
        let (sliced, _) = m.prefill(&long, &Device::Cpu).unwrap();
        m.clear();
        let whole = kernels::as_prompt(|| m.forward(&long, 0, &Device::Cpu)).unwrap();
        assert_eq!(sliced, whole, "{}", max_diff(&sliced, &whole));
        // Every split of a prompt gives the same values: reuse of 1, 7, 8,
        // 9 and 300 of its positions (passes of every size, down to the
        // last token alone).
        for n in [1, 7, 8, 9, 300] {
            m.clear();
            m.prefill(&long[..n + 1], &Device::Cpu).unwrap();
            let (split, reused) = m.prefill(&long, &Device::Cpu).unwrap();
            assert_eq!(reused, n + 1);
            assert_eq!(split, whole, "{n}: {}", max_diff(&split, &whole));
        }
        // A prompt with nothing in common starts from scratch.
        let (_, reused) = m.prefill(&[40, 41], &Device::Cpu).unwrap();
        assert_eq!(reused, 0);
    }

    #[test]
    fn kept_beginnings_persist_in_a_file_for_the_next_run() {
        let _path = super::super::kernels::testing::path_lock();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("beginnings.kv");
        let shared: Vec<u32> = (0..90).map(|i| (i * 7) % 240 + 1).collect();
        let with = |tail: &[u32]| [shared.as_slice(), tail].concat();
        let check: Vec<u32> = (0..70).map(|i| (i * 5 + 3) % 240 + 1).collect();
        // The first run sees the beginning once, the second again (from
        // the first run's recent prompts) and keeps it.
        for run in 0..2 {
            let (_d, mut m) = tiny_compact(3);
            m.keep_prefixes_in(file.clone());
            assert_eq!(
                m.prefill(&with(&[5, 6, 7]), &Device::Cpu).unwrap().1,
                0,
                "{run}"
            );
            m.prefill(&check, &Device::Cpu).unwrap();
        }
        assert!(file.exists());
        // The third run restores it: the same logits as a fresh pass.
        let third = with(&[8, 9]);
        let (_d, mut m) = tiny_compact(3);
        m.keep_prefixes_in(file.clone());
        let (cached, reused) = m.prefill(&third, &Device::Cpu).unwrap();
        assert_eq!(reused, shared.len());
        assert_as_a_fresh_prompt(&mut m, &third, &cached);
        // A damaged file, or one kept for another model, is ignored.
        let bytes = std::fs::read(&file).unwrap();
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x40;
        std::fs::write(&file, &flipped).unwrap();
        let (_d, m) = tiny_compact(3);
        assert!(m.read_prefixes(&file).is_err());
        std::fs::write(&file, &bytes[..bytes.len() - 4]).unwrap();
        let (_d, mut m) = tiny_compact(3);
        m.keep_prefixes_in(file.clone());
        assert!(m.prefixes.kept.is_empty());
        assert_eq!(m.prefill(&third, &Device::Cpu).unwrap().1, 0);
        let end = bytes.iter().position(|&b| b == b'\n').unwrap();
        let header = String::from_utf8(bytes[..end].to_vec()).unwrap();
        let other = [
            header.replace("\"layers\":2", "\"layers\":3").as_bytes(),
            &bytes[end..],
        ]
        .concat();
        assert_ne!(other, bytes);
        std::fs::write(&file, other).unwrap();
        let (_d, m) = tiny_compact(3);
        assert!(m.read_prefixes(&file).is_err());
    }

    #[test]
    fn a_beginning_two_prompts_shared_is_kept_for_later_prompts_and_slots() {
        let _path = super::super::kernels::testing::path_lock();
        let (_dir, mut m) = tiny_compact(3);
        let shared: Vec<u32> = (0..100).map(|i| (i * 11) % 240 + 1).collect();
        let with = |tail: &[u32]| [shared.as_slice(), tail].concat();
        let other =
            |seed: u32| -> Vec<u32> { (0..80).map(|i| (i * 13 + seed) % 240 + 1).collect() };
        let run = |m: &mut Qwen2, ids: &[u32]| m.prefill(ids, &Device::Cpu).unwrap();
        // The first article's prompt, then a check's: nothing kept yet.
        assert_eq!(run(&mut m, &with(&[3, 4, 5])).1, 0);
        assert_eq!(run(&mut m, &other(1)).1, 0);
        // The second article's prompt shares the beginning with the first,
        // which its slot no longer holds: computed, and its beginning kept.
        assert_eq!(run(&mut m, &with(&[6, 7])).1, 0);
        assert_eq!(run(&mut m, &other(2)).1, 0);
        // The third reuses it, and gets the logits of a fresh pass.
        let third = with(&[8, 9, 10, 11]);
        let (cached, reused) = run(&mut m, &third);
        assert_eq!(reused, shared.len());
        // So does a prompt in another slot.
        m.select(1);
        assert_eq!(run(&mut m, &with(&[12])).1, shared.len());
        m.select(0);
        assert_as_a_fresh_prompt(&mut m, &third, &cached);
        // `clear` forgets the kept beginnings too.
        m.clear();
        assert_eq!(run(&mut m, &with(&[13])).1, 0);
    }
}
