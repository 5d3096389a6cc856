//! Matrix products on the weights as the GGUF file stores them.
//!
//! candle 0.11.1's fast CPU paths for quantized matrices keep a repacked copy
//! of every matrix beside the file's blocks (its AMX and AVX-512 VNNI tiles:
//! 10 bits a Q4_K weight against the file's 4.5), take only inner sizes of
//! whole 256-value superblocks (Qwen2.5-0.5B's hidden size is 896 = 3.5 ×
//! 256), and have no SIMD product at all for Q5_0, most of the 0.5B model's
//! matrices: its portable loop took 69 % of a prompt pass. With those paths
//! a model took 2.7 to 2.9 times its file in memory.
//!
//! Here the Q4_K, Q6_K, Q5_0 and Q8_0 matrices of a model run on the file's
//! blocks and nothing else: prompts with [`amx`] (AMX tiles, 16 rows
//! unpacked at a time) or, without AMX, [`gemm`]; one token with [`gemv`]
//! (AVX-512 VNNI, or portable loops). Rows of the 32-value types that end in
//! part of a 256-value unit are read as if padded with zeros, and so are
//! their inputs; no weight is copied. Other types (and matrices the kernels
//! do not take) go through candle's `QMatMul`.
//!
//! Upstream, this is candle's `QMatMul` keeping matrices on their compact
//! blocks (`repack_x86::select` already does so for one-row Q6_K products),
//! a SIMD `vec_dot` for `BlockQ5_0`, and tiled kernels that accept a partial
//! last superblock.

use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Module, Tensor, D};

use crate::error::{Error, Result};

mod amx;
pub(crate) mod attention;
#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx2_rows;
mod blocks;
mod gemm;
mod gemv;
pub mod path;
#[cfg(test)]
pub(super) mod testing;

/// A weight matrix, multiplied on its compact blocks where the kernels take
/// its type (see the module notes), by candle otherwise.
#[derive(Clone)]
pub(crate) enum Matrix {
    /// Products on the compact blocks.
    Compact {
        kind: blocks::Kind,
        rows: usize,
        blocks: Blocks,
    },
    /// candle's products.
    Candle(QMatMul),
}

/// Where a compact matrix's blocks are.
#[derive(Clone)]
pub(crate) enum Blocks {
    /// A range of the memory-mapped model file: nothing is copied, and the
    /// pages are the operating system's file cache, shared by every process
    /// that maps the file.
    Mapped {
        file: Arc<memmap2::Mmap>,
        range: std::ops::Range<usize>,
    },
    /// A tensor read into memory (a table shared with another use, tests).
    Tensor(Arc<QTensor>),
}

impl Blocks {
    fn bytes(&self) -> Result<std::borrow::Cow<'_, [u8]>> {
        match self {
            Blocks::Mapped { file, range } => Ok(std::borrow::Cow::Borrowed(&file[range.clone()])),
            Blocks::Tensor(t) => Ok(t.data()?),
        }
    }
}

impl Matrix {
    /// A matrix that shares its tensor with another use (a tied embedding
    /// table).
    pub(crate) fn shared(t: Arc<QTensor>) -> Result<Self> {
        Ok(match compact_kind(t.dtype(), t.shape().dims()) {
            Some((kind, rows)) => Matrix::Compact {
                kind,
                rows,
                blocks: Blocks::Tensor(t),
            },
            None => Matrix::Candle(QMatMul::from_arc(t)?),
        })
    }

    /// `t` (`[rows, inner]`), multiplied on its compact blocks if `compact`
    /// and the kernels take it, by candle otherwise.
    pub(crate) fn new(t: QTensor, compact: bool) -> Result<Self> {
        if compact {
            return Self::shared(Arc::new(t));
        }
        Ok(Matrix::Candle(QMatMul::from_qtensor(t)?))
    }

