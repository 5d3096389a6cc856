//! One-token products over compact Q4_K blocks.
//!
//! Decoding reads every weight once per token, so it is bound by the bytes
//! of the weights; candle's tiled kernels repack each Q4_K matrix into
//! 16-row tiles of 6 bits a weight against 4.5 in the file, a second copy
//! beside the file's blocks.
//!
//! Here a one-token product reads the compact blocks as the file stores them.
//! The input is quantized once per token the way ggml's Q8_K does (one scale
//! per 256 values, integers in -127..=127, sums per 32 values for the mins).
//! On x86-64 with AVX-512 VNNI (checked at run time) each 64 bytes of a
//! block's nibbles give 64 low and 64 high 4-bit weights, each multiplied
//! with 64 input bytes by `vpmaddubsw` (pairs summed in 16 bits) and then
//! with their sub-block scales by `vpdpwssd`; the next blocks are prefetched
//! a fixed distance ahead. Elsewhere a portable loop computes the same
//! integer sums. Rows are split across
//! candle's own worker pool, the one its kernels use: a second pool beside it
//! would compete with candle's workers, which spin between operations.
//!
//! Upstream, this is a `vec_dot` for `BlockQ4K` in
//! `candle-core/src/quantized/avx.rs` with AVX-512 VNNI, and
//! `repack_x86::select` keeping single-row Q4_K products on the compact
//! blocks, as it already does for Q6_K.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{Error, Result};

/// Values in one Q4_K superblock.
pub(crate) const QK_K: usize = 256;
/// Bytes of one Q4_K block: f16 scale, f16 min scale, 12 bytes of 6-bit
/// scales and mins, 128 bytes of 4-bit weights.
pub(crate) const BLOCK_BYTES: usize = 144;

/// One input row quantized like ggml's Q8_K.
pub(crate) struct Q8K {
    /// Scale of each 256-value block.
    d: Vec<f32>,
    /// The integers, 256 per block.
    qs: Vec<i8>,
    /// The same integers in the order the AVX-512 kernel reads them (see
    /// [`PAIRED`]).
    paired: Vec<i8>,
    /// Sum of each 32 integers (8 per block), for the mins.
    sums: Vec<i32>,
}

/// The order of a block's 32-value sub-blocks in [`Q8K::paired`]: the
/// kernel loads 64 bytes of nibbles at a time, two 32-byte quarters whose low
/// nibbles are sub-blocks 0 and 2 (then 4 and 6) and whose high nibbles are
/// sub-blocks 1 and 3 (then 5 and 7), and multiplies each half with 64
/// input bytes laid out the same way.
const PAIRED: [usize; 8] = [0, 2, 1, 3, 4, 6, 5, 7];

impl Q8K {
    /// Quantizes `x` (a whole number of 256-value blocks).
    pub(crate) fn quantize(x: &[f32]) -> Result<Self> {
        if !x.len().is_multiple_of(QK_K) {
            return Err(Error::Generation(format!(
                "input of {} values is not a whole number of {QK_K}-value blocks",
                x.len()
            )));
        }
        let blocks = x.len() / QK_K;
        let mut out = Self {
            d: Vec::with_capacity(blocks),
            qs: Vec::with_capacity(x.len()),
            paired: Vec::with_capacity(x.len()),
            sums: Vec::with_capacity(blocks * 8),
        };
        for block in x.chunks_exact(QK_K) {
            let start = out.qs.len();
            out.qs.resize(start + QK_K, 0);
            out.d.push(quantize_block(block, &mut out.qs[start..]));
            for sub in PAIRED {
                let at = start + 32 * sub;
                out.paired.extend_from_slice(&out.qs[at..at + 32]);
            }
            out.sums.extend(
                out.qs[start..]
                    .chunks_exact(32)
                    .map(|c| c.iter().map(|&q| q as i32).sum::<i32>()),
            );
        }
        Ok(out)
    }

    /// Values in the row.
    pub(crate) fn len(&self) -> usize {
        self.qs.len()
    }
}

/// Quantizes one block of values to `out` like ggml's Q8_K (the value of
/// largest magnitude becomes ±127) and returns the scale.
pub(super) fn quantize_block(block: &[f32], out: &mut [i8]) -> f32 {
    let max = block
        .iter()
        .copied()
        .fold(0f32, |m, v| if v.abs() > m.abs() { v } else { m });
    if max == 0.0 {
        out.fill(0);
        return 0.0;
    }
    let iscale = -127.0 / max;
    for (q, v) in out.iter_mut().zip(block) {
        *q = (iscale * v).round().clamp(-127.0, 127.0) as i8;
    }
    1.0 / iscale
}

