//! Products of compact Q4_K, Q6_K, Q5_0 and Q8_0 matrices with many tokens
//! (prompts) on CPUs without AMX ([`super::amx`] where they have it).
//!
//! candle's fast kernels for several tokens repack every quantized matrix on
//! first use into tiles of their own (AMX or AVX-512 VNNI) and keep them
//! beside the file's blocks: on this project's models that is more memory
//! than the model file itself. Here a prompt's products read the file's
//! blocks and nothing else. Blocks of 32 values are read eight at a time as
//! one 256-value unit, their integers stored with a bias that makes them
//! unsigned (see [`Kind::bias`]).
//!
//! The tokens are quantized once per product like ggml's Q8_K (one scale per
//! 256 values, integers in -127..=127) together with the sums of each 16
//! integers. Each thread takes a share of the rows; it unpacks a span of one
//! row at a time into a small buffer (its integers as unsigned bytes, a float
//! scale and a float offset per 16 values) and multiplies that span with a
//! tile of tokens whose inputs for it stay in the core's first-level cache,
//! so the unpacking is paid once per span and tile, not per token.
//!
//! Both sides store each superblock in *lane order*: its 64 four-byte words
//! are transposed as a 16 × 4 matrix, so that lane `i` of each of the four
//! 64-byte vectors holds four values of the same 16-value group `i`. One
//! `vpdpbusd` per vector (AVX-512 VNNI) then accumulates every group in its
//! own lane, and the group scales are applied once per superblock with one
//! multiply-add. The offsets (Q4_K's mins, Q6_K's −32) are one more
//! multiply-add per superblock against the token's group sums. Without
//! AVX-512 VNNI (checked at run time) a portable loop computes the same
//! integer sums.
//!
//! On this project's 2-core AVX-512 machine this runs at about half of
//! candle's AMX tiles (prompt tokens/s); [`super::amx`] is used where AMX is
//! available. Upstream, this is candle's `QMatMul` keeping K-quant matrices
//! on their compact blocks for several tokens, as `repack_x86::select`
//! already does for a single Q6_K row.

use std::ops::Range;
use std::sync::atomic::{AtomicU32, Ordering};

#[cfg(target_arch = "x86_64")]
use super::avx2;
use super::blocks::{
    check_rows, floats, quantize_block, row_bytes, span, span_scales, unpack_block, Kind, QK_K,
};
use super::path::{has_avx2, has_vnni};
use crate::error::Result;

/// Values per group: each group has one scale and one offset.
const GROUP: usize = 16;
/// Groups per superblock, one per 32-bit lane of a 512-bit vector.
pub(super) const GROUPS: usize = QK_K / GROUP;
/// Tokens multiplied with each unpacked span of a row.
const TILE_TOKENS: usize = 32;
/// Superblocks of a row unpacked at a time: the tile's inputs for them
/// (32 KiB) stay in the core's first-level cache.
const SPAN: usize = 4;

/// Where value `v` of a superblock goes in lane order: natural word `w`
/// becomes lane `w / 4` of vector `w % 4`.
fn lane_position(v: usize) -> usize {
    let w = v / 4;
    64 * (w % 4) + 4 * (w / 4) + v % 4
}

/// Tokens quantized like ggml's Q8_K, superblocks in lane order.
pub(crate) struct Tokens {
    pub(super) inner: usize,
    /// The integers, `inner` per token.
    pub(super) qs: Vec<i8>,
    /// Scale of each superblock of each token.
    pub(super) d: Vec<f32>,
    /// Scale times the sum of each group's integers, 16 per superblock.
    pub(super) sums: Vec<f32>,
}

