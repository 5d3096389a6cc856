//! The block layouts the compact kernels share: the four block types, their
//! sizes and scales, the unpacking of a block's integers, and the Q8_K
//! quantization of inputs ([`super::gemv`], [`super::gemm`] and
//! [`super::amx`] all read the file's blocks through these).

use std::sync::atomic::AtomicU32;

use crate::error::{Error, Result};

/// Values in one Q4_K superblock.
pub(crate) const QK_K: usize = 256;

/// The block types the compact kernels multiply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Scale and min per 32 values (6 bits each), 4-bit integers.
    Q4K,
    /// Signed 8-bit scale per 16 values, 6-bit integers minus 32.
    Q6K,
    /// 32 values with an f16 scale, 5-bit integers minus 16.
    Q5_0,
    /// 32 values with an f16 scale, signed 8-bit integers.
    Q8_0,
}

impl Kind {
    /// Bytes of one block.
    pub(crate) fn block_bytes(self) -> usize {
        match self {
            Kind::Q4K => 144,
            Kind::Q6K => 210,
            Kind::Q5_0 => 22,
            Kind::Q8_0 => 34,
        }
    }

    /// Values in one block.
    pub(crate) fn block_values(self) -> usize {
        match self {
            Kind::Q4K | Kind::Q6K => QK_K,
            Kind::Q5_0 | Kind::Q8_0 => 32,
        }
    }

    /// Bytes of 256 values, the unit the kernels unpack (one K-quant block,
    /// eight of the 32-value ones). A row of 32-value blocks may end in part
    /// of one (Qwen2.5-0.5B's 896 values are 3.5 units); the kernels treat
    /// the missing values as zeros and the inputs are padded to match.
    pub(crate) fn unit_bytes(self) -> usize {
        self.block_bytes() * QK_K / self.block_values()
    }

    /// Bytes of a row of `inner` values, if they are whole blocks.
    pub(crate) fn row_bytes(self, inner: usize) -> Option<usize> {
        inner
            .is_multiple_of(self.block_values())
            .then(|| inner / self.block_values() * self.block_bytes())
    }

    /// What the integers are stored as in the unpacked bytes, added to their
    /// value: Q5_0's −16..=15 become 0..=31, Q8_0's −128..=127 0..=255.
    pub(super) fn bias(self) -> f32 {
        match self {
            Kind::Q4K | Kind::Q6K => 0.0,
            Kind::Q5_0 => 16.0,
            Kind::Q8_0 => 128.0,
        }
    }
}

/// The bytes per weight row of `w` (`rows` rows of `kind`) for inputs of
/// `inner` values (a multiple of 256, the rows' values padded up to it).
pub(super) fn row_bytes(kind: Kind, w: &[u8], rows: usize, inner: usize) -> Result<usize> {
    let bytes = w.len().checked_div(rows).unwrap_or(0);
    let values = bytes / kind.block_bytes() * kind.block_values();
    if rows == 0
        || w.len() != rows * bytes
        || kind.row_bytes(values) != Some(bytes)
        || values.next_multiple_of(QK_K) != inner
    {
        return Err(Error::Generation(format!(
            "a {kind:?} matrix of {} bytes is not {rows} rows of the {inner} (padded) input values",
            w.len()
        )));
    }
    Ok(bytes)
}

/// Checks that `x` is rows of `inner` values, a whole number of superblocks.
pub(super) fn check_rows(x: &[f32], inner: usize) -> Result<()> {
    if inner == 0 || !inner.is_multiple_of(QK_K) || !x.len().is_multiple_of(inner) {
        return Err(Error::Generation(format!(
            "{} values are not rows of whole {QK_K}-value blocks of {inner}",
            x.len()
        )));
    }
    Ok(())
}