    /// The matrix of `dtype` and `dims` (`[rows, inner]`) whose blocks start
    /// at byte `start` of the mapped `file`, if the kernels take its type
    /// (`None` if not: read it into a tensor for candle). An error if the
    /// file ends before the matrix does.
    pub(crate) fn mapped(
        file: &Arc<memmap2::Mmap>,
        start: usize,
        dtype: GgmlDType,
        dims: &[usize],
    ) -> Result<Option<Self>> {
        let Some((kind, rows)) = compact_kind(dtype, dims) else {
            return Ok(None);
        };
        let bytes = kind
            .row_bytes(dims[1])
            .and_then(|b| b.checked_mul(rows))
            .ok_or_else(|| Error::Generation(format!("a {kind:?} matrix of {dims:?}")))?;
        let end = start.checked_add(bytes).filter(|&end| end <= file.len());
        let Some(end) = end else {
            return Err(Error::Generation(format!(
                "the model file ends before its {dims:?} {kind:?} matrix at byte {start}; \
                 the file is truncated: download it again"
            )));
        };
        Ok(Some(Matrix::Compact {
            kind,
            rows,
            blocks: Blocks::Mapped {
                file: file.clone(),
                range: start..end,
            },
        }))
    }

    /// Whether products run on the compact blocks.
    pub(crate) fn is_compact(&self) -> bool {
        matches!(self, Matrix::Compact { .. })
    }

    /// `x · Wᵀ` for each of `ms`, which share the input `x`. Where all of
    /// them run on compact blocks, `x` is quantized once for all.
    pub(crate) fn forward_shared(ms: &[&Matrix], x: &Tensor) -> Result<Vec<Tensor>> {
        if ms.iter().all(|m| m.is_compact()) {
            return compact_products(ms, x);
        }
        ms.iter().map(|m| m.forward(x)).collect()
    }

    /// `x · Wᵀ` for `x` of shape `[.., inner]`.
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Matrix::Compact { .. } => {
                let mut out = compact_products(&[self], x)?;
                Ok(out.remove(0))
            }
            Matrix::Candle(mm) => Ok(mm.forward(x)?),
        }
    }

    /// Rows `ids` of the matrix (an embedding table) as f32
    /// `[ids, inner]`: only those rows are dequantized.
    pub(crate) fn embedding(&self, ids: &[u32], device: &candle_core::Device) -> Result<Tensor> {
        let (kind, rows, blocks) = match self {
            Matrix::Compact { kind, rows, blocks } => (*kind, *rows, blocks),
            Matrix::Candle(QMatMul::QTensor(t)) => {
                return Ok(t.embedding(&Tensor::new(ids, device)?)?);
            }
            Matrix::Candle(QMatMul::Tensor(t) | QMatMul::TensorF16(t)) => {
                return Ok(t
                    .embedding(&Tensor::new(ids, device)?)?
                    .to_dtype(candle_core::DType::F32)?);
            }
        };
        let bytes = blocks.bytes()?;
        let row_bytes = bytes.len() / rows;
        let inner = row_bytes / kind.block_bytes() * kind.block_values();
        let mut out = vec![0f32; ids.len() * inner];
        for (&id, values) in ids.iter().zip(out.chunks_exact_mut(inner)) {
            let r = id as usize;
            if r >= rows {
                return Err(Error::Generation(format!(
                    "token {id} is past the {rows} rows of the embedding table"
                )));
            }
            blocks::dequantize_row(kind, &bytes[r * row_bytes..(r + 1) * row_bytes], values);
        }
        Ok(Tensor::from_vec(out, (ids.len(), inner), device)?)
    }

    /// Rows of a compact matrix (0 for candle's).
    fn rows(&self) -> usize {
        match self {
            Matrix::Compact { rows, .. } => *rows,
            Matrix::Candle(_) => 0,
        }
    }
}

/// The block type and row count of a `dtype` matrix of `dims` if its
/// products run on its compact blocks: Q4_K or Q6_K `[rows, inner]` with
/// whole superblocks, Q5_0 or Q8_0 with an even number of blocks per row.
fn compact_kind(dtype: GgmlDType, dims: &[usize]) -> Option<(blocks::Kind, usize)> {
    let (kind, unit) = match dtype {
        GgmlDType::Q4K => (blocks::Kind::Q4K, blocks::QK_K),
        GgmlDType::Q6K => (blocks::Kind::Q6K, blocks::QK_K),
        GgmlDType::Q5_0 => (blocks::Kind::Q5_0, 64),
        GgmlDType::Q8_0 => (blocks::Kind::Q8_0, 64),
        _ => return None,
    };
    let &[rows, inner] = dims else {
        return None;
    };
    (rows > 0 && inner > 0 && inner.is_multiple_of(unit)).then_some((kind, rows))
}