impl Tokens {
    /// Quantizes `x`, `tokens` rows of `inner` values each (whole superblocks).
    pub(crate) fn quantize(x: &[f32], inner: usize) -> Result<Self> {
        check_rows(x, inner)?;
        let blocks = x.len() / QK_K;
        let mut out = Self {
            inner,
            qs: vec![0; x.len()],
            d: Vec::with_capacity(blocks),
            sums: Vec::with_capacity(blocks * GROUPS),
        };
        let mut natural = [0i8; QK_K];
        for (block, dst) in x.chunks_exact(QK_K).zip(out.qs.chunks_exact_mut(QK_K)) {
            let d = quantize_block(block, &mut natural);
            out.d.push(d);
            for (v, &q) in natural.iter().enumerate() {
                dst[lane_position(v)] = q;
            }
            out.sums.extend(
                natural
                    .chunks_exact(GROUP)
                    .map(|g| d * g.iter().map(|&q| q as i32).sum::<i32>() as f32),
            );
        }
        Ok(out)
    }

    /// Number of tokens.
    pub(crate) fn len(&self) -> usize {
        self.qs.len() / self.inner
    }
}

/// One weight row unpacked: unsigned integers in lane order, and per group
/// the scale of its integer sums and the offset per unit of token sum.
pub(super) struct Row {
    pub(super) w: Vec<u8>,
    pub(super) scale: Vec<f32>,
    pub(super) offset: Vec<f32>,
}

impl Row {
    fn new(blocks: usize) -> Self {
        Self {
            w: vec![0; blocks * QK_K],
            scale: vec![0.0; blocks * GROUPS],
            offset: vec![0.0; blocks * GROUPS],
        }
    }
}

/// A block's scale and offset per 16-value group: Q4_K `d·sc` and `−dmin·m`
/// of the 32-value sub-block the group is in; Q6_K `d·sc` and `−32·d·sc`.
pub(super) fn group_scales(kind: Kind, block: &[u8], scale: &mut [f32], offset: &mut [f32]) {
    let per = span(kind) / GROUP;
    span_scales(kind, block, |s, sc, min| {
        for g in per * s..per * (s + 1) {
            scale[g] = sc;
            offset[g] = match kind {
                Kind::Q4K | Kind::Q5_0 | Kind::Q8_0 => -min,
                Kind::Q6K => -32.0 * sc,
            };
        }
    });
}

/// Unpacks one row of blocks with plain loops.
fn unpack_portable(kind: Kind, row: &[u8], out: &mut Row) {
    let mut natural = [0u8; QK_K];
    for (b, block) in row.chunks(kind.unit_bytes()).enumerate() {
        unpack_block(kind, block, &mut natural);
        let w = &mut out.w[b * QK_K..(b + 1) * QK_K];
        for (v, &q) in natural.iter().enumerate() {
            w[lane_position(v)] = q;
        }
        let groups = b * GROUPS..(b + 1) * GROUPS;
        group_scales(
            kind,
            block,
            &mut out.scale[groups.clone()],
            &mut out.offset[groups],
        );
    }
}

/// The row's unpacked span (superblocks `blocks`) times the same values of
/// token `t`, with plain loops.
fn dot_portable(row: &Row, x: &Tokens, t: usize, blocks: Range<usize>) -> f32 {
    let per_token = x.inner / QK_K;
    let mut acc = 0f32;
    for (i, b) in blocks.enumerate() {
        let w = &row.w[i * QK_K..(i + 1) * QK_K];
        let first = t * per_token + b;
        let q = &x.qs[first * QK_K..(first + 1) * QK_K];
        let mut lanes = [0i32; GROUPS];
        for (at, (w, q)) in w.chunks_exact(4).zip(q.chunks_exact(4)).enumerate() {
            lanes[at % GROUPS] += w
                .iter()
                .zip(q)
                .map(|(&w, &q)| w as i32 * q as i32)
                .sum::<i32>();
        }
        let scale = &row.scale[i * GROUPS..(i + 1) * GROUPS];
        let offset = &row.offset[i * GROUPS..(i + 1) * GROUPS];
        let sums = &x.sums[first * GROUPS..(first + 1) * GROUPS];
        for g in 0..GROUPS {
            acc += lanes[g] as f32 * x.d[first] * scale[g] + offset[g] * sums[g];
        }
    }
    acc
}