/// `x` (rows of `inner` values) with each row padded with zeros to a whole
/// number of 256-value units, and the padded width: the inputs of a matrix
/// of 32-value blocks whose rows end in part of a unit.
pub(crate) fn padded_rows(x: &[f32], inner: usize) -> (std::borrow::Cow<'_, [f32]>, usize) {
    let width = inner.next_multiple_of(QK_K);
    if width == inner || inner == 0 {
        return (std::borrow::Cow::Borrowed(x), inner);
    }
    let mut out = vec![0f32; x.len() / inner * width];
    for (src, dst) in x.chunks_exact(inner).zip(out.chunks_exact_mut(width)) {
        dst[..inner].copy_from_slice(src);
    }
    (std::borrow::Cow::Owned(out), width)
}

/// The values that share one weight scale in a block of `kind`.
pub(super) fn span(kind: Kind) -> usize {
    match kind {
        Kind::Q4K | Kind::Q5_0 | Kind::Q8_0 => 32,
        Kind::Q6K => 16,
    }
}

/// Calls `f(s, scale, min)` for each scale group `s` (of [`span`] values) of
/// a unit (see [`Kind::unit_bytes`]): Q4_K `d·sc` and `dmin·m`; Q6_K `d·sc`
/// and no min; Q5_0 and Q8_0 `d` and `d` times their bias, zeros past the
/// end of a partial unit.
pub(super) fn span_scales(kind: Kind, block: &[u8], mut f: impl FnMut(usize, f32, f32)) {
    match kind {
        Kind::Q5_0 | Kind::Q8_0 => {
            let mut blocks = block.chunks_exact(kind.block_bytes());
            for s in 0..QK_K / span(kind) {
                let d = blocks.next().map_or(0.0, |b| f16_at(b, 0));
                f(s, d, d * kind.bias());
            }
        }
        Kind::Q4K => {
            let (sc, m) = scales_mins(&block[4..16]);
            let (d, dmin) = (f16_at(block, 0), f16_at(block, 2));
            for s in 0..QK_K / span(kind) {
                f(s, d * sc[s] as f32, dmin * m[s] as f32);
            }
        }
        Kind::Q6K => {
            let d = f16_at(block, 208);
            for s in 0..QK_K / span(kind) {
                f(s, d * block[192 + s] as i8 as f32, 0.0);
            }
        }
    }
}

/// The integers of one unit (see [`Kind::unit_bytes`]) as unsigned bytes
/// in their natural order, as ggml's dequantization reads them (plus
/// [`Kind::bias`]); zeros past the end of a partial unit.
pub(super) fn unpack_block(kind: Kind, block: &[u8], out: &mut [u8; QK_K]) {
    match kind {
        Kind::Q5_0 => {
            out.fill(0);
            for (b, bytes) in block.chunks_exact(kind.block_bytes()).enumerate() {
                let qh = u32::from_le_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]);
                let dst = &mut out[32 * b..32 * b + 32];
                for (j, &q) in bytes[6..22].iter().enumerate() {
                    dst[j] = (q & 0x0F) | ((((qh >> j) & 1) as u8) << 4);
                    dst[j + 16] = (q >> 4) | ((((qh >> (j + 16)) & 1) as u8) << 4);
                }
            }
        }
        Kind::Q8_0 => {
            out.fill(0);
            for (b, bytes) in block.chunks_exact(kind.block_bytes()).enumerate() {
                for (o, &q) in out[32 * b..32 * b + 32].iter_mut().zip(&bytes[2..34]) {
                    *o = q ^ 0x80;
                }
            }
        }
        Kind::Q4K => {
            for c in 0..4 {
                for (j, &byte) in block[16 + 32 * c..48 + 32 * c].iter().enumerate() {
                    out[64 * c + j] = byte & 0x0F;
                    out[64 * c + 32 + j] = byte >> 4;
                }
            }
        }
        Kind::Q6K => {
            for h in 0..2 {
                let (ql, qh) = (
                    &block[64 * h..64 * h + 64],
                    &block[128 + 32 * h..160 + 32 * h],
                );
                let dst = &mut out[128 * h..128 * h + 128];
                for l in 0..32 {
                    dst[l] = (ql[l] & 0x0F) | ((qh[l] & 3) << 4);
                    dst[l + 32] = (ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4);
                    dst[l + 64] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
                    dst[l + 96] = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
                }
            }
        }
    }
}