/// An input quantized for the compact kernels.
enum Quantized {
    /// Up to [`ROW_TOKENS`] tokens, for [`gemv::gemv`].
    Rows(Vec<gemv::Q8K>),
    /// Several, for [`amx::gemm`].
    Tiles(amx::Tokens),
    /// Several, for [`gemm::gemm`].
    Many(gemm::Tokens),
}

/// The products of the compact matrices `ms` with `x` (`[.., inner]`), the
/// input quantized once: each shaped like `x` with the matrix's rows as its
/// last size (see [`compact_values`]).
fn compact_products(ms: &[&Matrix], x: &Tensor) -> Result<Vec<Tensor>> {
    let (input, inner) = values_of(x)?;
    compact_values(ms, &input, inner)?
        .into_iter()
        .map(|(out, rows)| shaped_like(out, rows, x))
        .collect()
}

/// The values of `x` (`[.., inner]`) as f32 rows, and `inner`.
fn values_of(x: &Tensor) -> Result<(Vec<f32>, usize)> {
    let values = x
        .flatten_all()?
        .to_dtype(candle_core::DType::F32)?
        .to_vec1()?;
    Ok((values, x.dim(D::Minus1)?))
}

/// `values` (the rows of a product) as a tensor shaped like `x` with `rows`
/// as its last size.
fn shaped_like(values: Vec<f32>, rows: usize, x: &Tensor) -> Result<Tensor> {
    let mut dims = x.dims().to_vec();
    if let Some(last) = dims.last_mut() {
        *last = rows;
    }
    Ok(Tensor::from_vec(values, dims.as_slice(), x.device())?.to_dtype(x.dtype())?)
}

/// The products of the compact matrices `ms` with `input` (rows of `inner`
/// values), the input quantized once (padded with zeros to whole 256-value
/// units), with each matrix's row count. Up to [`ROW_TOKENS`] tokens (a
/// decode step of one sequence or of several) go through [`gemv::gemv`];
/// more through [`amx::gemm`] where the CPU has AMX (and the row counts are
/// multiples of 16), [`gemm::gemm`] otherwise.
fn compact_values(ms: &[&Matrix], input: &[f32], inner: usize) -> Result<Vec<(Vec<f32>, usize)>> {
    let (input, width) = blocks::padded_rows(input, inner);
    let input = if !PROMPT_PASS.get() && input.len() <= ROW_TOKENS * width {
        Quantized::Rows(
            input
                .chunks_exact(width)
                .map(gemv::Q8K::quantize)
                .collect::<Result<_>>()?,
        )
    } else if path::has_amx() && ms.iter().all(|m| m.rows().is_multiple_of(16)) {
        Quantized::Tiles(amx::Tokens::quantize(&input, width)?)
    } else {
        Quantized::Many(gemm::Tokens::quantize(&input, width)?)
    };
    ms.iter()
        .map(|m| {
            let Matrix::Compact { kind, rows, blocks } = m else {
                return Err(Error::Generation(
                    "a compact product needs a quantized matrix".into(),
                ));
            };
            let (kind, rows, w) = (*kind, *rows, blocks.bytes()?);
            let out = match &input {
                Quantized::Rows(xs) => gemv::gemv(kind, &w, rows, xs)?,
                Quantized::Tiles(xs) => amx::gemm(kind, &w, rows, xs)?,
                Quantized::Many(xs) => gemm::gemm(kind, &w, rows, xs)?,
            };
            Ok((out, rows))
        })
        .collect()
}

