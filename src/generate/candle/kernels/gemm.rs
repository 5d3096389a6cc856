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
//! AVX-512 VNNI (checked at run time) the AVX2 kernel of
//! [`super::avx2_rows`] takes eight rows at a time, and without AVX2 a
//! portable loop computes the same integer sums.
//!
//! On this project's 2-core AVX-512 machine this runs at about half of
//! candle's AMX tiles (prompt tokens/s); [`super::amx`] is used where AMX is
//! available. Upstream, this is candle's `QMatMul` keeping K-quant matrices
//! on their compact blocks for several tokens, as `repack_x86::select`
//! already does for a single Q6_K row.

use std::ops::Range;
use std::sync::atomic::{AtomicU32, Ordering};

use super::blocks::{
    check_rows, floats, quantize_block, row_bytes, span, span_scales, unpack_block, Kind, QK_K,
};
use super::path::{has_avx2, has_vnni};
#[cfg(target_arch = "x86_64")]
use super::{avx2, avx2_rows};
use crate::error::Result;

/// Values per group: each group has one scale and one offset.
const GROUP: usize = 16;
/// Groups per superblock, one per 32-bit lane of a 512-bit vector.
pub(super) const GROUPS: usize = QK_K / GROUP;
/// Tokens multiplied with each unpacked span of a row.
const TILE_TOKENS: usize = 32;
/// Superblocks of a row unpacked at a time by the AVX-512 VNNI kernel. The
/// tile's inputs for them (32 tokens x 8 superblocks of 8-bit values,
/// 64 KiB) stay in the core's second-level cache, and the unpacked rows
/// (2 x 2 KiB) in the first.
const SPAN: usize = 8;
/// The same for the portable kernel, which unpacks one row at a time
/// (128 KiB of inputs).
const SPAN_ONE_ROW: usize = 16;

/// The same for the AVX2 kernel of eight rows at a time
/// ([`avx2_rows`]): eight rows' span of 8 superblocks is 16 KiB.
const SPAN_EIGHT_ROWS: usize = 8;
/// Tokens multiplied with each unpacked span of eight rows. That kernel
/// reads each token's bytes once for eight rows, so a tile's inputs
/// (128 tokens × 8 superblocks, 256 KiB) may stay in the second-level cache
/// while unpacking the rows, paid once per tile, costs a quarter of what
/// it would with 32 tokens.
const TILE_EIGHT_ROWS: usize = 128;

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
    /// Minus the sum of each group's integers, 16 per superblock.
    pub(super) neg: Vec<i32>,
    /// The sum of each group's integers, then of each 32-value half of a
    /// group pair: [`PAIR_SUMS`] per superblock.
    pub(super) pair_sums: Vec<i16>,
}

/// Sums in [`Tokens::pair_sums`] per superblock: 16 groups, then 8 pairs.
pub(super) const PAIR_SUMS: usize = GROUPS + GROUPS / 2;

/// One token's share of [`Tokens`]: its integers, scales and sums.
pub(super) type TokenParts<'a> = (
    &'a mut [i8],
    &'a mut [f32],
    &'a mut [f32],
    &'a mut [i32],
    &'a mut [i16],
);