/// Asserts what the SIMD kernels read: tokens `t..t + n` and the row's
/// unpacked span of superblocks `blocks`.
pub(super) fn check_span(row: &Row, x: &Tokens, t: usize, n: usize, blocks: &Range<usize>) {
    let span = blocks.len();
    let units = (t + n) * (x.inner / QK_K);
    assert!(blocks.end <= x.inner / QK_K && (t + n) * x.inner <= x.qs.len());
    assert!(units <= x.d.len() && units * GROUPS <= x.sums.len());
    assert!(row.w.len() >= span * QK_K && row.scale.len() >= span * GROUPS);
    assert!(row.offset.len() >= span * GROUPS);
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod vnni {
    use super::{Kind, Row, Tokens, GROUPS, QK_K};
    use std::arch::x86_64::*;
    use std::ops::Range;

    /// Tokens multiplied together in [`dots`].
    pub(super) const TOKENS: usize = 4;

    /// Word indices that pick lane `i` of vector `k` in lane order from two
    /// halves of the natural order: word `(4i + k) mod 32`.
    const PICK: [[i32; 16]; 4] = {
        let mut out = [[0; 16]; 4];
        let mut k = 0;
        while k < 4 {
            let mut i = 0;
            while i < 16 {
                out[k][i] = ((4 * i + k) % 32) as i32;
                i += 1;
            }
            k += 1;
        }
        out
    };

    fn check(row: &Row, x: &Tokens, t: usize, n: usize, blocks: &Range<usize>) {
        assert!(
            super::super::path::cpu_has_vnni(),
            "the AVX-512 VNNI kernels need a CPU that has them"
        );
        super::check_span(row, x, t, n, blocks);
    }

    /// [`super::unpack_portable`] with AVX-512.
    pub(super) fn unpack(kind: Kind, row: &[u8], out: &mut Row) {
        assert!(
            super::super::path::cpu_has_vnni(),
            "the AVX-512 VNNI kernels need a CPU that has them"
        );
        if matches!(kind, Kind::Q5_0 | Kind::Q8_0) {
            return super::unpack_portable(kind, row, out);
        }
        let blocks = row.len() / kind.block_bytes();
        assert!(out.w.len() >= blocks * QK_K && out.scale.len() >= blocks * GROUPS);
        for (b, block) in row.chunks_exact(kind.block_bytes()).enumerate() {
            // SAFETY: the CPU has the features (checked above); `block` is
            // one whole block and `out.w` has its 256 bytes (checked above).
            unsafe {
                match kind {
                    Kind::Q4K => unpack_q4k(block, out.w[b * QK_K..].as_mut_ptr()),
                    _ => unpack_q6k(block, out.w[b * QK_K..].as_mut_ptr()),
                }
            }
            // SAFETY: as above; `out.scale` and `out.offset` have the
            // block's 16 floats each (checked above).
            unsafe {
                group_scales(
                    kind,
                    block,
                    out.scale[b * GROUPS..].as_mut_ptr(),
                    out.offset[b * GROUPS..].as_mut_ptr(),
                )
            }
        }
    }

    /// [`super::group_scales`] with AVX-512, stored at `scale` and `offset`
    /// (16 floats each).
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn group_scales(kind: Kind, block: &[u8], scale: *mut f32, offset: *mut f32) {
        let (s, o) = match kind {
            Kind::Q4K => {
                let (sc, m) = super::super::blocks::scales_mins(&block[4..16]);
                // Group g takes sub-block g / 2.
                let twice = _mm_set_epi8(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
                let widen = |v: [u8; 8]| {
                    let v = _mm_shuffle_epi8(_mm_set_epi64x(0, i64::from_le_bytes(v)), twice);
                    _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(v))
                };
                let (d, dmin) = (
                    super::super::blocks::f16_at(block, 0),
                    super::super::blocks::f16_at(block, 2),
                );
                (
                    _mm512_mul_ps(widen(sc), _mm512_set1_ps(d)),
                    _mm512_mul_ps(widen(m), _mm512_set1_ps(-dmin)),
                )
            }
            _ => {
                // SAFETY: a Q6_K block has 16 scale bytes at 192.
                let sc = unsafe { _mm_loadu_si128(block[192..208].as_ptr().cast()) };
                let s = _mm512_mul_ps(
                    _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(sc)),
                    _mm512_set1_ps(super::super::blocks::f16_at(block, 208)),
                );
                (s, _mm512_mul_ps(s, _mm512_set1_ps(-32.0)))
            }
        };
        // SAFETY: the caller passes 16 floats at each.
        unsafe {
            _mm512_storeu_ps(scale, s);
            _mm512_storeu_ps(offset, o);
        }
    }

    /// Stores the natural-order vectors `n` (64 words) in lane order at `dst`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn store_lane_order(n: [__m512i; 4], dst: *mut u8) {
        for (k, pick) in PICK.iter().enumerate() {
            // SAFETY: `pick` is 16 words; `dst + 64k` has 64 bytes (the caller
            // passes 256).
            unsafe {
                let idx = _mm512_loadu_si512(pick.as_ptr().cast());
                let a = _mm512_permutex2var_epi32(n[0], idx, n[1]);
                let b = _mm512_permutex2var_epi32(n[2], idx, n[3]);
                _mm512_storeu_si512(
                    dst.add(64 * k).cast(),
                    _mm512_mask_blend_epi32(0xFF00, a, b),
                );
            }
        }
    }

    /// The 256 integers of a Q4_K block (144 bytes) in lane order at `dst`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn unpack_q4k(block: &[u8], dst: *mut u8) {
        let mask = _mm512_set1_epi8(0x0F);
        // The same 32 bytes in both halves: low nibbles, then high nibbles.
        let shifts = _mm512_inserti64x4::<1>(_mm512_setzero_si512(), _mm256_set1_epi16(4));
        let qs = block[16..144].as_ptr();
        let n = [0, 1, 2, 3].map(|c| {
            // SAFETY: `qs + 32c` has 32 bytes (128 in a block).
            let raw = unsafe { _mm256_loadu_si256(qs.add(32 * c).cast()) };
            _mm512_and_si512(_mm512_srlv_epi16(_mm512_broadcast_i64x4(raw), shifts), mask)
        });
        // SAFETY: the caller passes 256 bytes at `dst`.
        unsafe { store_lane_order(n, dst) }
    }

    /// The 256 integers of a Q6_K block (210 bytes) in lane order at `dst`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn unpack_q6k(block: &[u8], dst: *mut u8) {
        let low4 = _mm512_set1_epi8(0x0F);
        let bits45 = _mm512_set1_epi8(0x30);
        let half = |lo: i16, hi: i16| {
            _mm512_inserti64x4::<1>(
                _mm512_castsi256_si512(_mm256_set1_epi16(lo)),
                _mm256_set1_epi16(hi),
            )
        };
        // Values 0..64 of a half take qh bits 0-1 and 2-3 up to bits 4-5;
        // values 64..128 take bits 4-5 and 6-7 there.
        let (up, down) = (half(4, 2), half(0, 2));
        let mut n = [_mm512_setzero_si512(); 4];
        for h in 0..2 {
            // SAFETY: a block has 128 bytes of low bits and 64 of high bits.
            let (ql, qh) = unsafe {
                (
                    _mm512_loadu_si512(block[64 * h..].as_ptr().cast()),
                    _mm512_broadcast_i64x4(_mm256_loadu_si256(
                        block[128 + 32 * h..].as_ptr().cast(),
                    )),
                )
            };
            let first = _mm512_and_si512(_mm512_sllv_epi16(qh, up), bits45);
            let second = _mm512_and_si512(_mm512_srlv_epi16(qh, down), bits45);
            n[2 * h] = _mm512_or_si512(_mm512_and_si512(ql, low4), first);
            n[2 * h + 1] =
                _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16::<4>(ql), low4), second);
        }
        // SAFETY: the caller passes 256 bytes at `dst`.
        unsafe { store_lane_order(n, dst) }
    }

    /// The row's unpacked span (superblocks `blocks` of the row) times the
    /// same values of tokens `t..t + TOKENS`.
    pub(super) fn dots(row: &Row, x: &Tokens, t: usize, blocks: Range<usize>) -> [f32; TOKENS] {
        check(row, x, t, TOKENS, &blocks);
        // SAFETY: the CPU has the features and every read is in bounds
        // (both checked above).
        unsafe { dots_vnni::<TOKENS>(row, x, t, blocks) }
    }

    /// The same for token `t` alone.
    pub(super) fn dot(row: &Row, x: &Tokens, t: usize, blocks: Range<usize>) -> f32 {
        check(row, x, t, 1, &blocks);
        // SAFETY: as in `dots`.
        unsafe { dots_vnni::<1>(row, x, t, blocks)[0] }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn dots_vnni<const N: usize>(
        row: &Row,
        x: &Tokens,
        t: usize,
        blocks: Range<usize>,
    ) -> [f32; N] {
        let per_token = x.inner / QK_K;
        let mut acc = [_mm512_setzero_ps(); N];
        for (i, b) in blocks.enumerate() {
            // SAFETY (all loads below): `check` proved that the row has the
            // span's superblocks of weights, scales and offsets and that
            // tokens `t..t + N` are quantized.
            let (w, scale, offset) = unsafe {
                let wp = row.w.as_ptr().add(i * QK_K);
                (
                    [0, 1, 2, 3].map(|k| _mm512_loadu_si512(wp.add(64 * k).cast())),
                    _mm512_loadu_ps(row.scale.as_ptr().add(i * GROUPS)),
                    _mm512_loadu_ps(row.offset.as_ptr().add(i * GROUPS)),
                )
            };
            for (j, acc) in acc.iter_mut().enumerate() {
                let first = (t + j) * per_token + b;
                let (q, sums, d) = unsafe {
                    let qp = x.qs.as_ptr().add(first * QK_K);
                    (
                        [0, 1, 2, 3].map(|k| _mm512_loadu_si512(qp.add(64 * k).cast())),
                        _mm512_loadu_ps(x.sums.as_ptr().add(first * GROUPS)),
                        *x.d.get_unchecked(first),
                    )
                };
                let i0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w[0], q[0]);
                let i1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w[1], q[1]);
                let i0 = _mm512_dpbusd_epi32(i0, w[2], q[2]);
                let i1 = _mm512_dpbusd_epi32(i1, w[3], q[3]);
                let f = _mm512_mul_ps(
                    _mm512_cvtepi32_ps(_mm512_add_epi32(i0, i1)),
                    _mm512_set1_ps(d),
                );
                *acc = _mm512_fmadd_ps(offset, sums, _mm512_fmadd_ps(f, scale, *acc));
            }
        }
        acc.map(|a| _mm512_reduce_add_ps(a))
    }
}