thread_local! {
    /// Set while [`as_prompt`] runs on this thread.
    static PROMPT_PASS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with every compact product it makes on this thread taking the
/// prompt kernels, however few its tokens: each token's values are then
/// the same in a prompt pass of any length, so a prompt gives the same
/// values however it is split into passes and whatever part of it is
/// reused. (The one-token kernels sum in another order.)
pub(crate) fn as_prompt<T>(f: impl FnOnce() -> T) -> T {
    let before = PROMPT_PASS.replace(true);
    let out = f();
    PROMPT_PASS.set(before);
    out
}

/// Most tokens multiplied row by row with the one-token kernels (each
/// token's values exactly as on its own; the matrix is read once for all):
/// the decode steps of up to this many sequences at once.
pub(crate) const ROW_TOKENS: usize = 8;

/// Values of the gated intermediate computed together by one thread.
const SILU_PART: usize = 16 * 1024;

/// The feed-forward block `down · (silu(gate · x) ⊙ (up · x))` for `x` of
/// shape `[.., inner]`. Where all three matrices run on compact blocks, the
/// gate and up products share one quantized input, the gated values are
/// formed in place in the gate's output (the float operations of candle's
/// `silu` and product), and they go to the down product without a tensor
/// of their own: a 512-token prompt slice of the 0.5B model holds two
/// 10 MB buffers of the intermediate size instead of four.
pub(crate) fn gated_mlp(gate: &Matrix, up: &Matrix, down: &Matrix, x: &Tensor) -> Result<Tensor> {
    if [gate, up, down].iter().any(|m| !m.is_compact()) {
        let [g, u]: [Tensor; 2] = Matrix::forward_shared(&[gate, up], x)?
            .try_into()
            .map_err(|_| Error::Generation("gate and up projections".into()))?;
        return down.forward(&(candle_nn::ops::silu(&g)? * u)?);
    }
    let (input, inner) = values_of(x)?;
    let mut both = compact_values(&[gate, up], &input, inner)?.into_iter();
    let (Some((mut gated, width)), Some((u, up_rows))) = (both.next(), both.next()) else {
        return Err(Error::Generation("gate and up projections".into()));
    };
    if up_rows != width {
        return Err(Error::Generation(format!(
            "gate projection of {width} rows against up projection of {up_rows}"
        )));
    }
    // In parts across the worker pool: a prompt slice has millions of
    // values, and one thread alone left the other waiting.
    let parts: Vec<std::sync::Mutex<(&mut [f32], &[f32])>> = gated
        .chunks_mut(SILU_PART)
        .zip(u.chunks(SILU_PART))
        .map(std::sync::Mutex::new)
        .collect();
    candle_core::utils::barrier_pool().execute_chunked(parts.len(), |range| {
        for part in &parts[range] {
            if let Ok(mut part) = part.lock() {
                let (g, u) = &mut *part;
                for (g, u) in g.iter_mut().zip(u.iter()) {
                    *g = *g / (1.0 + (-*g).exp()) * u;
                }
            }
        }
    });
    drop(parts);
    drop(u);
    let mut out = compact_values(&[down], &gated, width)?;
    let (values, rows) = out
        .pop()
        .ok_or_else(|| Error::Generation("down projection".into()))?;
    shaped_like(values, rows, x)
}

/// A product shape timed by [`product_speeds`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProductSpeed {
    /// Block type of the matrix, as GGUF names it.
    pub kind: &'static str,
    /// Rows of the matrix.
    pub rows: usize,
    /// Values per row.
    pub inner: usize,
    /// Tokens multiplied at once.
    pub tokens: usize,
    /// Seconds per product: the best of the runs.
    pub secs: f64,
    /// Multiply-adds per second, in billions.
    pub gmacs: f64,
    /// Time against the same matrix times one token: how close several
    /// tokens come to one read of the weights (1.0) rather than one read
    /// each (`tokens`).
    pub time_over_one_token: f64,
}