/// The 8 scales and 8 mins of a Q4_K block's 12 scale bytes, each in 0..64:
/// sub-block j < 4 has the low 6 bits of bytes j and j + 4; sub-block j ≥ 4
/// has the nibbles of byte j + 4 with the top 2 bits of bytes j − 4 and j
/// above them. Unpacked four at a time, in 32-bit words.
#[inline(always)]
pub(super) fn scales_mins(s: &[u8]) -> ([u8; 8], [u8; 8]) {
    const LOW6: u32 = 0x3f3f_3f3f;
    const LOW4: u32 = 0x0f0f_0f0f;
    const LOW2: u32 = 0x0303_0303;
    let word = |i: usize| u32::from_le_bytes([s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]]);
    let (a, b, c) = (word(0), word(1), word(2));
    let sc = [a & LOW6, (c & LOW4) | (((a >> 6) & LOW2) << 4)];
    let m = [b & LOW6, ((c >> 4) & LOW4) | (((b >> 6) & LOW2) << 4)];
    let bytes = |w: [u32; 2]| {
        let mut out = [0u8; 8];
        out[..4].copy_from_slice(&w[0].to_le_bytes());
        out[4..].copy_from_slice(&w[1].to_le_bytes());
        out
    };
    (bytes(sc), bytes(m))
}