/// `x · Wᵀ` for the matrix `w` of `kind` (`rows` rows of whole blocks, as
/// bytes): `x.len()` rows of `rows` values, rows split across the threads.
pub(crate) fn gemm(kind: Kind, w: &[u8], rows: usize, x: &Tokens) -> Result<Vec<f32>> {
    let blocks = x.inner / QK_K;
    let row_bytes = row_bytes(kind, w, rows, x.inner)?;
    let n = x.len();
    let (vnni, avx2) = (has_vnni(), has_avx2());
    // Each value is summed by the one thread that computes its row.
    let out: Vec<AtomicU32> = (0..n * rows).map(|_| AtomicU32::new(0)).collect();
    let add = |t: usize, r: usize, y: f32| {
        let cell = &out[t * rows + r];
        let sum = f32::from_bits(cell.load(Ordering::Relaxed)) + y;
        cell.store(sum.to_bits(), Ordering::Relaxed);
    };
    let unit = kind.unit_bytes();
    candle_core::utils::barrier_pool().execute_chunked(rows, |range| {
        let mut row = Row::new(SPAN);
        for t0 in (0..n).step_by(TILE_TOKENS) {
            let t1 = n.min(t0 + TILE_TOKENS);
            for b0 in (0..blocks).step_by(SPAN) {
                let span = b0..blocks.min(b0 + SPAN);
                for r in range.clone() {
                    let weights = &w[r * row_bytes..(r + 1) * row_bytes];
                    let bytes = &weights[span.start * unit..row_bytes.min(span.end * unit)];
                    let mut t = t0;
                    #[cfg(target_arch = "x86_64")]
                    if vnni {
                        vnni::unpack(kind, bytes, &mut row);
                        while t + vnni::TOKENS <= t1 {
                            let ys = vnni::dots(&row, x, t, span.clone());
                            for (j, y) in ys.into_iter().enumerate() {
                                add(t + j, r, y);
                            }
                            t += vnni::TOKENS;
                        }
                        for t in t..t1 {
                            add(t, r, vnni::dot(&row, x, t, span.clone()));
                        }
                        continue;
                    }
                    #[cfg(target_arch = "x86_64")]
                    if avx2 {
                        avx2::unpack(kind, bytes, &mut row);
                        while t + avx2::TOKENS <= t1 {
                            let ys = avx2::gemm_dots(kind, &row, x, t, span.clone());
                            for (j, y) in ys.into_iter().enumerate() {
                                add(t + j, r, y);
                            }
                            t += avx2::TOKENS;
                        }
                        for t in t..t1 {
                            add(t, r, avx2::gemm_dot(kind, &row, x, t, span.clone()));
                        }
                        continue;
                    }
                    let _ = (vnni, avx2);
                    unpack_portable(kind, bytes, &mut row);
                    for t in t..t1 {
                        add(t, r, dot_portable(&row, x, t, span.clone()));
                    }
                }
            }
        }
    });
    Ok(floats(out))
}

