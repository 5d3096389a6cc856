//! Weight layouts that candle's CPU kernels run faster, prepared at load time.
//!
//! candle 0.11.1 has no SIMD dot product for Q5_0 weights: every Q5_0 row goes
//! through the portable scalar loop, which took 69 % of the time of a prompt
//! pass with Qwen2.5-Coder-0.5B (most of whose matrices are Q5_0). A Q5_0
//! block is a 16-bit scale `d` and 32 five-bit integers `q` in -16..=15 with
//! values `d * q`; a Q8_0 block is the same scale and 32 eight-bit integers.
//! So every Q5_0 block is written exactly as a Q8_0 block (same scale, same
//! integers), and the matrix then takes candle's AVX2 / AVX-512 VNNI Q8_0
//! paths, chosen by candle at run time from the CPU's features, with its
//! portable loop as the fallback. The values are bit-identical; only the sum
//! order of the dot products changes. The cost is 34 bytes a block instead of
//! 22.
//!
//! Upstream, the same effect would come from a SIMD `vec_dot` for
//! `BlockQ5_0` in `candle-core/src/quantized/avx.rs` (the Q8_0 one with the
//! fifth bit merged in), which would keep the smaller blocks.
//!
//! candle's tiled x86 kernels (weights repacked for 16 rows at a time,
//! AVX-512 VNNI or AVX-VNNI integer dot products, several tokens per pass over
//! the weights) only take matrices whose inner size is a whole number of
//! 256-value superblocks. Qwen2.5-0.5B's hidden size is 896 = 3.5 × 256, so
//! most of its matrices fell back to one dot product per row and token. A
//! [`Matrix`] whose inner size is not a multiple of 256 is padded with zero
//! blocks up to the next multiple (896 → 1024) and its inputs with zero
//! columns: the products are unchanged (the extra terms are zero) and the
//! tiled kernels run. This costs 14 % more weight bytes for those matrices,
//! so it is only done where the tiled Q8_0 kernels exist. Upstream, the
//! tiled kernels would accept a partial last superblock instead.
//!
//! Q4_K and Q6_K matrices never reach candle's matrix products for several
//! tokens, whose fast paths keep repacked copies of every matrix (candle's
//! AMX Q4_K tiles: 10 bits a weight, beside the file's 4.5): prompts run on
//! the file's blocks with [`amx`] (AMX tiles, unpacked 16 rows at a time) or,
//! without AMX, [`gemm`]; one token runs with [`gemv`].

use candle_core::quantized::{ggml_file, GgmlDType, QMatMul, QTensor};
use candle_core::{Module, Tensor, D};

use crate::error::{Error, Result};

mod amx;
pub(crate) mod attention;
mod gemm;
mod gemv;
#[cfg(test)]
mod testing;

/// Bytes of one Q5_0 block: f16 scale, 32 high bits, 16 bytes of nibbles.
const Q5_0_BYTES: usize = 22;
/// Bytes of one Q8_0 block: f16 scale, 32 signed bytes.
const Q8_0_BYTES: usize = 34;
/// Values in a block of either type.
const BLOCK: usize = 32;

/// Rewrites one Q5_0 block as the Q8_0 block with the same values.
fn widen_block(q5: &[u8], q8: &mut [u8]) {
    q8[..2].copy_from_slice(&q5[..2]);
    let qh = u32::from_le_bytes([q5[2], q5[3], q5[4], q5[5]]);
    let qs = &q5[6..Q5_0_BYTES];
    for (j, &byte) in qs.iter().enumerate() {
        let high_lo = (((qh >> j) & 1) << 4) as u8;
        let high_hi = (((qh >> (j + 16)) & 1) << 4) as u8;
        let lo = ((byte & 0x0F) | high_lo) as i8 - 16;
        let hi = ((byte >> 4) | high_hi) as i8 - 16;
        q8[2 + j] = lo as u8;
        q8[2 + j + BLOCK / 2] = hi as u8;
    }
}

