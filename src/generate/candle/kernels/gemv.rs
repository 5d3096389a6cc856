//! One-token products over compact Q4_K, Q6_K, Q5_0 and Q8_0 blocks.
//!
//! Decoding reads every weight once per token, so it is bound by the bytes
//! of the weights; candle's tiled kernels repack each Q4_K matrix into
//! 16-row tiles of 6 bits a weight against 4.5 in the file, a second copy
//! beside the file's blocks.
//!
//! Here a one-token product reads the compact blocks as the file stores them.
//! The input is quantized once per token the way ggml's Q8_K does (one scale
//! per 256 values, integers in -127..=127, sums per 32 values for Q4_K's
//! mins and per 16 for Q6_K's offset of 32). On x86-64 with AVX-512 VNNI
//! (checked at run time) each 64 weights of a block are unpacked into bytes
//! (Q4_K: one mask or shift of 64 bytes of nibbles; Q6_K: nibbles and two
//! high bits merged), multiplied with 64 input bytes by `vpmaddubsw` (pairs
//! summed in 16 bits) and then with their scales by `vpdpwssd`; Q5_0 and
//! Q8_0 blocks go in pairs, 64 unsigned bytes (the integers plus a bias) in
//! one `vpdpbusd` that starts from minus the bias times the input sums, then
//! each block's scale in floats. The next blocks are prefetched a fixed
//! distance ahead, without which a decode
//! step's products ran at about two thirds of the memory bandwidth on a
//! 2-core AVX-512 machine. Elsewhere a portable loop computes the same
//! integer sums. Rows are split across candle's own worker pool, the one its
//! kernels use: a second pool beside it would compete with candle's workers,
//! which spin between operations.
//!
//! Upstream, this is a `vec_dot` for `BlockQ4K` and `BlockQ6K` in
//! `candle-core/src/quantized/avx.rs` with AVX-512 VNNI and prefetching, and
//! `repack_x86::select` keeping single-row Q4_K products on the compact
//! blocks, as it already does for Q6_K.

use std::sync::atomic::{AtomicU32, Ordering};

use super::blocks::{
    floats, quantize_block, row_bytes, span, span_scales, unpack_block, Kind, QK_K,
};
use super::path::{has_avx2, has_vnni};
use crate::error::{Error, Result};

/// One input row quantized like ggml's Q8_K.
pub(crate) struct Q8K {
    /// Scale of each 256-value block.
    pub(super) d: Vec<f32>,
    /// The integers, 256 per block.
    pub(super) qs: Vec<i8>,
    /// The same integers in the order the AVX-512 kernel reads them (see
    /// [`PAIRED`]).
    pub(super) paired: Vec<i8>,
    /// Sum of each 32 integers (8 per block), for Q4_K's mins.
    pub(super) sums: Vec<i32>,
    /// Sum of each 16 integers (16 per block), for Q6_K's offset.
    pub(super) sums16: Vec<i32>,
    /// For each 64 integers, 16 words: minus the sum of the first 32 in word
    /// 0 and of the second 32 in word 8, zeros elsewhere (the start of the
    /// integer sums of a pair of Q5_0 or Q8_0 blocks, times their bias).
    pub(super) pair_sums: Vec<i32>,
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
            sums16: Vec::with_capacity(blocks * 16),
            pair_sums: Vec::with_capacity(blocks * 64),
        };
        for block in x.chunks_exact(QK_K) {
            let start = out.qs.len();
            out.qs.resize(start + QK_K, 0);
            out.d.push(quantize_block(block, &mut out.qs[start..]));
            for sub in PAIRED {
                let at = start + 32 * sub;
                out.paired.extend_from_slice(&out.qs[at..at + 32]);
            }
            let sums16: Vec<i32> = out.qs[start..]
                .chunks_exact(16)
                .map(|c| c.iter().map(|&q| q as i32).sum())
                .collect();
            out.sums.extend(sums16.chunks_exact(2).map(|p| p[0] + p[1]));
            out.sums16.extend(sums16);
            let sums = &out.sums[out.sums.len() - 8..];
            for pair in sums.chunks_exact(2) {
                let mut words = [0i32; 16];
                (words[0], words[8]) = (-pair[0], -pair[1]);
                out.pair_sums.extend_from_slice(&words);
            }
        }
        Ok(out)
    }

    /// Values in the row.
    pub(crate) fn len(&self) -> usize {
        self.qs.len()
    }
}