impl Tokens {
    /// Quantizes `x`, `tokens` rows of `inner` values each (whole
    /// superblocks), the tokens shared across the threads.
    pub(crate) fn quantize(x: &[f32], inner: usize) -> Result<Self> {
        check_rows(x, inner)?;
        let blocks = x.len() / QK_K;
        let mut out = Self {
            inner,
            qs: vec![0; x.len()],
            d: vec![0.0; blocks],
            sums: vec![0.0; blocks * GROUPS],
            neg: vec![0; blocks * GROUPS],
            pair_sums: vec![0; blocks * PAIR_SUMS],
        };
        let per = inner / QK_K;
        let parts: Vec<std::sync::Mutex<TokenParts>> = out
            .qs
            .chunks_mut(inner)
            .zip(out.d.chunks_mut(per))
            .zip(out.sums.chunks_mut(per * GROUPS))
            .zip(out.neg.chunks_mut(per * GROUPS))
            .zip(out.pair_sums.chunks_mut(per * PAIR_SUMS))
            .map(|((((q, d), s), n), p)| std::sync::Mutex::new((q, d, s, n, p)))
            .collect();
        #[cfg(target_arch = "x86_64")]
        let avx2 = has_avx2();
        candle_core::utils::barrier_pool().execute_chunked(parts.len(), |range| {
            for t in range {
                let Ok(mut part) = parts[t].lock() else {
                    continue;
                };
                let token = &x[t * inner..(t + 1) * inner];
                #[cfg(target_arch = "x86_64")]
                if avx2 {
                    avx2::quantize_token(token, &mut part);
                    continue;
                }
                quantize_token(token, &mut part, |natural, dst| {
                    for (v, &q) in natural.iter().enumerate() {
                        dst[lane_position(v)] = q;
                    }
                });
            }
        });
        drop(parts);
        Ok(out)
    }

    /// Number of tokens.
    pub(crate) fn len(&self) -> usize {
        self.qs.len() / self.inner
    }
}