#[inline(always)]
pub(super) fn f16_at(b: &[u8], at: usize) -> f32 {
    half::f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

/// One row (`blocks` Q4_K blocks) times `x`, with a plain loop.
fn dot_portable(row: &[u8], x: &Q8K) -> f32 {
    let mut acc = 0f32;
    for (b, block) in row.chunks_exact(BLOCK_BYTES).enumerate() {
        let (sc, m) = scales_mins(&block[4..16]);
        let qs = &block[16..];
        let q8 = &x.qs[b * QK_K..(b + 1) * QK_K];
        let (mut sumi, mut summ) = (0i32, 0i32);
        for c in 0..4 {
            let (lo, hi) = (&q8[64 * c..64 * c + 32], &q8[64 * c + 32..64 * c + 64]);
            let bytes = &qs[32 * c..32 * c + 32];
            let s_lo: i32 = bytes
                .iter()
                .zip(lo)
                .map(|(&w, &v)| (w & 0x0F) as i32 * v as i32)
                .sum();
            let s_hi: i32 = bytes
                .iter()
                .zip(hi)
                .map(|(&w, &v)| (w >> 4) as i32 * v as i32)
                .sum();
            let (j, k) = (2 * c, 2 * c + 1);
            sumi += sc[j] as i32 * s_lo + sc[k] as i32 * s_hi;
            summ += m[j] as i32 * x.sums[b * 8 + j] + m[k] as i32 * x.sums[b * 8 + k];
        }
        acc += x.d[b] * (f16_at(block, 0) * sumi as f32 - f16_at(block, 2) * summ as f32);
    }
    acc
}

/// Whether this CPU runs the AVX-512 VNNI kernels (with AVX-512 BW).
pub(super) fn has_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod vnni {
    use super::{BLOCK_BYTES, Q8K, QK_K};
    use std::arch::x86_64::*;

    /// [`super::dot_portable`] with AVX-512 VNNI.
    pub(super) fn dot(row: &[u8], x: &Q8K) -> f32 {
        assert!(
            super::has_vnni(),
            "the AVX-512 VNNI product needs a CPU that has it"
        );
        assert!(
            row.len().is_multiple_of(BLOCK_BYTES)
                && row.len() / BLOCK_BYTES * QK_K <= x.paired.len()
        );
        // SAFETY: the CPU has the features `dot_vnni` is compiled for
        // (checked above), and every block it reads is in bounds (its loads
        // stay within `row` and `x.paired`, whose lengths are checked above).
        unsafe { dot_vnni(row, x) }
    }

    /// Bytes ahead of the block in use that each block prefetches: the
    /// hardware prefetcher alone left a decode step's products at about
    /// two thirds of the memory bandwidth on a 2-core AVX-512 machine.
    const PREFETCH: usize = 16 * BLOCK_BYTES;

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    fn dot_vnni(row: &[u8], x: &Q8K) -> f32 {
        let mask = _mm512_set1_epi8(0x0F);
        // Lanes 0..8 of each product take the scale of its first sub-block,
        // lanes 8..16 that of its second (in the order of `PAIRED`).
        let pick = [(0, 2), (1, 3), (4, 6), (5, 7)].map(|(a, b)| {
            _mm512_inserti64x4::<1>(
                _mm512_castsi256_si512(_mm256_set1_epi32(a)),
                _mm256_set1_epi32(b),
            )
        });
        let mut accf = _mm512_setzero_ps();
        let mut accm = _mm256_setzero_ps();
        for (b, block) in row.chunks_exact(BLOCK_BYTES).enumerate() {
            let ahead = block.as_ptr().wrapping_add(PREFETCH);
            for line in 0..3 {
                // A prefetch is a hint: an address past the row is not read.
                _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64 * line).cast());
            }
            let (sc, m) = super::scales_mins(&block[4..16]);
            // Each scale in both 16-bit halves of its 32-bit lane, the
            // multiplier of `vpdpwssd`'s pairs.
            let sc = _mm512_cvtepu8_epi32(_mm_set_epi64x(0, i64::from_le_bytes(sc)));
            let sc = _mm512_or_si512(sc, _mm512_slli_epi32::<16>(sc));
            let m = _mm256_cvtepu8_epi32(_mm_set_epi64x(0, i64::from_le_bytes(m)));
            let qs = block[16..].as_ptr();
            let q8 = x.paired[b * QK_K..].as_ptr();
            let mut sumi = _mm512_setzero_si512();
            for h in 0..2 {
                // SAFETY: `qs + 64h` has 64 bytes (128 in a block) and
                // `q8 + 128h` has 128 (256 in a block): unaligned loads in
                // bounds.
                let (raw, xlo, xhi) = unsafe {
                    (
                        _mm512_loadu_si512(qs.add(64 * h).cast()),
                        _mm512_loadu_si512(q8.add(128 * h).cast()),
                        _mm512_loadu_si512(q8.add(128 * h + 64).cast()),
                    )
                };
                let lo = _mm512_and_si512(raw, mask);
                let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(raw), mask);
                // Weights 0..=15 times inputs -127..=127, pairs summed in 16
                // bits (at most 3,810), then times the scales in 32 bits.
                let (slo, shi) = (
                    _mm512_permutexvar_epi32(pick[2 * h], sc),
                    _mm512_permutexvar_epi32(pick[2 * h + 1], sc),
                );
                sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(lo, xlo), slo);
                sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(hi, xhi), shi);
            }
            let sums = &x.sums[b * 8..b * 8 + 8];
            // SAFETY: `sums` has 8 values of 4 bytes: an unaligned 32-byte load.
            let sums = unsafe { _mm256_loadu_si256(sums.as_ptr().cast()) };
            let d = x.d[b] * super::f16_at(block, 0);
            let dmin = x.d[b] * super::f16_at(block, 2);
            accf = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(d), accf);
            let summ = _mm256_cvtepi32_ps(_mm256_mullo_epi32(m, sums));
            accm = _mm256_fmadd_ps(summ, _mm256_set1_ps(dmin), accm);
        }
        _mm512_reduce_add_ps(accf) - _mm512_reduce_add_ps(_mm512_zextps256_ps512(accm))
    }
}

/// One row of Q4_K blocks times `x`: AVX-512 VNNI where the CPU has it,
/// the portable loop otherwise.
fn dot(row: &[u8], x: &Q8K, vnni: bool) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if vnni {
        return vnni::dot(row, x);
    }
    let _ = vnni;
    dot_portable(row, x)
}

/// The values stored in `out` (floats as bits, written by the worker
/// threads, one each).
pub(super) fn floats(out: Vec<AtomicU32>) -> Vec<f32> {
    out.into_iter()
        .map(|y| f32::from_bits(y.into_inner()))
        .collect()
}