/// One row of `kind` blocks times `x`, with plain loops: per scale group,
/// its scale times the integer sum, less its offset times the input sum.
fn dot_portable(kind: Kind, row: &[u8], x: &Q8K) -> f32 {
    let k = span(kind);
    let mut acc = 0f32;
    let mut q = [0u8; QK_K];
    for (b, unit) in row.chunks(kind.unit_bytes()).enumerate() {
        unpack_block(kind, unit, &mut q);
        let q8 = &x.qs[b * QK_K..(b + 1) * QK_K];
        let mut part = 0f32;
        span_scales(kind, unit, |s, scale, min| {
            let w = &q[k * s..k * (s + 1)];
            let isum: i32 = w
                .iter()
                .zip(&q8[k * s..k * (s + 1)])
                .map(|(&w, &v)| w as i32 * v as i32)
                .sum();
            let (xsum, offset) = match kind {
                Kind::Q6K => (x.sums16[b * 16 + s], 32.0 * scale),
                _ => (x.sums[b * 8 + s], min),
            };
            part += scale * isum as f32 - offset * xsum as f32;
        });
        acc += x.d[b] * part;
    }
    acc
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod vnni {
    use super::super::blocks::prefetch_ahead;
    use super::{Kind, Q8K, QK_K};
    use std::arch::x86_64::*;

    /// Checks what the kernels assume of `row` and `x`: the CPU has AVX-512
    /// VNNI, and `x` has every value the row's blocks are multiplied with.
    fn check(kind: Kind, row: &[u8], x: &Q8K) {
        assert!(
            super::super::path::cpu_has_vnni(),
            "the AVX-512 VNNI product needs a CPU that has it"
        );
        let bytes = kind.block_bytes();
        let blocks = row.len() / bytes;
        let units = row.len().div_ceil(kind.unit_bytes());
        assert!(row.len().is_multiple_of(bytes) && units * QK_K <= x.qs.len());
        assert!(x.paired.len() == x.qs.len() && units * 16 <= x.sums16.len());
        assert!(x.pair_sums.len() == x.qs.len() / 4);
        // The 32-value blocks go in pairs.
        assert!(kind.block_values() == QK_K || blocks.is_multiple_of(2));
    }

    /// [`super::dot_portable`] with AVX-512 VNNI.
    pub(super) fn dot(kind: Kind, row: &[u8], x: &Q8K) -> f32 {
        check(kind, row, x);
        // SAFETY: the CPU has the features the kernels are compiled for
        // (checked above), and every block they read is in bounds (their
        // loads stay within `row`, `x.qs`, `x.paired` and `x.sums16`, whose
        // lengths are checked above).
        unsafe {
            match kind {
                Kind::Q4K => dot_q4k(row, x),
                Kind::Q6K => dot_q6k(row, x),
                Kind::Q5_0 => dot_pairs::<true>(row, x),
                Kind::Q8_0 => dot_pairs::<false>(row, x),
            }
        }
    }

    /// [`dot`] of one row with each of `xs`, into `out` (one value per
    /// input). Rows of every type are unpacked once for up to four inputs
    /// (for Q5_0 and Q8_0 the unpacking costs as much as the products).
    pub(super) fn dots(kind: Kind, row: &[u8], xs: &[Q8K], out: &mut [f32]) {
        assert!(out.len() == xs.len());
        for x in xs {
            check(kind, row, x);
        }
        if let Kind::Q4K | Kind::Q6K = kind {
            for (xs, out) in xs.chunks(4).zip(out.chunks_mut(4)) {
                // SAFETY: as in `dot`: every input is checked above.
                unsafe {
                    match xs {
                        [a, b, c, d] => out.copy_from_slice(&superblocks(kind, row, [a, b, c, d])),
                        [a, b, c] => out.copy_from_slice(&superblocks(kind, row, [a, b, c])),
                        [a, b] => out.copy_from_slice(&superblocks(kind, row, [a, b])),
                        [a] => out[0] = dot(kind, row, a),
                        _ => {}
                    }
                }
            }
            return;
        }
        let q5 = kind == Kind::Q5_0;
        for (xs, out) in xs.chunks(4).zip(out.chunks_mut(4)) {
            // SAFETY: as in `dot`: every input is checked above.
            unsafe {
                match (xs, q5) {
                    ([a, b, c, d], true) => {
                        out.copy_from_slice(&dot_pairs_many::<true, 4>(row, [a, b, c, d]))
                    }
                    ([a, b, c, d], false) => {
                        out.copy_from_slice(&dot_pairs_many::<false, 4>(row, [a, b, c, d]))
                    }
                    ([a, b, c], true) => {
                        out.copy_from_slice(&dot_pairs_many::<true, 3>(row, [a, b, c]))
                    }
                    ([a, b, c], false) => {
                        out.copy_from_slice(&dot_pairs_many::<false, 3>(row, [a, b, c]))
                    }
                    ([a, b], true) => out.copy_from_slice(&dot_pairs_many::<true, 2>(row, [a, b])),
                    ([a, b], false) => {
                        out.copy_from_slice(&dot_pairs_many::<false, 2>(row, [a, b]))
                    }
                    ([a], true) => out[0] = dot_pairs::<true>(row, a),
                    ([a], false) => out[0] = dot_pairs::<false>(row, a),
                    _ => {}
                }
            }
        }
    }

    /// [`dot`] of each of the `out.len()` rows of `row_bytes` in `rows`
    /// with `x`, into `out`: one call for a thread's share of a matrix, so
    /// that a kernel's constants are made once, not for every row.
    pub(super) fn dot_rows(kind: Kind, rows: &[u8], row_bytes: usize, x: &Q8K, out: &mut [f32]) {
        assert!(rows.len() == row_bytes * out.len());
        let Some(first) = rows.get(..row_bytes).filter(|r| !r.is_empty()) else {
            return;
        };
        check(kind, first, x);
        // SAFETY: as in `dot`: every row is as long as the one checked.
        unsafe {
            match kind {
                Kind::Q4K => q4k_rows(rows, row_bytes, x, out),
                Kind::Q6K => q6k_rows(rows, row_bytes, x, out),
                Kind::Q5_0 => pairs_rows::<true>(rows, row_bytes, x, out),
                Kind::Q8_0 => pairs_rows::<false>(rows, row_bytes, x, out),
            }
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    fn q4k_rows(rows: &[u8], row_bytes: usize, x: &Q8K, out: &mut [f32]) {
        for (row, y) in rows.chunks_exact(row_bytes).zip(out) {
            // SAFETY: the CPU has the features (checked by `dot_rows`).
            *y = unsafe { q4k_body::<1>(row, [x]) }[0];
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    fn q6k_rows(rows: &[u8], row_bytes: usize, x: &Q8K, out: &mut [f32]) {
        for (row, y) in rows.chunks_exact(row_bytes).zip(out) {
            // SAFETY: as in `q4k_rows`.
            *y = unsafe { q6k_body(row, x) };
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,f16c")]
    fn pairs_rows<const Q5: bool>(rows: &[u8], row_bytes: usize, x: &Q8K, out: &mut [f32]) {
        for (row, y) in rows.chunks_exact(row_bytes).zip(out) {
            // SAFETY: as in `q4k_rows`.
            *y = unsafe { pairs_body::<Q5, 1>(row, [x]) }[0];
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    fn dot_q4k(row: &[u8], x: &Q8K) -> f32 {
        dot_q4k_many::<1>(row, [x])[0]
    }

    /// A Q4_K or Q6_K row times each of `T` inputs.
    ///
    /// # Safety
    /// The CPU has AVX-512 F, BW and VNNI, and `check` passed for each input.
    unsafe fn superblocks<const T: usize>(kind: Kind, row: &[u8], xs: [&Q8K; T]) -> [f32; T] {
        // SAFETY: as the caller promises.
        unsafe {
            if kind == Kind::Q6K {
                dot_q6k_many(row, xs)
            } else {
                dot_q4k_many(row, xs)
            }
        }
    }

    /// [`dot_q4k`] for `T` inputs at once: each block's weights and
    /// scales are unpacked once, and each input's sums are formed in the
    /// same order as alone.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    fn dot_q4k_many<const T: usize>(row: &[u8], xs: [&Q8K; T]) -> [f32; T] {
        // SAFETY: the CPU has the features the body's instructions need.
        unsafe { q4k_body(row, xs) }
    }

    /// The body of [`dot_q4k_many`] and [`q4k_rows`], inlined into each so
    /// that its instructions are those of the caller's features and its
    /// constants are made once for all the rows.
    ///
    /// # Safety
    /// The CPU has AVX-512 F, BW and VNNI, and `check` passed.
    #[inline(always)]
    unsafe fn q4k_body<const T: usize>(row: &[u8], xs: [&Q8K; T]) -> [f32; T] {
        let mask = _mm512_set1_epi8(0x0F);
        // Lanes 0..8 of each product take the scale of its first sub-block,
        // lanes 8..16 that of its second (in the order of `PAIRED`). No
        // closures here: they would not have the caller's features.
        let pick = words(&SUB_BLOCK_PICK);
        let mut accf = [_mm512_setzero_ps(); T];
        let mut accm = [_mm256_setzero_ps(); T];
        let bytes = Kind::Q4K.block_bytes();
        for (b, block) in row.chunks_exact(bytes).enumerate() {
            prefetch_ahead(block, bytes);
            let (sc, m) = super::super::blocks::scales_mins(&block[4..16]);
            // Each scale in both 16-bit halves of its 32-bit lane, the
            // multiplier of `vpdpwssd`'s pairs.
            let sc = _mm512_cvtepu8_epi32(_mm_set_epi64x(0, i64::from_le_bytes(sc)));
            let sc = _mm512_or_si512(sc, _mm512_slli_epi32::<16>(sc));
            let m = _mm256_cvtepu8_epi32(_mm_set_epi64x(0, i64::from_le_bytes(m)));
            let qs = block[16..].as_ptr();
            let mut sumi = [_mm512_setzero_si512(); T];
            for h in 0..2 {
                // SAFETY: `qs + 64h` has 64 bytes (128 in a block).
                let raw = unsafe { _mm512_loadu_si512(qs.add(64 * h).cast()) };
                let lo = _mm512_and_si512(raw, mask);
                let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(raw), mask);
                let (slo, shi) = (
                    _mm512_permutexvar_epi32(pick[2 * h], sc),
                    _mm512_permutexvar_epi32(pick[2 * h + 1], sc),
                );
                for (x, sumi) in xs.iter().zip(sumi.iter_mut()) {
                    let q8 = x.paired[b * QK_K..].as_ptr();
                    // SAFETY: `q8 + 128h` has 128 bytes (256 in a block).
                    let (xlo, xhi) = unsafe {
                        (
                            _mm512_loadu_si512(q8.add(128 * h).cast()),
                            _mm512_loadu_si512(q8.add(128 * h + 64).cast()),
                        )
                    };
                    // Weights 0..=15 times inputs -127..=127, pairs summed
                    // in 16 bits (at most 3,810), then times the scales in
                    // 32 bits.
                    *sumi = _mm512_dpwssd_epi32(*sumi, _mm512_maddubs_epi16(lo, xlo), slo);
                    *sumi = _mm512_dpwssd_epi32(*sumi, _mm512_maddubs_epi16(hi, xhi), shi);
                }
            }
            let (d, dmin) = (
                super::super::blocks::f16_at(block, 0),
                super::super::blocks::f16_at(block, 2),
            );
            for (t, x) in xs.iter().enumerate() {
                let sums = &x.sums[b * 8..b * 8 + 8];
                // SAFETY: `sums` has 8 values of 4 bytes: an unaligned 32-byte load.
                let sums = unsafe { _mm256_loadu_si256(sums.as_ptr().cast()) };
                let (d, dmin) = (x.d[b] * d, x.d[b] * dmin);
                accf[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi[t]), _mm512_set1_ps(d), accf[t]);
                let summ = _mm256_cvtepi32_ps(_mm256_mullo_epi32(m, sums));
                accm[t] = _mm256_fmadd_ps(summ, _mm256_set1_ps(dmin), accm[t]);
            }
        }
        let mut out = [0f32; T];
        for t in 0..T {
            out[t] = _mm512_reduce_add_ps(accf[t])
                - _mm512_reduce_add_ps(_mm512_zextps256_ps512(accm[t]));
        }
        out
    }

    /// The four rows of `table` as vectors.
    ///
    /// # Safety
    /// The CPU has AVX-512 F.
    #[inline(always)]
    unsafe fn words(table: &[[i32; 16]; 4]) -> [__m512i; 4] {
        // SAFETY: each row is 16 words: 64-byte loads in bounds.
        unsafe {
            [
                _mm512_loadu_si512(table[0].as_ptr().cast()),
                _mm512_loadu_si512(table[1].as_ptr().cast()),
                _mm512_loadu_si512(table[2].as_ptr().cast()),
                _mm512_loadu_si512(table[3].as_ptr().cast()),
            ]
        }
    }

    /// Word indices that give lanes 0..8 of a Q4_K product the scale of its
    /// first sub-block and lanes 8..16 that of its second, for the four
    /// pairs of sub-blocks in the order of `PAIRED`: (0, 2), (1, 3), (4, 6),
    /// (5, 7).
    const SUB_BLOCK_PICK: [[i32; 16]; 4] = {
        let pairs = [(0, 2), (1, 3), (4, 6), (5, 7)];
        let mut out = [[0; 16]; 4];
        let mut k = 0;
        while k < 4 {
            let mut l = 0;
            while l < 16 {
                out[k][l] = if l < 8 { pairs[k].0 } else { pairs[k].1 };
                l += 1;
            }
            k += 1;
        }
        out
    };

    /// Word indices that give lane `l` of a Q6_K product of 64 values `k`
    /// (four values, of group `4k + l / 4`) its group's scale.
    const GROUP_PICK: [[i32; 16]; 4] = {
        let mut out = [[0; 16]; 4];
        let mut k = 0;
        while k < 4 {
            let mut l = 0;
            while l < 16 {
                out[k][l] = (4 * k + l / 4) as i32;
                l += 1;
            }
            k += 1;
        }
        out
    };

    /// Q6_K blocks times each of `T` inputs: each block's six-bit values
    /// and scales are unpacked once, and each input's sums are formed in the
    /// same order as alone.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    fn dot_q6k_many<const T: usize>(row: &[u8], xs: [&Q8K; T]) -> [f32; T] {
        // SAFETY: the CPU has the features the body's instructions need.
        unsafe { q6k_many_body(row, xs) }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    fn dot_q6k(row: &[u8], x: &Q8K) -> f32 {
        // SAFETY: the CPU has the features the body's instructions need.
        unsafe { q6k_body(row, x) }
    }

    /// Q6_K's constants: the low-nibble and high-bit masks, the low 16 bits
    /// of each lane, the shifts that move the high bits of each 32 values
    /// under their nibbles, and the word indices of the group scales.
    struct Q6Consts {
        low4: __m512i,
        bits45: __m512i,
        low16: __m512i,
        under_low: __m512i,
        under_high: __m512i,
        pick: [__m512i; 4],
    }

    /// # Safety
    /// The CPU has AVX-512 F.
    #[inline(always)]
    unsafe fn q6_consts() -> Q6Consts {
        // The high bits of each 32 values sit in 2-bit fields of the same 32
        // bytes `qh`: fields 0 and 1 go under the low nibbles of the first and
        // second 32 bytes of `ql`, fields 2 and 3 under the high nibbles. Each
        // is moved to bits 4..6 by a 16-bit shift (low 256 bits by the first
        // amount, high by the second) and masked.
        Q6Consts {
            low4: _mm512_set1_epi8(0x0F),
            bits45: _mm512_set1_epi8(0x30),
            low16: _mm512_set1_epi32(0xFFFF),
            under_low: _mm512_inserti64x4::<1>(
                _mm512_castsi256_si512(_mm256_set1_epi16(4)),
                _mm256_set1_epi16(2),
            ),
            under_high: _mm512_inserti64x4::<1>(
                _mm512_castsi256_si512(_mm256_set1_epi16(0)),
                _mm256_set1_epi16(2),
            ),
            // SAFETY: as the caller promises.
            pick: unsafe { words(&GROUP_PICK) },
        }
    }

    /// A Q6_K block's scales: each in both 16-bit halves of its lane (for
    /// the products) and −32 times it in the low half only (for the offset,
    /// against the 32-bit sums of 16 inputs, whose high halves it zeroes).
    ///
    /// # Safety
    /// The CPU has AVX-512 F and BW; `p` is a whole block.
    #[inline(always)]
    unsafe fn q6_scales(p: *const u8, c: &Q6Consts) -> (__m512i, __m512i) {
        // SAFETY: a block's 16 scale bytes start at 192 (of 210).
        let sc = _mm512_cvtepi8_epi32(unsafe { _mm_loadu_si128(p.add(192).cast()) });
        let pairs = _mm512_or_si512(_mm512_and_si512(sc, c.low16), _mm512_slli_epi32::<16>(sc));
        let offset = _mm512_and_si512(
            _mm512_slli_epi32::<5>(_mm512_sub_epi32(_mm512_setzero_si512(), sc)),
            c.low16,
        );
        (pairs, offset)
    }

    /// Half `h` of a Q6_K block: its 64 low and 64 high six-bit values
    /// (0..=63) and the group scales of each.
    ///
    /// # Safety
    /// As for [`q6_scales`].
    #[inline(always)]
    unsafe fn q6_half(p: *const u8, h: usize, pairs: __m512i, c: &Q6Consts) -> [__m512i; 4] {
        // SAFETY: `ql` is bytes 0..128 of the block and `qh` 128..192.
        let (ql, qh) = unsafe {
            (
                _mm512_loadu_si512(p.add(64 * h).cast()),
                _mm512_broadcast_i64x4(_mm256_loadu_si256(p.add(128 + 32 * h).cast())),
            )
        };
        // `a | (b & c)`: a nibble under its two high bits.
        let lo = _mm512_ternarylogic_epi32::<0xF8>(
            _mm512_and_si512(ql, c.low4),
            _mm512_sllv_epi16(qh, c.under_low),
            c.bits45,
        );
        let hi = _mm512_ternarylogic_epi32::<0xF8>(
            _mm512_and_si512(_mm512_srli_epi16::<4>(ql), c.low4),
            _mm512_srlv_epi16(qh, c.under_high),
            c.bits45,
        );
        [
            lo,
            hi,
            _mm512_permutexvar_epi32(c.pick[2 * h], pairs),
            _mm512_permutexvar_epi32(c.pick[2 * h + 1], pairs),
        ]
    }

    /// The body of [`dot_q6k`] and [`q6k_rows`] (see [`q4k_body`]): one
    /// input, whose products are made as the values are unpacked.
    ///
    /// # Safety
    /// As for [`q4k_body`].
    #[inline(always)]
    unsafe fn q6k_body(row: &[u8], x: &Q8K) -> f32 {
        let bytes = Kind::Q6K.block_bytes();
        // SAFETY: as the caller promises.
        let c = unsafe { q6_consts() };
        let mut accf = _mm512_setzero_ps();
        for (b, block) in row.chunks_exact(bytes).enumerate() {
            prefetch_ahead(block, bytes);
            let p = block.as_ptr();
            // SAFETY: `p` is a whole block.
            let (pairs, offset) = unsafe { q6_scales(p, &c) };
            // SAFETY: `sums16` has 16 values per block (checked by `dot`).
            let sums = unsafe { _mm512_loadu_si512(x.sums16[b * 16..].as_ptr().cast()) };
            let mut sumi = _mm512_dpwssd_epi32(_mm512_setzero_si512(), offset, sums);
            let q8 = x.qs[b * QK_K..].as_ptr();
            for h in 0..2 {
                // SAFETY: `p` is a whole block, and `q8 + 128h` has 128 bytes.
                let ([lo, hi, slo, shi], xlo, xhi) = unsafe {
                    (
                        q6_half(p, h, pairs, &c),
                        _mm512_loadu_si512(q8.add(128 * h).cast()),
                        _mm512_loadu_si512(q8.add(128 * h + 64).cast()),
                    )
                };
                // Weights 0..=63 times inputs -127..=127, pairs summed in 16
                // bits (at most 16,002), then times the scales in 32 bits.
                sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(lo, xlo), slo);
                sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(hi, xhi), shi);
            }
            let d = x.d[b] * super::super::blocks::f16_at(block, 208);
            accf = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(d), accf);
        }
        _mm512_reduce_add_ps(accf)
    }

    /// [`q6k_body`] for `T` inputs at once: each block is unpacked once, and
    /// each input's sums are formed in the same order as alone. (One input
    /// keeps its own body, which unpacks and multiplies in one pass and runs
    /// about a fifth faster.)
    ///
    /// # Safety
    /// As for [`q4k_body`].
    #[inline(always)]
    unsafe fn q6k_many_body<const T: usize>(row: &[u8], xs: [&Q8K; T]) -> [f32; T] {
        let bytes = Kind::Q6K.block_bytes();
        // SAFETY: as the caller promises.
        let c = unsafe { q6_consts() };
        let mut accf = [_mm512_setzero_ps(); T];
        for (b, block) in row.chunks_exact(bytes).enumerate() {
            prefetch_ahead(block, bytes);
            let p = block.as_ptr();
            // SAFETY: `p` is a whole block.
            let (pairs, offset) = unsafe { q6_scales(p, &c) };
            let mut sumi = [_mm512_setzero_si512(); T];
            let mut q8 = [std::ptr::null::<i8>(); T];
            for ((x, sumi), q8) in xs.iter().zip(sumi.iter_mut()).zip(q8.iter_mut()) {
                // SAFETY: `sums16` has 16 values per block (checked by `dots`).
                let sums = unsafe { _mm512_loadu_si512(x.sums16[b * 16..].as_ptr().cast()) };
                *sumi = _mm512_dpwssd_epi32(_mm512_setzero_si512(), offset, sums);
                *q8 = x.qs[b * QK_K..].as_ptr();
            }
            for h in 0..2 {
                // SAFETY: `p` is a whole block.
                let [lo, hi, slo, shi] = unsafe { q6_half(p, h, pairs, &c) };
                for (&q8, sumi) in q8.iter().zip(sumi.iter_mut()) {
                    // SAFETY: `q8 + 128h` has 128 bytes (256 in a block).
                    let (xlo, xhi) = unsafe {
                        (
                            _mm512_loadu_si512(q8.add(128 * h).cast()),
                            _mm512_loadu_si512(q8.add(128 * h + 64).cast()),
                        )
                    };
                    *sumi = _mm512_dpwssd_epi32(*sumi, _mm512_maddubs_epi16(lo, xlo), slo);
                    *sumi = _mm512_dpwssd_epi32(*sumi, _mm512_maddubs_epi16(hi, xhi), shi);
                }
            }
            let dw = super::super::blocks::f16_at(block, 208);
            for (t, x) in xs.iter().enumerate() {
                let d = x.d[b] * dw;
                accf[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi[t]), _mm512_set1_ps(d), accf[t]);
            }
        }
        let mut out = [0f32; T];
        for t in 0..T {
            out[t] = _mm512_reduce_add_ps(accf[t]);
        }
        out
    }

    /// Q5_0 (`Q5`) or Q8_0 blocks two at a time: 64 integers as unsigned
    /// bytes (plus the type's bias) times 64 input bytes in one `vpdpbusd`
    /// that starts from minus the bias times the inputs' sums, lanes 0..8
    /// for the first block and 8..16 for the second, each scaled by its
    /// block's scale; the input's scale once per 256 values.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,f16c")]
    fn dot_pairs<const Q5: bool>(row: &[u8], x: &Q8K) -> f32 {
        dot_pairs_many::<Q5, 1>(row, [x])[0]
    }

    /// [`dot_pairs`] for `T` inputs at once: each pair of blocks is
    /// unpacked once and multiplied with every input, and each input's sums
    /// are formed in the same order as alone.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,f16c")]
    pub(super) fn dot_pairs_many<const Q5: bool, const T: usize>(
        row: &[u8],
        xs: [&Q8K; T],
    ) -> [f32; T] {
        // SAFETY: the CPU has the features the body's instructions need.
        unsafe { pairs_body::<Q5, T>(row, xs) }
    }

    /// The body of [`dot_pairs_many`] and [`pairs_rows`] (see
    /// [`q4k_body`]).
    ///
    /// # Safety
    /// The CPU has AVX-512 F, BW and VNNI and F16C, and `check` passed.
    #[inline(always)]
    unsafe fn pairs_body<const Q5: bool, const T: usize>(row: &[u8], xs: [&Q8K; T]) -> [f32; T] {
        let (bytes, unit_bytes) = if Q5 { (22, 176) } else { (34, 272) };
        let low4 = _mm512_set1_epi8(0x0F);
        let (sixteen, flip) = (_mm512_set1_epi8(16), _mm512_set1_epi8(-128));
        // A Q5_0 block's 16 nibble bytes twice: low nibbles (values 0..16),
        // then high (16..32); the second block's in the upper half.
        let halves = _mm256_set_m128i(_mm_set1_epi16(4), _mm_set1_epi16(0));
        let nibble_shift = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(halves), halves);
        // Lanes 0..8 take the first of two scales, 8..16 the second.
        let first_second = _mm512_inserti64x4::<1>(_mm512_setzero_si512(), _mm256_set1_epi32(1));
        let mut acc = [_mm512_setzero_ps(); T];
        for (b, unit) in row.chunks(unit_bytes).enumerate() {
            prefetch_ahead(unit, unit.len());
            let mut part = [_mm512_setzero_ps(); T];
            for p in 0..unit.len() / (2 * bytes) {
                let a = unit[2 * p * bytes..2 * (p + 1) * bytes].as_ptr();
                let at = b * QK_K + 64 * p;
                // SAFETY: `a` has two blocks (`2 · bytes` bytes): the scales
                // at 0..2, Q5_0's high bits at 2..6 and nibbles at 6..22,
                // Q8_0's integers at 2..34.
                let (w, ds) = unsafe {
                    let w = if Q5 {
                        let z = _mm512_castsi256_si512(_mm256_set_m128i(
                            _mm_loadu_si128(a.add(bytes + 6).cast()),
                            _mm_loadu_si128(a.add(6).cast()),
                        ));
                        let z = _mm512_shuffle_i64x2::<0b01_01_00_00>(z, z);
                        let nib = _mm512_and_si512(_mm512_srlv_epi16(z, nibble_shift), low4);
                        let qh = |at: usize| {
                            u32::from_le_bytes(std::ptr::read_unaligned(a.add(at).cast())) as u64
                        };
                        _mm512_mask_add_epi8(nib, qh(2) | (qh(bytes + 2) << 32), nib, sixteen)
                    } else {
                        _mm512_xor_si512(
                            _mm512_inserti64x4::<1>(
                                _mm512_castsi256_si512(_mm256_loadu_si256(a.add(2).cast())),
                                _mm256_loadu_si256(a.add(bytes + 2).cast()),
                            ),
                            flip,
                        )
                    };
                    let d = |at: usize| std::ptr::read_unaligned(a.add(at).cast::<u16>()) as i32;
                    (w, _mm_cvtph_ps(_mm_cvtsi32_si128(d(0) | (d(bytes) << 16))))
                };
                let scale = _mm512_permutexvar_ps(first_second, _mm512_castps128_ps512(ds));
                for (x, part) in xs.iter().zip(part.iter_mut()) {
                    // SAFETY: `x.qs` and `x.pair_sums` have the 64 values and
                    // 16 words at `at` (checked by `dot` and `dots`).
                    let (xv, start) = unsafe {
                        (
                            _mm512_loadu_si512(x.qs.as_ptr().add(at).cast()),
                            _mm512_loadu_si512(x.pair_sums.as_ptr().add(at / 4).cast()),
                        )
                    };
                    let start = if Q5 {
                        _mm512_slli_epi32::<4>(start)
                    } else {
                        _mm512_slli_epi32::<7>(start)
                    };
                    let i = _mm512_dpbusd_epi32(start, w, xv);
                    *part = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i), scale, *part);
                }
            }
            for ((x, part), acc) in xs.iter().zip(part).zip(acc.iter_mut()) {
                *acc = _mm512_fmadd_ps(part, _mm512_set1_ps(x.d[b]), *acc);
            }
        }
        let mut out = [0f32; T];
        for t in 0..T {
            out[t] = _mm512_reduce_add_ps(acc[t]);
        }
        out
    }
}