/// Quantizes one token's values into its share of [`Tokens`], `to_lanes`
/// storing each superblock's integers in lane order.
#[inline(always)]
pub(super) fn quantize_token(
    token: &[f32],
    (qs, ds, sums, neg, pairs): &mut TokenParts,
    to_lanes: impl Fn(&[i8; QK_K], &mut [i8]),
) {
    let mut natural = [0i8; QK_K];
    for (b, block) in token.chunks_exact(QK_K).enumerate() {
        let d = quantize_block(block, &mut natural);
        ds[b] = d;
        to_lanes(&natural, &mut qs[b * QK_K..(b + 1) * QK_K]);
        let pairs = &mut pairs[b * PAIR_SUMS..(b + 1) * PAIR_SUMS];
        for (g, group) in natural.chunks_exact(GROUP).enumerate() {
            let sum = group.iter().map(|&q| q as i32).sum::<i32>();
            sums[b * GROUPS + g] = d * sum as f32;
            neg[b * GROUPS + g] = -sum;
            // At most 16 · 127 = 2,032; a pair at most 4,064.
            pairs[g] = sum as i16;
        }
        for s in 0..GROUPS / 2 {
            pairs[GROUPS + s] = pairs[2 * s] + pairs[2 * s + 1];
        }
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
    assert!(units * GROUPS <= x.neg.len());
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
    /// Rows multiplied together in [`dots`].
    pub(super) const ROWS: usize = 2;

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

    /// [`super::unpack_portable`] with AVX-512.
    pub(super) fn unpack(kind: Kind, row: &[u8], out: &mut Row) {
        assert!(
            super::super::path::cpu_has_vnni(),
            "the AVX-512 VNNI kernels need a CPU that has them"
        );
        if matches!(kind, Kind::Q5_0 | Kind::Q8_0) {
            // Every CPU with AVX-512 VNNI has AVX2, FMA and F16C.
            return super::avx2::unpack(kind, row, out);
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
            super::avx2::group_scales(kind, block, out, b);
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

    /// The unpacked spans of `rows` (superblocks `blocks` of each, all of
    /// `kind`) times the same values of tokens `tokens` (at most
    /// [`TILE_TOKENS`](super::TILE_TOKENS)): `out[r][t - tokens.start]`.
    /// `R` rows by [`TOKENS`] tokens at a time (then one token at a time),
    /// so that each load of 64 weight bytes serves four products and each
    /// load of 64 token bytes `R`.
    pub(super) fn tile<const R: usize>(
        kind: Kind,
        rows: [&Row; R],
        x: &Tokens,
        tokens: Range<usize>,
        blocks: Range<usize>,
    ) -> [[f32; super::TILE_TOKENS]; R] {
        assert!(
            super::super::path::cpu_has_vnni(),
            "the AVX-512 VNNI kernels need a CPU that has them"
        );
        assert!(tokens.len() <= super::TILE_TOKENS);
        for row in rows {
            super::check_span(row, x, tokens.start, tokens.len(), &blocks);
        }
        // SAFETY: the CPU has the features and every read is in bounds
        // (both checked above).
        unsafe {
            match kind {
                Kind::Q4K => tile_vnni::<R, 0>(rows, x, tokens, blocks),
                Kind::Q5_0 => tile_vnni::<R, 4>(rows, x, tokens, blocks),
                Kind::Q6K => tile_vnni::<R, 5>(rows, x, tokens, blocks),
                Kind::Q8_0 => tile_vnni::<R, 7>(rows, x, tokens, blocks),
            }
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn tile_vnni<const R: usize, const BIAS: u32>(
        rows: [&Row; R],
        x: &Tokens,
        tokens: Range<usize>,
        blocks: Range<usize>,
    ) -> [[f32; super::TILE_TOKENS]; R] {
        let mut out = [[0f32; super::TILE_TOKENS]; R];
        let mut t = tokens.start;
        while t < tokens.end {
            let at = t - tokens.start;
            // SAFETY: the caller checked tokens `tokens` and the spans.
            if t + TOKENS <= tokens.end {
                let ys = unsafe { dots_vnni::<R, TOKENS, BIAS>(rows, x, t, blocks.clone()) };
                for (out, ys) in out.iter_mut().zip(ys) {
                    out[at..at + TOKENS].copy_from_slice(&ys);
                }
                t += TOKENS;
            } else {
                let ys = unsafe { dots_vnni::<R, 1, BIAS>(rows, x, t, blocks.clone()) };
                for (out, [y]) in out.iter_mut().zip(ys) {
                    out[at] = y;
                }
                t += 1;
            }
        }
        out
    }

    /// `BIAS` is the base-2 logarithm of a bias that each group's offset is
    /// minus its scale times (Q5_0 16, Q6_K 32, Q8_0 128; 0 for Q4_K, whose
    /// offsets are its mins). With a bias, each group's integer sum starts at
    /// minus the bias times the token's group sum, so the offset needs no
    /// float operation of its own (at most 16 · 255 · 127 + 128 · 16 · 127 in
    /// 32 bits).
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn dots_vnni<const R: usize, const N: usize, const BIAS: u32>(
        rows: [&Row; R],
        x: &Tokens,
        t: usize,
        blocks: Range<usize>,
    ) -> [[f32; N]; R] {
        let per_token = x.inner / QK_K;
        let mut acc = [[_mm512_setzero_ps(); N]; R];
        // Plain loops only: closures here are not always inlined, and each
        // call would take its vectors through memory.
        for (i, b) in blocks.enumerate() {
            let mut first = [0usize; N];
            for (j, first) in first.iter_mut().enumerate() {
                *first = (t + j) * per_token + b;
            }
            // SAFETY (all loads below): `dots` proved that each row has the
            // span's superblocks of weights, scales and offsets and that
            // tokens `t..t + N` are quantized.
            let mut start = [_mm512_setzero_si512(); N];
            if BIAS != 0 {
                for (start, &first) in start.iter_mut().zip(&first) {
                    let neg =
                        unsafe { _mm512_loadu_si512(x.neg.as_ptr().add(first * GROUPS).cast()) };
                    *start = _mm512_slli_epi32::<BIAS>(neg);
                }
            }
            let mut ints = [start; R];
            for k in 0..4 {
                let mut w = [_mm512_setzero_si512(); R];
                for (w, row) in w.iter_mut().zip(&rows) {
                    *w =
                        unsafe { _mm512_loadu_si512(row.w.as_ptr().add(i * QK_K + 64 * k).cast()) };
                }
                for (j, &first) in first.iter().enumerate() {
                    let q = unsafe {
                        _mm512_loadu_si512(x.qs.as_ptr().add(first * QK_K + 64 * k).cast())
                    };
                    for (ints, &w) in ints.iter_mut().zip(&w) {
                        ints[j] = _mm512_dpbusd_epi32(ints[j], w, q);
                    }
                }
            }
            for ((acc, ints), row) in acc.iter_mut().zip(&ints).zip(&rows) {
                let scale = unsafe { _mm512_loadu_ps(row.scale.as_ptr().add(i * GROUPS)) };
                for ((acc, &ints), &first) in acc.iter_mut().zip(ints).zip(&first) {
                    let d = unsafe { *x.d.get_unchecked(first) };
                    let f = _mm512_mul_ps(_mm512_cvtepi32_ps(ints), _mm512_set1_ps(d));
                    *acc = _mm512_fmadd_ps(f, scale, *acc);
                    if BIAS == 0 {
                        let (offset, sums) = unsafe {
                            (
                                _mm512_loadu_ps(row.offset.as_ptr().add(i * GROUPS)),
                                _mm512_loadu_ps(x.sums.as_ptr().add(first * GROUPS)),
                            )
                        };
                        *acc = _mm512_fmadd_ps(offset, sums, *acc);
                    }
                }
            }
        }
        let mut out = [[0f32; N]; R];
        for (out, acc) in out.iter_mut().zip(&acc) {
            for (out, &acc) in out.iter_mut().zip(acc) {
                *out = _mm512_reduce_add_ps(acc);
            }
        }
        out
    }
}

/// `x · Wᵀ` for the matrix `w` of `kind` (`rows` rows of whole blocks, as
/// bytes): `x.len()` rows of `rows` values, rows split across the threads.
pub(crate) fn gemm(kind: Kind, w: &[u8], rows: usize, x: &Tokens) -> Result<Vec<f32>> {
    let blocks = x.inner / QK_K;
    let row_bytes = row_bytes(kind, w, rows, x.inner)?;
    let n = x.len();
    let (vnni, avx2) = (has_vnni(), has_avx2());
    // Each value is written by the one thread that computes its row.
    let out: Vec<AtomicU32> = (0..n * rows).map(|_| AtomicU32::new(0)).collect();
    let unit = kind.unit_bytes();
    let bytes_of = |r: usize, span: &Range<usize>| {
        let weights = &w[r * row_bytes..(r + 1) * row_bytes];
        &weights[span.start * unit..row_bytes.min(span.end * unit)]
    };
    candle_core::utils::barrier_pool().execute_chunked(rows, |range| {
        #[cfg(target_arch = "x86_64")]
        let eight = avx2 && !vnni;
        #[cfg(not(target_arch = "x86_64"))]
        let eight = {
            let _ = avx2;
            false
        };
        // The one-row buffers: both for the VNNI kernel, the first for the
        // portable one, none for the AVX2 kernel.
        let mut pair = [
            Row::new(if eight { 0 } else { SPAN_ONE_ROW }),
            Row::new(if vnni { SPAN } else { 0 }),
        ];
        #[cfg(target_arch = "x86_64")]
        let mut rows8 = avx2_rows::Rows::new(if eight { SPAN_EIGHT_ROWS } else { 0 });
        let span_len = if vnni {
            SPAN
        } else if eight {
            SPAN_EIGHT_ROWS
        } else {
            SPAN_ONE_ROW
        };
        // The tile's sums, token by token over the thread's rows, so that
        // they reach `out` as runs of neighbouring values.
        let width = range.len();
        if width == 0 {
            return;
        }
        let tile = if eight { TILE_EIGHT_ROWS } else { TILE_TOKENS };
        let mut sums = vec![0f32; tile.min(n) * width];
        for t0 in (0..n).step_by(tile) {
            let t1 = n.min(t0 + tile);
            sums.fill(0.0);
            let mut add =
                |t: usize, r: usize, y: f32| sums[(t - t0) * width + r - range.start] += y;
            for b0 in (0..blocks).step_by(span_len) {
                let span = b0..blocks.min(b0 + span_len);
                #[cfg(target_arch = "x86_64")]
                if vnni {
                    for r0 in range.clone().step_by(vnni::ROWS) {
                        let [a, b] = &mut pair;
                        vnni::unpack(kind, bytes_of(r0, &span), a);
                        let mut put = |r: usize, ys: &[f32; TILE_TOKENS]| {
                            for (t, &y) in (t0..t1).zip(ys) {
                                add(t, r, y);
                            }
                        };
                        if r0 + 1 < range.end {
                            vnni::unpack(kind, bytes_of(r0 + 1, &span), b);
                            let [ya, yb] = vnni::tile(kind, [a, b], x, t0..t1, span.clone());
                            put(r0, &ya);
                            put(r0 + 1, &yb);
                        } else {
                            let [y] = vnni::tile(kind, [a], x, t0..t1, span.clone());
                            put(r0, &y);
                        }
                    }
                    continue;
                }
                #[cfg(target_arch = "x86_64")]
                if eight {
                    for r0 in range.clone().step_by(avx2_rows::ROWS) {
                        let r1 = range.end.min(r0 + avx2_rows::ROWS);
                        let mut bytes: [&[u8]; avx2_rows::ROWS] = [&[]; avx2_rows::ROWS];
                        for (b, r) in bytes.iter_mut().zip(r0..r1) {
                            *b = bytes_of(r, &span);
                        }
                        avx2_rows::unpack(kind, &bytes[..r1 - r0], &mut rows8);
                        avx2_rows::products(&rows8, x, t0..t1, span.clone(), |t, ys| {
                            for (r, y) in (r0..r1).zip(ys) {
                                add(t, r, y);
                            }
                        });
                    }
                    continue;
                }
                let row = &mut pair[0];
                for r in range.clone() {
                    unpack_portable(kind, bytes_of(r, &span), row);
                    for t in t0..t1 {
                        add(t, r, dot_portable(row, x, t, span.clone()));
                    }
                }
            }
            for (t, sums) in (t0..t1).zip(sums.chunks_exact(width)) {
                for (cell, y) in out[t * rows + range.start..].iter().zip(sums) {
                    cell.store(y.to_bits(), Ordering::Relaxed);
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
        // over; 17 units: two whole spans of the VNNI kernel and part of a
        // third, one whole span of the one-row kernels and part of another
        // (16.5 for the 32-value blocks: a partial unit at the end).
        for (kind, inner) in [
            (Kind::Q4K, 17 * QK_K),
            (Kind::Q6K, 17 * QK_K),
            (Kind::Q5_0, 16 * QK_K + 128),
            (Kind::Q8_0, 16 * QK_K + 128),
        ] {
            // An odd number of rows: one thread's share ends in a single row.
            let (rows, tokens) = (41, TILE_TOKENS + 5);
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
                    // The AVX2 kernel of eight rows, whichever path is in
                    // use: the rows from `r` on (zeros past the last), four
                    // tokens at a time and one alone give each token the
                    // same value.
                    #[cfg(target_arch = "x86_64")]
                    if avx2::cpu_has_avx2() && t == 0 {
                        let mut eight = avx2_rows::Rows::new(width / QK_K);
                        let last = rows.min(r + avx2_rows::ROWS);
                        let spans: Vec<&[u8]> = (r..last)
                            .map(|r| &bytes[r * row_bytes..(r + 1) * row_bytes])
                            .collect();
                        avx2_rows::unpack(kind, &spans, &mut eight);
                        let blocks = 0..width / QK_K;
                        let mut all = vec![[0f32; avx2_rows::ROWS]; tokens];
                        avx2_rows::products(&eight, &x, 0..tokens, blocks.clone(), |u, ys| {
                            all[u] = ys;
                        });
                        for (u, ys) in all.iter().enumerate() {
                            avx2_rows::products(&eight, &x, u..u + 1, blocks.clone(), |_, one| {
                                assert_eq!(&one, ys, "{kind:?} rows from {r}, token {u}");
                            });
                            for (k, &y) in ys.iter().enumerate() {
                                if r + k >= rows {
                                    assert_eq!(y, 0.0, "{kind:?} a missing row");
                                    continue;
                                }
                                let mut row = Row::new(width / QK_K);
                                let at = (r + k) * row_bytes;
                                unpack_portable(kind, &bytes[at..at + row_bytes], &mut row);
                                let want = dot_portable(&row, &x, u, blocks.clone());
                                assert!((y - want).abs() <= 1e-5 * scale, "{kind:?} {r} {k} {u}");
                            }
                        }
                    }
                    // The VNNI kernel for one row and for two rows, over
                    // four tokens and then one: each product in the same
                    // order.
                    #[cfg(target_arch = "x86_64")]
                    if has_vnni() && t % TILE_TOKENS == 0 {
                        let tokens = t..tokens.min(t + TILE_TOKENS);
                        let blocks = 0..width / QK_K;
                        let [one] = vnni::tile(kind, [&row], &x, tokens.clone(), blocks.clone());
                        let mut next = Row::new(width / QK_K);
                        let at = (r + 1) % rows * row_bytes;
                        unpack_portable(kind, &bytes[at..at + row_bytes], &mut next);
                        let [first, second] =
                            vnni::tile(kind, [&row, &next], &x, tokens.clone(), blocks.clone());
                        let [below] = vnni::tile(kind, [&next], &x, tokens.clone(), blocks);
                        assert_eq!(first, one, "{kind:?} {r} {t}");
                        assert_eq!(second, below, "{kind:?} {r} {t}");
                        for (u, y) in tokens.zip(one) {
                            let portable = dot_portable(&row, &x, u, 0..width / QK_K);
                            assert!((y - portable).abs() <= 1e-5 * scale, "{kind:?} {r} {u}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn each_token_gets_the_same_values_in_a_pass_of_any_size() {
        let _lock = super::super::testing::path_lock();
        for (kind, inner) in [
            (Kind::Q4K, 2 * QK_K),
            (Kind::Q6K, 2 * QK_K),
            (Kind::Q5_0, 64),
            (Kind::Q8_0, 128),
        ] {
            let rows = 19;
            let bytes = matrix(kind, rows, inner, 7).data().unwrap().to_vec();
            let xs = random(70 * inner, 8);
            let (padded, width) = padded_rows(&xs, inner);
            let all = gemm(
                kind,
                &bytes,
                rows,
                &Tokens::quantize(&padded, width).unwrap(),
            )
            .unwrap();
            for (start, end) in [(0, 1), (1, 9), (9, 45), (45, 70)] {
                let part = &padded[start * width..end * width];
                let x = Tokens::quantize(part, width).unwrap();
                let got = gemm(kind, &bytes, rows, &x).unwrap();
                assert_eq!(
                    got,
                    all[start * rows..end * rows],
                    "{kind:?} {start}..{end}"
                );
            }
        }
    }

    #[test]
    fn tokens_quantize_alike_on_every_path() {
        use super::super::path::{force, in_use, KernelPath};
        let _lock = super::super::testing::path_lock();
        let before = in_use();
        // Values with exact halves to round, and a zero superblock.
        let mut xs = random(5 * 1024, 9);
        xs[..QK_K].iter_mut().for_each(|v| *v = 0.0);
        // A scale of -1: halves are rounded away from zero.
        xs[QK_K..QK_K + 4].copy_from_slice(&[127.0, 0.5, -1.5, 2.5]);
        let quantize = |path| {
            force(path).unwrap();
            Tokens::quantize(&xs, 1024).unwrap()
        };
        let plain = quantize(KernelPath::Portable);
        for path in super::super::path::available_paths() {
            let got = quantize(path);
            assert_eq!(got.qs, plain.qs, "{path:?}");
            assert_eq!(got.d, plain.d, "{path:?}");
            assert_eq!(got.sums, plain.sums, "{path:?}");
            assert_eq!(got.neg, plain.neg, "{path:?}");
        }
        assert_eq!(plain.qs[QK_K..QK_K + 4], [-127, -1, 2, -3]);
        assert_eq!(plain.d[1], -1.0);
        force(before).unwrap();
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