/// The compact products on random matrices of the bundled models' block
/// types, each timed `runs` times (the best kept) on the current kernel
/// path and threads, quantizing of the input included: one token, the
/// several tokens of a decode step of 2, 4 and 8 sequences, and a prompt of
/// `tokens` tokens.
pub fn product_speeds(tokens: usize, runs: usize) -> Result<Vec<ProductSpeed>> {
    use rand::{rngs::StdRng, Rng, SeedableRng};
    let shapes = [
        (GgmlDType::Q4K, "q4_k", 4096, 1536),
        (GgmlDType::Q6K, "q6_k", 1536, 4096),
        (GgmlDType::Q5_0, "q5_0", 2048, 1024),
        (GgmlDType::Q8_0, "q8_0", 2048, 1024),
    ];
    let mut rng = StdRng::seed_from_u64(7);
    let mut random =
        |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect() };
    let device = candle_core::Device::Cpu;
    let mut out = Vec::new();
    for (dtype, name, rows, inner) in shapes {
        let w = Tensor::from_vec(random(rows * inner), (rows, inner), &device)?;
        let m = Matrix::new(QTensor::quantize(&w, dtype)?, true)?;
        let mut one = f64::NAN;
        for n in [1, 2, 4, ROW_TOKENS, tokens.max(ROW_TOKENS + 1)] {
            let x = Tensor::from_vec(random(n * inner), (n, inner), &device)?;
            let mut best = f64::INFINITY;
            for _ in 0..runs.max(1) {
                let t0 = std::time::Instant::now();
                m.forward(&x)?;
                best = best.min(t0.elapsed().as_secs_f64());
            }
            if n == 1 {
                one = best;
            }
            out.push(ProductSpeed {
                kind: name,
                rows,
                inner,
                tokens: n,
                secs: best,
                gmacs: (rows * inner * n) as f64 / best / 1e9,
                time_over_one_token: best / one,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::testing::{assert_near_plain, floats, path_lock, quantized, random};
    use super::*;
    use candle_core::Device;

    #[test]
    fn product_speeds_cover_every_type_and_token_count() {
        let speeds = product_speeds(16, 1).unwrap();
        let tokens: Vec<usize> = speeds.iter().map(|p| p.tokens).collect();
        assert_eq!(tokens, [1, 2, 4, ROW_TOKENS, 16].repeat(4));
        for p in &speeds {
            assert!(p.secs > 0.0 && p.gmacs > 0.0, "{p:?}");
            if p.tokens == 1 {
                assert_eq!(p.time_over_one_token, 1.0);
            }
        }
        let kinds: Vec<&str> = speeds.iter().step_by(5).map(|p| p.kind).collect();
        assert_eq!(kinds, ["q4_k", "q6_k", "q5_0", "q8_0"]);
    }

    #[test]
    fn compact_products_match_plain_products() {
        // Qwen2.5-0.5B's shapes: 896 = 3.5 units of 256 values.
        for (dtype, inner) in [
            (GgmlDType::Q4K, 512),
            (GgmlDType::Q6K, 512),
            (GgmlDType::Q5_0, 896),
            (GgmlDType::Q8_0, 896),
        ] {
            let rows = 32;
            let m = Matrix::new(quantized(dtype, rows, inner, 1), true).unwrap();
            assert!(m.is_compact(), "{dtype:?}");
            let q = quantized(dtype, rows, inner, 1);
            // A decode step and a prompt (batch of 1, 9 tokens).
            for tokens in [1, 9] {
                let xs = random(tokens * inner, tokens as u64);
                let x = Tensor::from_vec(xs.clone(), (1, tokens, inner), &Device::Cpu).unwrap();
                let got = m.forward(&x).unwrap();
                assert_eq!(got.dims(), &[1, tokens, rows]);
                let got = floats(&got);
                assert_near_plain(&got, &q, &xs, rows, &format!("{dtype:?} {tokens}"));
            }
        }
    }

    #[test]
    fn mapped_blocks_multiply_like_the_tensor_and_a_short_file_is_an_error() {
        let _path = path_lock();
        let (rows, inner) = (32, 512);
        let q = quantized(GgmlDType::Q4K, rows, inner, 5);
        let bytes = q.data().unwrap().to_vec();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.gguf");
        let mut content = vec![7u8; 64];
        content.extend_from_slice(&bytes);
        std::fs::write(&path, &content).unwrap();
        let file = crate::generate::candle::model::map(&path).unwrap();
        let m = Matrix::mapped(&file, 64, GgmlDType::Q4K, &[rows, inner])
            .unwrap()
            .unwrap();
        let t = Matrix::new(q, true).unwrap();
        let x = Tensor::from_vec(random(3 * inner, 6), (3, inner), &Device::Cpu).unwrap();
        let (a, b) = (m.forward(&x).unwrap(), t.forward(&x).unwrap());
        let a = floats(&a);
        let b = floats(&b);
        assert_eq!(a, b);
        // One row more than the file holds; a type the kernels do not take.
        let err = Matrix::mapped(&file, 64, GgmlDType::Q4K, &[rows + 1, inner]);
        assert!(err.err().unwrap().to_string().contains("truncated"));
        assert!(Matrix::mapped(&file, 64, GgmlDType::Q4_0, &[rows, inner])
            .unwrap()
            .is_none());
    }

    #[test]
    fn switching_the_kernel_path_during_products_is_safe() {
        let _path = path_lock();
        // Tests force paths process-wide while other threads multiply: a
        // product must never find the path changed under it and panic (a
        // panic on candle's worker pool leaves the caller waiting, hence
        // the time limit).
        use std::sync::atomic::{AtomicBool, Ordering};
        let paths = path::available_paths();
        let best = *paths.last().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let switcher = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    path::force(paths[i % paths.len()]).unwrap();
                    i += 1;
                    std::thread::yield_now();
                }
            })
        };
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (rows, inner) = (64, 512);
            let m = Matrix::new(quantized(GgmlDType::Q4K, rows, inner, 30), true).unwrap();
            let q = quantized(GgmlDType::Q4K, rows, inner, 30);
            for tokens in [1, 17, 1, 33] {
                for _ in 0..20 {
                    let xs = random(tokens * inner, 31);
                    let x = Tensor::from_vec(xs.clone(), (tokens, inner), &Device::Cpu).unwrap();
                    let got = floats(&m.forward(&x).unwrap());
                    assert_near_plain(&got, &q, &xs, rows, "while switching");
                }
            }
            done.send(()).unwrap();
        });
        let outcome = finished.recv_timeout(std::time::Duration::from_secs(120));
        stop.store(true, Ordering::Relaxed);
        switcher.join().unwrap();
        path::force(best).unwrap();
        outcome.expect("the products panicked or hung while the path switched");
    }

    #[test]
    fn other_types_and_shapes_go_through_candle() {
        for (dtype, rows, inner) in [
            (GgmlDType::Q4_0, 16, 256),
            (GgmlDType::Q8_0, 16, 96),
            (GgmlDType::F32, 8, 64),
        ] {
            let m = Matrix::new(quantized(dtype, rows, inner, 2), true).unwrap();
            assert!(!m.is_compact(), "{dtype:?} {inner}");
            let x = Tensor::from_vec(random(3 * inner, 3), (3, inner), &Device::Cpu).unwrap();
            assert_eq!(m.forward(&x).unwrap().dims(), &[3, rows]);
        }
        let m = Matrix::new(quantized(GgmlDType::Q8_0, 16, 256, 4), false).unwrap();
        assert!(!m.is_compact());
    }

    #[test]
    fn gated_mlp_matches_candles_ops() {
        let _path = path_lock();
        // 0.5B's hidden size (896) and a smaller intermediate; down as Q4_K.
        let (hidden, between) = (896, 1280);
        let gate = Matrix::new(quantized(GgmlDType::Q5_0, between, hidden, 20), true).unwrap();
        let up = Matrix::new(quantized(GgmlDType::Q5_0, between, hidden, 21), true).unwrap();
        let down = Matrix::new(quantized(GgmlDType::Q4K, hidden, between, 22), true).unwrap();
        for tokens in [1, 5] {
            let x = Tensor::from_vec(
                random(tokens * hidden, 23),
                (1, tokens, hidden),
                &Device::Cpu,
            )
            .unwrap();
            let got = gated_mlp(&gate, &up, &down, &x).unwrap();
            let g = gate.forward(&x).unwrap();
            let u = up.forward(&x).unwrap();
            let want = down
                .forward(&(candle_nn::ops::silu(&g).unwrap() * u).unwrap())
                .unwrap();
            assert_eq!(got.dims(), &[1, tokens, hidden]);
            let got = floats(&got);
            let want = floats(&want);
            assert_eq!(got, want, "{tokens} tokens");
        }
    }

    #[test]
    fn shared_input_products_equal_the_single_ones() {
        let _path = path_lock();
        let inner = 896;
        let mats: Vec<Matrix> = [(32, 10), (16, 11), (48, 12)]
            .iter()
            .map(|&(rows, seed)| {
                Matrix::new(quantized(GgmlDType::Q5_0, rows, inner, seed), true).unwrap()
            })
            .collect();
        let refs: Vec<&Matrix> = mats.iter().collect();
        for tokens in [1, 3] {
            let x = Tensor::from_vec(random(tokens * inner, 13), (1, tokens, inner), &Device::Cpu)
                .unwrap();
            let shared = Matrix::forward_shared(&refs, &x).unwrap();
            assert_eq!(shared.len(), 3);
            for (m, got) in mats.iter().zip(&shared) {
                let want = m.forward(&x).unwrap();
                let diff: f32 = (got - &want)
                    .unwrap()
                    .abs()
                    .unwrap()
                    .max_all()
                    .unwrap()
                    .to_scalar()
                    .unwrap();
                assert_eq!(diff, 0.0, "{tokens} tokens");
            }
        }
    }
}