/// One row of `kind` blocks times `x` with the kernels of `path`.
fn dot(kind: Kind, row: &[u8], x: &Q8K, path: Simd) -> f32 {
    #[cfg(target_arch = "x86_64")]
    match path {
        Simd::Vnni => return vnni::dot(kind, row, x),
        Simd::Avx2 => return super::avx2::gemv_dot(kind, row, x),
        Simd::None => {}
    }
    let _ = path;
    dot_portable(kind, row, x)
}

/// Each of the `out.len()` rows of `row_bytes` in `rows` times `x`, into
/// `out`, with the kernels of `path`: the values of [`dot`].
fn dot_rows(kind: Kind, rows: &[u8], row_bytes: usize, x: &Q8K, path: Simd, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    match path {
        Simd::Vnni => return vnni::dot_rows(kind, rows, row_bytes, x, out),
        Simd::Avx2 => return super::avx2::gemv_rows(kind, rows, row_bytes, x, out),
        Simd::None => {}
    }
    for (row, y) in rows.chunks_exact(row_bytes.max(1)).zip(out.iter_mut()) {
        *y = dot(kind, row, x, path);
    }
}

/// One row of `kind` blocks times each of `xs`, into `ys`, with the kernels
/// of `path`: the values of [`dot`] for each input alone.
fn dots(kind: Kind, row: &[u8], xs: &[Q8K], path: Simd, ys: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    match path {
        Simd::Vnni => return vnni::dots(kind, row, xs, ys),
        Simd::Avx2 => return super::avx2::gemv_dots(kind, row, xs, ys),
        Simd::None => {}
    }
    for (x, y) in xs.iter().zip(ys.iter_mut()) {
        *y = dot(kind, row, x, path);
    }
}