/// The values of one row of `kind` blocks into `out` (as many values as
/// the row holds), with the float operations of ggml's dequantization, so
/// that a row read here equals candle's `dequantize` bit for bit.
pub(super) fn dequantize_row(kind: Kind, row: &[u8], out: &mut [f32]) {
    let mut q = [0u8; QK_K];
    for (unit, values) in row.chunks(kind.unit_bytes()).zip(out.chunks_mut(QK_K)) {
        unpack_block(kind, unit, &mut q);
        let k = span(kind);
        span_scales(kind, unit, |s, scale, min| {
            for i in k * s..(k * (s + 1)).min(values.len()) {
                values[i] = match kind {
                    Kind::Q4K => scale * q[i] as f32 - min,
                    Kind::Q6K => scale * (q[i] as i32 - 32) as f32,
                    Kind::Q5_0 | Kind::Q8_0 => scale * (q[i] as i32 - kind.bias() as i32) as f32,
                };
            }
        });
    }
}

/// Quantizes one block of values to `out` like ggml's Q8_K (the value of
/// largest magnitude becomes ±127) and returns the scale. On the AVX2 and
/// faster paths the same loop is compiled for AVX2 ([`super::avx2`]): the
/// same integers and scale, rounded in vectors instead of by a call per
/// value.
pub(super) fn quantize_block(block: &[f32], out: &mut [i8]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if super::path::has_avx2() {
        return super::avx2::quantize_block(block, out);
    }
    quantize_values(block, out)
}

/// [`quantize_block`]'s loop, for each build of it.
#[inline(always)]
pub(super) fn quantize_values(block: &[f32], out: &mut [i8]) -> f32 {
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

/// Blocks ahead of the one in use that each block prefetches.
const PREFETCH_BLOCKS: usize = 16;

/// Prefetches the cache lines of the block `PREFETCH_BLOCKS` after
/// `block` (of `bytes` bytes). A prefetch is a hint: an address past the
/// row is not read.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
#[inline(always)]
pub(super) fn prefetch_ahead(block: &[u8], bytes: usize) {
    let ahead = block.as_ptr().wrapping_add(PREFETCH_BLOCKS * bytes);
    for line in (0..bytes).step_by(64) {
        // SAFETY: `_mm_prefetch` only needs SSE, which x86-64 always has.
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(line).cast());
        }
    }
}

/// The values stored in `out` (floats as bits, written by the worker
/// threads, one each).
pub(super) fn floats(out: Vec<AtomicU32>) -> Vec<f32> {
    out.into_iter()
        .map(|y| f32::from_bits(y.into_inner()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::{quantized, values};
    use super::*;
    use candle_core::quantized::GgmlDType;

    #[test]
    fn rows_dequantize_like_candle_bit_for_bit() {
        for (dtype, kind, inner) in [
            (GgmlDType::Q4K, Kind::Q4K, 512),
            (GgmlDType::Q6K, Kind::Q6K, 512),
            (GgmlDType::Q5_0, Kind::Q5_0, 896),
            (GgmlDType::Q8_0, Kind::Q8_0, 896),
        ] {
            let rows = 4;
            let q = quantized(dtype, rows, inner, 8);
            let want = values(&q);
            let bytes = q.data().unwrap();
            let row_bytes = kind.row_bytes(inner).unwrap();
            for r in 0..rows {
                let mut got = vec![f32::NAN; inner];
                dequantize_row(kind, &bytes[r * row_bytes..(r + 1) * row_bytes], &mut got);
                assert_eq!(got, want[r * inner..(r + 1) * inner], "{kind:?} row {r}");
            }
        }
    }
    use rand::{rngs::StdRng, Rng, SeedableRng};

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
}