/// `W · x` for the Q4_K matrix `w` (`rows` rows of whole blocks, as bytes):
/// one value per row, rows split across the threads.
pub(crate) fn gemv(w: &[u8], rows: usize, x: &Q8K) -> Result<Vec<f32>> {
    let row_bytes = x.len() / QK_K * BLOCK_BYTES;
    if w.len() != rows * row_bytes {
        return Err(Error::Generation(format!(
            "a Q4_K matrix of {} bytes is not {rows} rows of {} values",
            w.len(),
            x.len()
        )));
    }
    let vnni = has_vnni();
    // Each row's result is stored once, by the one thread that computes it.
    let out: Vec<AtomicU32> = (0..rows).map(|_| AtomicU32::new(0)).collect();
    candle_core::utils::barrier_pool().execute_chunked(rows, |range| {
        for r in range {
            let y = dot(&w[r * row_bytes..(r + 1) * row_bytes], x, vnni);
            out[r].store(y.to_bits(), Ordering::Relaxed);
        }
    });
    Ok(floats(out))
}

#[cfg(test)]
mod tests {
    use super::super::testing::random;
    use super::*;
    use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
    use candle_core::{Device, Module, Tensor};
    use rand::{rngs::StdRng, Rng, SeedableRng};

    #[test]
    fn products_match_candle_and_a_plain_loop() {
        let (rows, inner) = (80, 512);
        let w = Tensor::from_vec(random(rows * inner, 7), (rows, inner), &Device::Cpu).unwrap();
        let q = QTensor::quantize(&w, GgmlDType::Q4K).unwrap();
        let bytes = q.data().unwrap().to_vec();
        let x = random(inner, 8);
        let xq = Q8K::quantize(&x).unwrap();
        let got = gemv(&bytes, rows, &xq).unwrap();
        // The same sums without SIMD, candle's own product (its tiled kernel
        // where the CPU has one) and a plain f32 loop over the dequantized
        // weights.
        let row_bytes = inner / QK_K * BLOCK_BYTES;
        let portable: Vec<f32> = bytes
            .chunks_exact(row_bytes)
            .map(|r| dot_portable(r, &xq))
            .collect();
        let xt = Tensor::from_vec(x.clone(), (1, inner), &Device::Cpu).unwrap();
        let q2 = QTensor::quantize(&w, GgmlDType::Q4K).unwrap();
        let candle: Vec<f32> = QMatMul::from_qtensor(q2)
            .unwrap()
            .forward(&xt)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let dq: Vec<f32> = q
            .dequantize(&Device::Cpu)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let scale = candle.iter().fold(0f32, |m, v| m.max(v.abs()));
        for r in 0..rows {
            let plain: f32 = (0..inner).map(|c| dq[r * inner + c] * x[c]).sum();
            // The integer sums are exact, so SIMD and portable differ only in
            // the order of the float sums. candle quantizes the input to Q8_K
            // too (with -128 for its largest value, here -127), and the plain
            // loop keeps it in f32: about 1 % of the scale.
            assert!((got[r] - portable[r]).abs() <= 1e-5 * scale, "row {r}");
            assert!((got[r] - candle[r]).abs() <= 0.01 * scale, "row {r}");
            assert!((got[r] - plain).abs() <= 0.01 * scale, "row {r}");
        }
    }

    /// Scale and min of sub-block `j`, one at a time, as ggml's
    /// `get_scale_min_k4` defines them.
    fn scale_min(j: usize, s: &[u8]) -> (i32, i32) {
        if j < 4 {
            ((s[j] & 63) as i32, (s[j + 4] & 63) as i32)
        } else {
            (
                ((s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4)) as i32,
                ((s[j + 4] >> 4) | ((s[j] >> 6) << 4)) as i32,
            )
        }
    }

    #[test]
    fn scales_and_mins_unpack_like_one_by_one() {
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..100 {
            let s: Vec<u8> = (0..12).map(|_| rng.random()).collect();
            let (sc, m) = scales_mins(&s);
            for j in 0..8 {
                assert_eq!((sc[j] as i32, m[j] as i32), scale_min(j, &s));
            }
        }
    }

    #[test]
    fn zero_input_and_wrong_sizes() {
        let xq = Q8K::quantize(&[0.0; 256]).unwrap();
        let w = Tensor::from_vec(random(32 * 256, 9), (32, 256), &Device::Cpu).unwrap();
        let bytes = QTensor::quantize(&w, GgmlDType::Q4K)
            .unwrap()
            .data()
            .unwrap()
            .to_vec();
        assert_eq!(gemv(&bytes, 32, &xq).unwrap(), vec![0.0; 32]);
        assert!(gemv(&bytes, 31, &xq).is_err());
        assert!(Q8K::quantize(&[1.0; 100]).is_err());
    }
}