/// The SIMD kernels a one-token product takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Simd {
    /// The portable loops.
    None,
    /// [`super::avx2`].
    Avx2,
    /// AVX-512 VNNI.
    Vnni,
}

impl Simd {
    /// The kernels of the path in use.
    fn in_use() -> Self {
        if has_vnni() {
            Simd::Vnni
        } else if has_avx2() {
            Simd::Avx2
        } else {
            Simd::None
        }
    }
}

/// `W · x` for the matrix `w` of `kind` blocks (`rows` rows of whole
/// blocks, as bytes) and each input of `xs`: `xs.len()` runs of `rows`
/// values, rows split across the threads.
///
/// Each row is multiplied with every input while its bytes are in the
/// core's first-level cache, so several tokens cost one read of the matrix.
/// Every value is the same dot product, in the same order, as for that
/// input alone: a decode step of several sequences gives each the logits it
/// gets on its own.
pub(crate) fn gemv(kind: Kind, w: &[u8], rows: usize, xs: &[Q8K]) -> Result<Vec<f32>> {
    let Some(first) = xs.first() else {
        return Ok(Vec::new());
    };
    if xs.iter().any(|x| x.len() != first.len()) {
        return Err(Error::Generation(
            "inputs of different lengths in one product".into(),
        ));
    }
    let row_bytes = row_bytes(kind, w, rows, first.len())?;
    if kind.block_values() < QK_K && !(row_bytes / kind.block_bytes()).is_multiple_of(2) {
        return Err(Error::Generation(format!(
            "a {kind:?} matrix with an odd number of blocks per row"
        )));
    }
    let path = Simd::in_use();
    // Each value is stored once, by the one thread that computes its row.
    let out: Vec<AtomicU32> = (0..rows * xs.len()).map(|_| AtomicU32::new(0)).collect();
    candle_core::utils::barrier_pool().execute_chunked(rows, |range| {
        if let [x] = xs {
            // One input: the thread's rows in one call.
            let mut ys = vec![0f32; range.len()];
            let part = &w[range.start * row_bytes..range.end * row_bytes];
            dot_rows(kind, part, row_bytes, x, path, &mut ys);
            for (o, y) in out[range].iter().zip(&ys) {
                o.store(y.to_bits(), Ordering::Relaxed);
            }
            return;
        }
        let mut ys = vec![0f32; xs.len()];
        for r in range {
            let row = &w[r * row_bytes..(r + 1) * row_bytes];
            dots(kind, row, xs, path, &mut ys);
            for (t, y) in ys.iter().enumerate() {
                out[t * rows + r].store(y.to_bits(), Ordering::Relaxed);
            }
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

    #[test]
    fn products_match_candle_and_a_plain_loop() {
        // Q5_0 and Q8_0 rows of 896 values (Qwen2.5-0.5B's) end in half a
        // 256-value unit, so their input is padded with zeros.
        let rows = 80;
        for (kind, dtype, inner) in [
            (Kind::Q4K, GgmlDType::Q4K, 512),
            (Kind::Q6K, GgmlDType::Q6K, 512),
            (Kind::Q5_0, GgmlDType::Q5_0, 896),
            (Kind::Q8_0, GgmlDType::Q8_0, 896),
        ] {
            let w = Tensor::from_vec(random(rows * inner, 7), (rows, inner), &Device::Cpu).unwrap();
            let q = QTensor::quantize(&w, dtype).unwrap();
            let bytes = q.data().unwrap().to_vec();
            let x = random(inner, 8);
            let xq = Q8K::quantize(&super::super::blocks::padded_rows(&x, inner).0).unwrap();
            let got = gemv(kind, &bytes, rows, std::slice::from_ref(&xq)).unwrap();
            // The same sums without SIMD, candle's own product (its tiled
            // kernel where the CPU has one) and a plain f32 loop over the
            // dequantized weights.
            let row_bytes = kind.row_bytes(inner).unwrap();
            let portable: Vec<f32> = bytes
                .chunks_exact(row_bytes)
                .map(|r| dot(kind, r, &xq, Simd::None))
                .collect();
            let xt = Tensor::from_vec(x.clone(), (1, inner), &Device::Cpu).unwrap();
            let q2 = QTensor::quantize(&w, dtype).unwrap();
            let candle = super::super::testing::floats(
                &QMatMul::from_qtensor(q2).unwrap().forward(&xt).unwrap(),
            );
            let dq = super::super::testing::values(&q);
            let scale = candle.iter().fold(0f32, |m, v| m.max(v.abs()));
            for r in 0..rows {
                let plain: f32 = (0..inner).map(|c| dq[r * inner + c] * x[c]).sum();
                // The integer sums are exact, so SIMD and portable differ
                // only in the order of the float sums. candle quantizes the
                // input to Q8_K too (with -128 for its largest value, here
                // -127), and the plain loop keeps it in f32: about 1 % of
                // the scale.
                assert!(
                    (got[r] - portable[r]).abs() <= 1e-5 * scale,
                    "{kind:?} row {r}"
                );
                #[cfg(target_arch = "x86_64")]
                if super::super::avx2::cpu_has_avx2() {
                    let row = &bytes[r * row_bytes..(r + 1) * row_bytes];
                    let avx2 = dot(kind, row, &xq, Simd::Avx2);
                    assert!(
                        (avx2 - portable[r]).abs() <= 1e-5 * scale,
                        "{kind:?} row {r}: AVX2 {avx2} vs {}",
                        portable[r]
                    );
                }
                assert!(
                    (got[r] - candle[r]).abs() <= 0.01 * scale,
                    "{kind:?} row {r}"
                );
                assert!((got[r] - plain).abs() <= 0.01 * scale, "{kind:?} row {r}");
            }
        }
    }

    #[test]
    fn several_inputs_give_each_the_values_it_gets_alone() {
        let _path = super::super::testing::path_lock();
        let rows = 24;
        for (kind, dtype, inner) in [
            (Kind::Q4K, GgmlDType::Q4K, 512),
            (Kind::Q6K, GgmlDType::Q6K, 512),
            (Kind::Q5_0, GgmlDType::Q5_0, 896),
            (Kind::Q8_0, GgmlDType::Q8_0, 896),
        ] {
            let w = Tensor::from_vec(random(rows * inner, 3), (rows, inner), &Device::Cpu).unwrap();
            let bytes = QTensor::quantize(&w, dtype)
                .unwrap()
                .data()
                .unwrap()
                .to_vec();
            // 1 to 8 inputs: the groups of four, three, two and one.
            let xs: Vec<Q8K> = (0..8)
                .map(|i| {
                    let x = random(inner, 40 + i);
                    Q8K::quantize(&super::super::blocks::padded_rows(&x, inner).0).unwrap()
                })
                .collect();
            for n in 1..=xs.len() {
                let together = gemv(kind, &bytes, rows, &xs[..n]).unwrap();
                assert_eq!(together.len(), n * rows);
                for (t, x) in xs[..n].iter().enumerate() {
                    let alone = gemv(kind, &bytes, rows, std::slice::from_ref(x)).unwrap();
                    assert_eq!(
                        &together[t * rows..(t + 1) * rows],
                        &alone[..],
                        "{kind:?} {n} inputs, input {t}"
                    );
                }
            }
        }
    }

    #[test]
    fn q6k_extremes_are_exact() {
        // Every 6-bit weight 63 (+31 after the offset) with scale 127 and
        // every input -127: the largest sums the 16-bit pairs hold.
        let mut block = vec![0u8; Kind::Q6K.block_bytes()];
        block[..192].fill(0xFF);
        block[192..208].fill(127);
        block[208..210].copy_from_slice(&half::f16::from_f32(1.0).to_le_bytes());
        let xq = Q8K::quantize(&[-1.0; QK_K]).unwrap();
        let got = gemv(Kind::Q6K, &block, 1, std::slice::from_ref(&xq)).unwrap();
        // The integer sum is exact; the SIMD kernel scales 16 partial sums.
        let want = 256.0 * 31.0 * 127.0 * -127.0 * xq.d[0];
        assert!(
            (got[0] - want).abs() <= 1e-6 * want.abs(),
            "{} vs {want}",
            got[0]
        );
        assert_eq!(dot(Kind::Q6K, &block, &xq, Simd::None), want);
        // The prompt kernels sum Q6_K products in 16 bits too.
        let x = super::super::gemm::Tokens::quantize(&[-1.0; 4 * QK_K], QK_K).unwrap();
        for y in super::super::gemm::gemm(Kind::Q6K, &block, 1, &x).unwrap() {
            assert!((y - want).abs() <= 1e-6 * want.abs(), "{y} vs {want}");
        }
        #[cfg(target_arch = "x86_64")]
        if super::super::avx2::cpu_has_avx2() {
            let avx2 = dot(Kind::Q6K, &block, &xq, Simd::Avx2);
            assert!((avx2 - want).abs() <= 1e-6 * want.abs(), "{avx2} vs {want}");
        }
    }

    #[test]
    fn q8_0_extremes_are_exact() {
        // Every weight -128 and every input -127: on the AVX2 path each
        // 16-bit pair holds 2 · 128 · 127 = 32,512, just under saturation.
        let mut block = vec![0x80u8; Kind::Q8_0.block_bytes()];
        block[..2].copy_from_slice(&half::f16::from_f32(1.0).to_le_bytes());
        let unit = block.repeat(8);
        let xq = Q8K::quantize(&[-1.0; QK_K]).unwrap();
        let want = 256.0 * -128.0 * -127.0 * xq.d[0];
        let got = gemv(Kind::Q8_0, &unit, 1, std::slice::from_ref(&xq)).unwrap();
        assert!((got[0] - want).abs() <= 1e-6 * want, "{} vs {want}", got[0]);
        let x = super::super::gemm::Tokens::quantize(&[-1.0; 4 * QK_K], QK_K).unwrap();
        let many = super::super::gemm::gemm(Kind::Q8_0, &unit, 1, &x).unwrap();
        for y in many {
            assert!((y - want).abs() <= 1e-6 * want, "{y} vs {want}");
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
        assert_eq!(
            gemv(Kind::Q4K, &bytes, 32, std::slice::from_ref(&xq)).unwrap(),
            vec![0.0; 32]
        );
        assert!(gemv(Kind::Q4K, &bytes, 31, std::slice::from_ref(&xq)).is_err());
        assert!(gemv(Kind::Q6K, &bytes, 32, std::slice::from_ref(&xq)).is_err());
        assert!(Q8K::quantize(&[1.0; 100]).is_err());
    }
}