#[cfg(test)]
mod tests {
    use super::super::blocks::padded_rows;
    use super::super::testing::{assert_near_plain, quantized, random, values};
    use super::*;
    use candle_core::quantized::GgmlDType;

    fn matrix(kind: Kind, rows: usize, inner: usize, seed: u64) -> candle_core::quantized::QTensor {
        let dtype = match kind {
            Kind::Q4K => GgmlDType::Q4K,
            Kind::Q6K => GgmlDType::Q6K,
            Kind::Q5_0 => GgmlDType::Q5_0,
            Kind::Q8_0 => GgmlDType::Q8_0,
        };
        quantized(dtype, rows, inner, seed)
    }

    #[test]
    fn lane_order_is_a_permutation_grouping_each_lane() {
        let mut seen = [false; QK_K];
        for v in 0..QK_K {
            let p = lane_position(v);
            assert!(!seen[p]);
            seen[p] = true;
            // Lane of the position within its 64-byte vector = group of v.
            assert_eq!((p % 64) / 4, v / GROUP);
        }
    }

    #[test]
    fn unpacked_rows_dequantize_like_candle() {
        // Q5_0 and Q8_0 rows of 896 values end in half a 256-value unit.
        for (kind, inner) in [
            (Kind::Q4K, 512),
            (Kind::Q6K, 512),
            (Kind::Q5_0, 896),
            (Kind::Q8_0, 896),
        ] {
            let rows = 4;
            let q = matrix(kind, rows, inner, 1);
            let bytes = q.data().unwrap().to_vec();
            let want = values(&q);
            let row_bytes = kind.row_bytes(inner).unwrap();
            let units = inner.div_ceil(QK_K);
            for r in 0..rows {
                let mut row = Row::new(units);
                unpack_portable(kind, &bytes[r * row_bytes..(r + 1) * row_bytes], &mut row);
                for v in 0..units * QK_K {
                    let (b, at) = (v / QK_K, v % QK_K);
                    let g = b * GROUPS + at / GROUP;
                    let w = row.w[b * QK_K + lane_position(at)] as f32;
                    // value = scale·q + offset / (token scale) per unit sum;
                    // zero past the row's end.
                    let got = row.scale[g] * w + row.offset[g];
                    let exact = if v < inner { want[r * inner + v] } else { 0.0 };
                    assert!(
                        (got - exact).abs() <= 1e-5 * (1.0 + exact.abs()),
                        "{kind:?} {r} {v}"
                    );
                }
                #[cfg(target_arch = "x86_64")]
                if has_vnni() {
                    let mut fast = Row::new(units);
                    vnni::unpack(kind, &bytes[r * row_bytes..(r + 1) * row_bytes], &mut fast);
                    assert_eq!(fast.w, row.w, "{kind:?} row {r}");
                    assert_eq!(fast.scale, row.scale);
                    assert_eq!(fast.offset, row.offset);
                }
                #[cfg(target_arch = "x86_64")]
                if avx2::cpu_has_avx2() {
                    let mut fast = Row::new(units);
                    avx2::unpack(kind, &bytes[r * row_bytes..(r + 1) * row_bytes], &mut fast);
                    assert_eq!(fast.w, row.w, "{kind:?} row {r}");
                    assert_eq!(fast.scale, row.scale);
                    assert_eq!(fast.offset, row.offset);
                }
            }
        }
    }