/// Values in one superblock, the unit of candle's tiled kernels.
const SUPERBLOCK: usize = 256;
/// Rows in one tile of candle's tiled kernels.
const TILE_ROWS: usize = 16;

/// Whether candle 0.11.1 runs its tiled Q8_0 kernels on this CPU (it needs
/// integer dot products: AVX-512 VNNI, or AVX-VNNI with AVX2).
pub(crate) fn tiled_q8_0_kernels() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        (is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vnni"))
            || (is_x86_feature_detected!("avxvnni") && is_x86_feature_detected!("avx2"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A weight matrix prepared for candle's fastest CPU kernels, and the number
/// of zero columns its inputs get (see the module notes).
pub(crate) struct Matrix {
    mm: QMatMul,
    pad: usize,
    /// Products run on the file's compact blocks (see [`compact_products`]).
    compact: Option<gemm::Kind>,
}

impl Matrix {
    /// A matrix that shares its tensor with another use (a tied embedding
    /// table), taken as it is.
    pub(crate) fn shared(t: std::sync::Arc<QTensor>) -> Result<Self> {
        Ok(Self {
            compact: compact_kind(&t),
            mm: QMatMul::from_arc(t)?,
            pad: 0,
        })
    }

    /// Prepares `t` (`[rows, inner]`), padding its inner size to whole
    /// superblocks if `pad` (pass [`tiled_q8_0_kernels`]).
    pub(crate) fn new(t: QTensor, pad: bool) -> Result<Self> {
        let t = widen(t)?;
        let (rows, inner) = t.shape().dims2()?;
        let padded = inner.next_multiple_of(SUPERBLOCK);
        if !pad
            || t.dtype() != GgmlDType::Q8_0
            || padded == inner
            || rows % TILE_ROWS != 0
            || inner % BLOCK != 0
        {
            return Ok(Self {
                compact: compact_kind(&t),
                mm: QMatMul::from_qtensor(t)?,
                pad: 0,
            });
        }
        let src = t.data()?;
        let (row_bytes, padded_row_bytes) =
            (inner / BLOCK * Q8_0_BYTES, padded / BLOCK * Q8_0_BYTES);
        // A zero Q8_0 block is all zero bytes (scale +0.0, integers 0).
        let mut out = vec![0u8; rows * padded_row_bytes];
        for (row, dst) in src
            .chunks_exact(row_bytes)
            .zip(out.chunks_exact_mut(padded_row_bytes))
        {
            dst[..row_bytes].copy_from_slice(row);
        }
        let device = t.device();
        drop(src);
        drop(t);
        let t = ggml_file::qtensor_from_ggml(GgmlDType::Q8_0, &out, vec![rows, padded], &device)?;
        Ok(Self {
            mm: QMatMul::from_qtensor(t)?,
            pad: padded - inner,
            compact: None,
        })
    }

    /// `x · Wᵀ` for each of `ms`, which share the input `x`. Where all of
    /// them run on compact blocks, `x` is quantized once for all. Otherwise,
    /// for one token (`[1, 1, inner]`, a decode step) where candle's fused
    /// kernel applies (same type and inner size, tiled), the input is
    /// quantized once and all products run in one parallel region; else one
    /// by one.
    pub(crate) fn forward_shared(ms: &[&Matrix], x: &Tensor) -> Result<Vec<Tensor>> {
        if ms.iter().all(|m| m.compact.is_some()) {
            return compact_products(ms, x);
        }
        let one_token = x.elem_count() == x.dim(D::Minus1)?;
        let pad = ms.first().map_or(0, |m| m.pad);
        let tensors: Option<Vec<&QTensor>> = ms
            .iter()
            .map(|m| match &m.mm {
                QMatMul::QTensor(t) if m.pad == pad => Some(t.as_ref()),
                _ => None,
            })
            .collect();
        if let (true, Some(tensors)) = (one_token, tensors) {
            let input = if pad > 0 {
                x.pad_with_zeros(D::Minus1, 0, pad)?
            } else {
                x.contiguous()?
            };
            if let Some(out) = QTensor::gemv_fused_shared_lhs(&tensors, &input)? {
                return Ok(out);
            }
        }
        ms.iter().map(|m| m.forward(x)).collect()
    }

    /// Zero columns added to the inputs.
    #[cfg(test)]
    pub(crate) fn padding(&self) -> usize {
        self.pad
    }

    /// `x · Wᵀ` for `x` of shape `[.., inner]`.
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if self.compact.is_some() {
            let mut out = compact_products(&[self], x)?;
            return Ok(out.remove(0));
        }
        if self.pad == 0 {
            return Ok(self.mm.forward(x)?);
        }
        Ok(self
            .mm
            .forward(&x.pad_with_zeros(D::Minus1, 0, self.pad)?)?)
    }
}

/// The block type of `t` if its products run on its compact blocks: Q4_K or
/// Q6_K, `[rows, inner]` with whole superblocks.
fn compact_kind(t: &QTensor) -> Option<gemm::Kind> {
    let kind = match t.dtype() {
        GgmlDType::Q4K => gemm::Kind::Q4K,
        GgmlDType::Q6K => gemm::Kind::Q6K,
        _ => return None,
    };
    let (_, inner) = t.shape().dims2().ok()?;
    inner.is_multiple_of(gemv::QK_K).then_some(kind)
}

/// An input quantized for the compact kernels.
enum Quantized {
    /// One token, for [`gemv::gemv`].
    One(gemv::Q8K),
    /// Several, for [`amx::gemm`].
    Tiles(amx::Tokens),
    /// Several, for [`gemm::gemm`].
    Many(gemm::Tokens),
}

/// The products of the compact matrices `ms` with `x` (`[.., inner]`), the
/// input quantized once: each shaped like `x` with the matrix's rows as its
/// last size. One token goes through [`gemv::gemv`]; several through
/// [`amx::gemm`] where the CPU has AMX (and the row counts are multiples of
/// 16), [`gemm::gemm`] otherwise.
fn compact_products(ms: &[&Matrix], x: &Tensor) -> Result<Vec<Tensor>> {
    let inner = x.dim(D::Minus1)?;
    let input: Vec<f32> = x
        .flatten_all()?
        .to_dtype(candle_core::DType::F32)?
        .to_vec1()?;
    let rows = |m: &&Matrix| match &m.mm {
        QMatMul::QTensor(t) => t.shape().dims2().map_or(0, |(rows, _)| rows),
        _ => 0,
    };
    let input = if input.len() == inner {
        Quantized::One(gemv::Q8K::quantize(&input)?)
    } else if amx::available() && ms.iter().all(|m| rows(m).is_multiple_of(16)) {
        Quantized::Tiles(amx::Tokens::quantize(&input, inner)?)
    } else {
        Quantized::Many(gemm::Tokens::quantize(&input, inner)?)
    };
    ms.iter()
        .map(|m| {
            let (QMatMul::QTensor(t), Some(kind)) = (&m.mm, m.compact) else {
                return Err(Error::Generation(
                    "a compact product needs a quantized matrix".into(),
                ));
            };
            let (rows, _) = t.shape().dims2()?;
            let out = match (&input, kind) {
                (Quantized::One(xq), kind) => gemv::gemv(kind, &t.data()?, rows, xq)?,
                (Quantized::Tiles(xs), kind) => amx::gemm(kind, &t.data()?, rows, xs)?,
                (Quantized::Many(xs), kind) => gemm::gemm(kind, &t.data()?, rows, xs)?,
            };
            let mut dims = x.dims().to_vec();
            if let Some(last) = dims.last_mut() {
                *last = rows;
            }
            Ok(Tensor::from_vec(out, dims.as_slice(), x.device())?.to_dtype(x.dtype())?)
        })
        .collect()
}

/// The same tensor with a layout candle computes on faster: Q5_0 becomes
/// Q8_0 with identical values; every other type is returned as it is.
fn widen(t: QTensor) -> Result<QTensor> {
    if t.dtype() != GgmlDType::Q5_0 {
        return Ok(t);
    }
    let src = t.data()?;
    if src.len() % Q5_0_BYTES != 0 {
        return Err(Error::Generation(format!(
            "Q5_0 tensor of {} bytes is not a whole number of blocks",
            src.len()
        )));
    }
    let blocks = src.len() / Q5_0_BYTES;
    let mut out = vec![0u8; blocks * Q8_0_BYTES];
    for (q5, q8) in src
        .chunks_exact(Q5_0_BYTES)
        .zip(out.chunks_exact_mut(Q8_0_BYTES))
    {
        widen_block(q5, q8);
    }
    let dims = t.shape().dims().to_vec();
    let device = t.device();
    drop(src);
    drop(t);
    Ok(ggml_file::qtensor_from_ggml(
        GgmlDType::Q8_0,
        &out,
        dims,
        &device,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::QMatMul;
    use candle_core::{Device, Module, Tensor};
    use rand::{rngs::StdRng, Rng, SeedableRng};

    fn random(rows: usize, cols: usize, seed: u64) -> Tensor {
        let mut rng = StdRng::seed_from_u64(seed);
        let v: Vec<f32> = (0..rows * cols)
            .map(|_| rng.random::<f32>() * 2.0 - 1.0)
            .collect();
        Tensor::from_vec(v, (rows, cols), &Device::Cpu).unwrap()
    }

    #[test]
    fn q5_0_becomes_q8_0_with_identical_values() {
        let w = random(48, 256, 1);
        let q5 = QTensor::quantize(&w, GgmlDType::Q5_0).unwrap();
        let values = |q: &QTensor| -> Vec<f32> {
            let t = q.dequantize(&Device::Cpu).unwrap();
            t.flatten_all().unwrap().to_vec1().unwrap()
        };
        let want = values(&q5);
        let q8 = widen(q5).unwrap();
        assert_eq!(q8.dtype(), GgmlDType::Q8_0);
        assert_eq!(q8.shape().dims(), &[48, 256]);
        let got = values(&q8);
        assert_eq!(got, want, "every value must be bit-identical");
        // The extremes of the five-bit range survive (-16 and 15 times d).
        assert!(got.iter().any(|v| *v < 0.0) && got.iter().any(|v| *v > 0.0));
    }

    fn max_abs(t: Tensor) -> f32 {
        t.abs().unwrap().max_all().unwrap().to_scalar().unwrap()
    }

    #[test]
    fn products_are_as_close_to_exact_as_the_q5_0_kernel() {
        let w = random(64, 512, 2);
        let q5 = || QTensor::quantize(&w, GgmlDType::Q5_0).unwrap();
        let exact_w = q5().dequantize(&Device::Cpu).unwrap();
        // Seven rows (a prompt) and one row (a decode step).
        for (rows, seed) in [(7, 3), (1, 4)] {
            let x = random(rows, 512, seed);
            let exact = x.matmul(&exact_w.t().unwrap()).unwrap();
            let scale = max_abs(exact.clone());
            let q5_err = max_abs(
                (&exact - QMatMul::from_qtensor(q5()).unwrap().forward(&x).unwrap()).unwrap(),
            );
            let q8 = QMatMul::from_qtensor(widen(q5()).unwrap()).unwrap();
            let q8_err = max_abs((&exact - q8.forward(&x).unwrap()).unwrap());
            // Both kernels quantize the activations to 8 bits (candle's Q8_0
            // path may use 256-value blocks), so neither is exact; the widened
            // weights must stay within 2 % of the output scale, like Q5_0.
            assert!(
                q5_err < 0.02 * scale,
                "Q5_0 kernel error {q5_err} of {scale}"
            );
            assert!(q8_err < 0.02 * scale, "widened error {q8_err} of {scale}");
        }
    }

    #[test]
    fn other_types_are_untouched() {
        let w = random(16, 256, 5);
        let q = QTensor::quantize(&w, GgmlDType::Q4K).unwrap();
        let before = q.data().unwrap().to_vec();
        let after = widen(q).unwrap();
        assert_eq!(after.dtype(), GgmlDType::Q4K);
        assert_eq!(after.data().unwrap().to_vec(), before);
    }

    #[test]
    fn padded_matrices_give_the_products_of_the_unpadded_ones() {
        // 896 = 3.5 superblocks, as in Qwen2.5-0.5B; Q5_0 as that model stores it.
        let (rows, inner) = (32, 896);
        let w = random(rows, inner, 6);
        let q5 = || QTensor::quantize(&w, GgmlDType::Q5_0).unwrap();
        let exact_w = q5().dequantize(&Device::Cpu).unwrap();
        let padded = Matrix::new(q5(), true).unwrap();
        assert_eq!(padded.pad, 128);
        let plain = Matrix::new(q5(), false).unwrap();
        assert_eq!(plain.pad, 0);
        // A prompt (batch of 1, 9 tokens) and a decode step.
        for (shape, seed) in [((1, 9, inner), 7), ((1, 1, inner), 8)] {
            let x = random(shape.1, inner, seed).reshape(shape).unwrap();
            let exact = x.broadcast_matmul(&exact_w.t().unwrap()).unwrap();
            let scale = max_abs(exact.clone());
            let got = padded.forward(&x).unwrap();
            assert_eq!(got.dims(), &[1, shape.1, rows]);
            let err = max_abs((&exact - &got).unwrap());
            let plain_err = max_abs((&exact - plain.forward(&x).unwrap()).unwrap());
            assert!(err < 0.02 * scale, "padded error {err} of {scale}");
            assert!(
                plain_err < 0.02 * scale,
                "plain error {plain_err} of {scale}"
            );
        }
    }

    #[test]
    fn matrices_already_in_whole_superblocks_are_not_padded() {
        for (rows, inner, dtype) in [
            (32, 512, GgmlDType::Q8_0),
            (16, 256, GgmlDType::Q4K),
            (8, 896, GgmlDType::Q8_0),
        ] {
            let q = QTensor::quantize(&random(rows, inner, 9), dtype).unwrap();
            let m = Matrix::new(q, true).unwrap();
            assert_eq!(m.pad, 0, "{rows}x{inner} {dtype:?}");
        }
    }

    #[test]
    fn shared_input_products_equal_the_single_ones() {
        let inner = 896;
        let mats: Vec<Matrix> = [(32, 10), (16, 11), (48, 12)]
            .iter()
            .map(|&(rows, seed)| {
                let q = QTensor::quantize(&random(rows, inner, seed), GgmlDType::Q5_0).unwrap();
                Matrix::new(q, tiled_q8_0_kernels()).unwrap()
            })
            .collect();
        let refs: Vec<&Matrix> = mats.iter().collect();
        // One token (the fused path where the CPU has it) and three tokens.
        for tokens in [1, 3] {
            let x = random(tokens, inner, 13)
                .reshape((1, tokens, inner))
                .unwrap();
            let fused = Matrix::forward_shared(&refs, &x).unwrap();
            assert_eq!(fused.len(), 3);
            for (m, got) in mats.iter().zip(&fused) {
                let want = m.forward(&x).unwrap();
                assert_eq!(got.dims(), want.dims());
                let diff = max_abs((got - &want).unwrap());
                assert!(
                    diff < 1e-4 * (1.0 + max_abs(want)),
                    "{tokens} tokens: {diff}"
                );
            }
        }
    }
}