    #[test]
    fn products_match_a_plain_loop_and_the_portable_kernel() {
        // 37 tokens: a whole tile, then eight groups of four and one left
        // over; 5 units: a whole span and part of one (4.5 for the 32-value
        // blocks: a partial unit at the end).
        for (kind, inner) in [
            (Kind::Q4K, 5 * QK_K),
            (Kind::Q6K, 5 * QK_K),
            (Kind::Q5_0, 4 * QK_K + 128),
            (Kind::Q8_0, 4 * QK_K + 128),
        ] {
            let (rows, tokens) = (40, TILE_TOKENS + 5);
            let q = matrix(kind, rows, inner, 2);
            let bytes = q.data().unwrap().to_vec();
            let xs = random(tokens * inner, 3);
            let (padded, width) = padded_rows(&xs, inner);
            let x = Tokens::quantize(&padded, width).unwrap();
            assert_eq!(x.len(), tokens);
            let got = gemm(kind, &bytes, rows, &x).unwrap();
            assert_near_plain(&got, &q, &xs, rows, &format!("{kind:?}"));
            // Integer sums are exact: the SIMD and portable kernels differ
            // only in the order of float sums.
            let scale = got.iter().fold(0f32, |m, y| m.max(y.abs()));
            let row_bytes = kind.row_bytes(inner).unwrap();
            for r in 0..rows {
                let mut row = Row::new(width / QK_K);
                unpack_portable(kind, &bytes[r * row_bytes..(r + 1) * row_bytes], &mut row);
                for t in 0..tokens {
                    let portable = dot_portable(&row, &x, t, 0..width / QK_K);
                    assert!((got[t * rows + r] - portable).abs() <= 1e-5 * scale);
                    // The AVX2 kernel alone and four tokens at a time, which
                    // `gemm` takes only on the AVX2 path.
                    #[cfg(target_arch = "x86_64")]
                    if avx2::cpu_has_avx2() {
                        let one = avx2::gemm_dot(kind, &row, &x, t, 0..width / QK_K);
                        assert!((one - portable).abs() <= 1e-5 * scale, "{kind:?} {r} {t}");
                        if t + avx2::TOKENS <= tokens {
                            let four = avx2::gemm_dots(kind, &row, &x, t, 0..width / QK_K);
                            assert_eq!(four[0], one, "{kind:?} {r} {t}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn wrong_sizes_are_errors() {
        assert!(Tokens::quantize(&[1.0; 300], 300).is_err());
        assert!(Tokens::quantize(&[1.0; 700], 256).is_err());
        let x = Tokens::quantize(&[1.0; 512], 256).unwrap();
        let bytes = matrix(Kind::Q4K, 8, 256, 4).data().unwrap().to_vec();
        assert!(gemm(Kind::Q4K, &bytes, 7, &x).is_err());
        assert!(gemm(Kind::Q6K, &bytes, 8, &x).is_err());
        assert_eq!(gemm(Kind::Q4K, &bytes, 8, &x).unwrap().len(), 16);
        // 896-value Q8_0 rows need inputs padded to 1024, not 768.
        let bytes = matrix(Kind::Q8_0, 16, 896, 5).data().unwrap().to_vec();
        let x = Tokens::quantize(&[1.0; 768], 768).unwrap();
        assert!(gemm(Kind::Q8_0, &bytes, 16, &x).is_err());
        let x = Tokens::quantize(&[1.0; 1024], 1024).unwrap();
        assert_eq!(gemm(Kind::Q8_0, &bytes, 16, &x).unwrap().len(), 16);
    }
}
