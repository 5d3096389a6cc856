//! The compact products with AVX2, FMA and F16C: the path of laptops and
//! desktops without AVX-512 (Intel Core 4th–14th generation, AMD Zen 1–3).
//!
//! AVX2 has no `vpdpbusd`, so each 32 unsigned weight bytes times 32 input
//! bytes go through `vpmaddubsw` (pairs summed in 16 bits) and `vpmaddwd`
//! (those pairs summed in 32 bits, times a scale or one). `vpmaddubsw`
//! saturates past 32,767, so every pair it sums must stay below that:
//!
//! - Q4_K (0..=15), Q5_0 (0..=31) and Q6_K (0..=63) weights as unsigned
//!   bytes times inputs in -127..=127 give at most 16,002 a pair;
//! - Q8_0's signed weights go in as their magnitudes, the input taking their
//!   sign (`vpsignb`): at most 2 · 128 · 127 = 32,512 a pair.
//!
//! One token ([`gemv_dot`]) reads the file's blocks in their natural order,
//! prefetching ahead as the AVX-512 kernel does. Several tokens go through
//! [`super::avx2_rows`], eight rows at a time, from the natural order that
//! [`natural_unit`] unpacks (with the 256-bit VNNI instructions where the
//! CPU has AVX-512 VNNI); the tokens are quantized in [`super::gemm`]'s lane
//! order.
//!
//! Every function here checks that the CPU has the features before the
//! first instruction that needs them runs.

#![allow(unsafe_code)]

use std::arch::x86_64::*;

use super::blocks::{f16_at, prefetch_ahead, scales_mins, Kind, QK_K};
use super::gemm::TokenParts;
use super::gemv::Q8K;

/// Whether this CPU runs the kernels here (asked of the CPU once).
pub(super) fn cpu_has_avx2() -> bool {
    static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAS.get_or_init(|| {
        is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c")
    })
}

fn assert_cpu() {
    assert!(
        cpu_has_avx2(),
        "the AVX2 kernels need a CPU with AVX2, FMA and F16C"
    );
}

/// Checks the CPU and what a one-token product of `row` with `x` reads.
fn check_gemv(kind: Kind, row: &[u8], x: &Q8K) {
    assert_cpu();
    let bytes = kind.block_bytes();
    let units = row.len().div_ceil(kind.unit_bytes());
    assert!(row.len().is_multiple_of(bytes) && units * QK_K <= x.qs.len());
    assert!(units * 16 <= x.sums16.len() && units * 8 <= x.sums.len());
    assert!(units <= x.d.len());
}

/// One row of `kind` blocks times `x`: [`super::gemv`]'s portable product
/// with AVX2.
pub(super) fn gemv_dot(kind: Kind, row: &[u8], x: &Q8K) -> f32 {
    check_gemv(kind, row, x);
    // SAFETY: the CPU has the features the kernels are compiled for, and
    // every load stays within `row` (whole blocks), `x.qs`, `x.sums` and
    // `x.sums16` (both checked above).
    unsafe { dots_of::<1>(kind, row, [x])[0] }
}

/// [`gemv_dot`] of each of the `out.len()` rows of `row_bytes` in `rows`
/// with `x`, into `out`: one call for a thread's share of a matrix, so that
/// a kernel's constants are made once, not for every row.
pub(super) fn gemv_rows(kind: Kind, rows: &[u8], row_bytes: usize, x: &Q8K, out: &mut [f32]) {
    assert!(rows.len() == row_bytes * out.len());
    let Some(first) = rows.get(..row_bytes).filter(|r| !r.is_empty()) else {
        return;
    };
    check_gemv(kind, first, x);
    // SAFETY: as in `gemv_dot`: every row is as long as the one checked.
    unsafe { rows_of(kind, rows, row_bytes, x, out) }
}

#[target_feature(enable = "avx2,fma,f16c")]
fn rows_of(kind: Kind, rows: &[u8], row_bytes: usize, x: &Q8K, out: &mut [f32]) {
    let rows = rows.chunks_exact(row_bytes).zip(out);
    match kind {
        // SAFETY: the CPU has the features (checked by `gemv_rows`).
        Kind::Q4K => {
            for (row, y) in rows {
                *y = unsafe { q4k_body(row, [x]) }[0];
            }
        }
        // SAFETY: as for Q4_K.
        Kind::Q6K => {
            for (row, y) in rows {
                *y = unsafe { q6k_body(row, [x]) }[0];
            }
        }
        Kind::Q5_0 => rows.for_each(|(row, y)| *y = dot_small::<true, 1>(row, [x])[0]),
        Kind::Q8_0 => rows.for_each(|(row, y)| *y = dot_small::<false, 1>(row, [x])[0]),
    }
}

/// One row times each of `xs`, into `out`: the values of [`gemv_dot`] for
/// each input alone. Each block is unpacked once for up to four inputs (its
/// integers, and Q4_K's and Q6_K's scales), so that the inputs of a decode
/// step of several sequences share that work as they share the read of the
/// row.
pub(super) fn gemv_dots(kind: Kind, row: &[u8], xs: &[Q8K], out: &mut [f32]) {
    assert!(out.len() == xs.len());
    for x in xs {
        check_gemv(kind, row, x);
    }
    for (xs, out) in xs.chunks(4).zip(out.chunks_mut(4)) {
        // SAFETY: as in `gemv_dot`: every input is checked above.
        unsafe {
            match xs {
                [a, b, c, d] => out.copy_from_slice(&dots_of(kind, row, [a, b, c, d])),
                [a, b, c] => out.copy_from_slice(&dots_of(kind, row, [a, b, c])),
                [a, b] => out.copy_from_slice(&dots_of(kind, row, [a, b])),
                [a] => out.copy_from_slice(&dots_of(kind, row, [a])),
                _ => {}
            }
        }
    }
}

/// The row's products with each of `xs`, by block type.
///
/// # Safety
/// The CPU has AVX2, FMA and F16C, and [`check_gemv`] passed for each input.
unsafe fn dots_of<const T: usize>(kind: Kind, row: &[u8], xs: [&Q8K; T]) -> [f32; T] {
    // SAFETY: as the caller promises.
    unsafe {
        match kind {
            Kind::Q4K => dot_q4k(row, xs),
            Kind::Q6K => dot_q6k(row, xs),
            Kind::Q5_0 => dot_small::<true, T>(row, xs),
            Kind::Q8_0 => dot_small::<false, T>(row, xs),
        }
    }
}

/// The sum of the eight floats of `v`.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn sum8(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
}

/// Eight 16-bit words of `lo` then eight of `hi`: the multipliers of one
/// `vpmaddwd` over 32 products of two 16-value groups.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn two_scales(lo: i16, hi: i16) -> __m256i {
    _mm256_set_m128i(_mm_set1_epi16(hi), _mm_set1_epi16(lo))
}

/// Q4_K blocks times each of `T` inputs, each block's nibbles and scales
/// unpacked once for all of them; each input's value is computed in the
/// same order as with `T` = 1.
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_q4k<const T: usize>(row: &[u8], xs: [&Q8K; T]) -> [f32; T] {
    // SAFETY: the CPU has the features the body's instructions need.
    unsafe { q4k_body(row, xs) }
}

/// The body of [`dot_q4k`] and of [`rows_of`]'s Q4_K rows, inlined into
/// each so that its instructions are those of the caller's features and its
/// constants are made once for all the rows (no closures: they would not
/// have the caller's features).
///
/// # Safety
/// The CPU has AVX2, FMA and F16C, and [`check_gemv`] passed for each input.
#[inline(always)]
unsafe fn q4k_body<const T: usize>(row: &[u8], xs: [&Q8K; T]) -> [f32; T] {
    let mask = _mm256_set1_epi8(0x0F);
    let mut acc = [_mm256_setzero_ps(); T];
    let mut accm = [_mm256_setzero_ps(); T];
    let bytes = Kind::Q4K.block_bytes();
    for (b, block) in row.chunks_exact(bytes).enumerate() {
        prefetch_ahead(block, bytes);
        let (sc, m) = scales_mins(&block[4..16]);
        let qs = block[16..].as_ptr();
        let mut sumi = [_mm256_setzero_si256(); T];
        for c in 0..4 {
            // SAFETY: `qs + 32c` has 32 bytes (128 in a block).
            let raw = unsafe { _mm256_loadu_si256(qs.add(32 * c).cast()) };
            // Low nibbles are sub-block 2c, high nibbles 2c + 1.
            let lo = _mm256_and_si256(raw, mask);
            let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(raw), mask);
            let slo = _mm256_set1_epi16(sc[2 * c] as i16);
            let shi = _mm256_set1_epi16(sc[2 * c + 1] as i16);
            for (x, sumi) in xs.iter().zip(sumi.iter_mut()) {
                // SAFETY: `x.qs` has 256 values per block (checked by the
                // callers), so `q8 + 64c` has 64.
                let (xlo, xhi) = unsafe {
                    let q8 = x.qs.as_ptr().add(b * QK_K + 64 * c);
                    (
                        _mm256_loadu_si256(q8.cast()),
                        _mm256_loadu_si256(q8.add(32).cast()),
                    )
                };
                let plo = _mm256_maddubs_epi16(lo, xlo);
                let phi = _mm256_maddubs_epi16(hi, xhi);
                *sumi = _mm256_add_epi32(*sumi, _mm256_madd_epi16(plo, slo));
                *sumi = _mm256_add_epi32(*sumi, _mm256_madd_epi16(phi, shi));
            }
        }
        let mins = _mm256_cvtepu8_epi32(_mm_set_epi64x(0, i64::from_le_bytes(m)));
        let (dw, dminw) = (f16_at(block, 0), f16_at(block, 2));
        for (t, x) in xs.iter().enumerate() {
            // SAFETY: `x.sums` has 8 values per block (checked by the
            // callers).
            let sums = unsafe { _mm256_loadu_si256(x.sums[b * 8..].as_ptr().cast()) };
            let d = x.d[b] * dw;
            let dmin = x.d[b] * dminw;
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi[t]), _mm256_set1_ps(d), acc[t]);
            let summ = _mm256_cvtepi32_ps(_mm256_mullo_epi32(mins, sums));
            accm[t] = _mm256_fmadd_ps(summ, _mm256_set1_ps(dmin), accm[t]);
        }
    }
    let mut out = [0f32; T];
    for t in 0..T {
        out[t] = sum8(acc[t]) - sum8(accm[t]);
    }
    out
}

/// Q6_K blocks times each of `T` inputs, each block's values and scales
/// unpacked once for all of them; each input's value is computed in the
/// same order as with `T` = 1.
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_q6k<const T: usize>(row: &[u8], xs: [&Q8K; T]) -> [f32; T] {
    // SAFETY: the CPU has the features the body's instructions need.
    unsafe { q6k_body(row, xs) }
}

/// The body of [`dot_q6k`] and of [`rows_of`]'s Q6_K rows (see
/// [`q4k_body`]).
///
/// # Safety
/// As for [`q4k_body`].
#[inline(always)]
unsafe fn q6k_body<const T: usize>(row: &[u8], xs: [&Q8K; T]) -> [f32; T] {
    let bytes = Kind::Q6K.block_bytes();
    let (low4, bits45) = (_mm256_set1_epi8(0x0F), _mm256_set1_epi8(0x30));
    let mut acc = [_mm256_setzero_ps(); T];
    for (b, block) in row.chunks_exact(bytes).enumerate() {
        prefetch_ahead(block, bytes);
        let p = block.as_ptr();
        let sc = &block[192..208];
        // SAFETY: the 16 scale bytes are at 192..208 of the block.
        let (lo, hi) = unsafe {
            (
                _mm256_cvtepi8_epi32(_mm_loadl_epi64(p.add(192).cast())),
                _mm256_cvtepi8_epi32(_mm_loadl_epi64(p.add(200).cast())),
            )
        };
        // The offset of 32: minus 32 times each group's scale times the sum
        // of its 16 inputs.
        let mut sumi = [_mm256_setzero_si256(); T];
        for (x, sumi) in xs.iter().zip(sumi.iter_mut()) {
            // SAFETY: `x.sums16` has 16 values per block (checked by the
            // callers).
            unsafe {
                let s = x.sums16[b * 16..].as_ptr();
                let o = _mm256_add_epi32(
                    _mm256_mullo_epi32(lo, _mm256_loadu_si256(s.cast())),
                    _mm256_mullo_epi32(hi, _mm256_loadu_si256(s.add(8).cast())),
                );
                *sumi = _mm256_slli_epi32::<5>(_mm256_sub_epi32(_mm256_setzero_si256(), o));
            }
        }
        for h in 0..2 {
            // SAFETY: `ql` is bytes 0..128 of the block, `qh` 128..192.
            let (ql0, ql1, qh) = unsafe {
                (
                    _mm256_loadu_si256(p.add(64 * h).cast()),
                    _mm256_loadu_si256(p.add(64 * h + 32).cast()),
                    _mm256_loadu_si256(p.add(128 + 32 * h).cast()),
                )
            };
            // Values 0..32, 32..64, 64..96 and 96..128 of the half: a nibble
            // under its two high bits, 0..=63.
            let values = [
                _mm256_or_si256(
                    _mm256_and_si256(ql0, low4),
                    _mm256_and_si256(_mm256_slli_epi16::<4>(qh), bits45),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(ql1, low4),
                    _mm256_and_si256(_mm256_slli_epi16::<2>(qh), bits45),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16::<4>(ql0), low4),
                    _mm256_and_si256(qh, bits45),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16::<4>(ql1), low4),
                    _mm256_and_si256(_mm256_srli_epi16::<2>(qh), bits45),
                ),
            ];
            for (k, w) in values.into_iter().enumerate() {
                let g = 8 * h + 2 * k;
                let scales = two_scales(sc[g] as i8 as i16, sc[g + 1] as i8 as i16);
                for (x, sumi) in xs.iter().zip(sumi.iter_mut()) {
                    // SAFETY: `x.qs` has 256 values per block (checked by
                    // the callers), so `q8 + 128h + 32k` has 32.
                    let xv = unsafe {
                        _mm256_loadu_si256(x.qs.as_ptr().add(b * QK_K + 128 * h + 32 * k).cast())
                    };
                    let prod = _mm256_maddubs_epi16(w, xv);
                    *sumi = _mm256_add_epi32(*sumi, _mm256_madd_epi16(prod, scales));
                }
            }
        }
        let dw = f16_at(block, 208);
        for (t, x) in xs.iter().enumerate() {
            let d = x.d[b] * dw;
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi[t]), _mm256_set1_ps(d), acc[t]);
        }
    }
    let mut out = [0f32; T];
    for t in 0..T {
        out[t] = sum8(acc[t]);
    }
    out
}

/// The 32 bits of `bits` as 32 bytes, 0x10 where the bit is set (Q5_0's
/// fifth bit of each value).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn fifth_bits(bits: u32) -> __m256i {
    // Byte i takes byte i / 8 of the word, then keeps bit i % 8 of it.
    let spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(bits as i32),
        _mm256_setr_epi64x(
            0,
            0x0101_0101_0101_0101,
            0x0202_0202_0202_0202,
            0x0303_0303_0303_0303,
        ),
    );
    let bit = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
    let set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
    _mm256_and_si256(set, _mm256_set1_epi8(0x10))
}

/// Q5_0 (`Q5`) or Q8_0 blocks times each of `T` inputs: 32 weights times 32
/// inputs a block, scaled by the block's scale; the input's scale once per
/// 256 values. Q5_0's weights go in as unsigned 0..=31 and its bias of 16
/// comes off as 16 times the block's input sum; Q8_0's go in by magnitude
/// and sign. The eight f16 scales of a unit are widened with one
/// `vcvtph2ps`, not one software conversion per block, and Q5_0's bias is
/// summed in a vector. Each block is unpacked once for all the inputs, and
/// each input's value is computed in the same order as with `T` = 1.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn dot_small<const Q5: bool, const T: usize>(row: &[u8], xs: [&Q8K; T]) -> [f32; T] {
    let (bytes, unit_bytes) = if Q5 { (22, 176) } else { (34, 272) };
    let low4 = _mm256_set1_epi8(0x0F);
    let ones = _mm256_set1_epi16(1);
    let mut acc = [_mm256_setzero_ps(); T];
    let mut bias = [_mm256_setzero_ps(); T];
    for (b, unit) in row.chunks(unit_bytes).enumerate() {
        prefetch_ahead(unit, unit.len());
        // The f16 scale of each block; zero past the end of a partial unit.
        let mut half = [0u16; 8];
        for (h, block) in half.iter_mut().zip(unit.chunks_exact(bytes)) {
            *h = u16::from_le_bytes([block[0], block[1]]);
        }
        // SAFETY: `half` is 16 bytes.
        let scales = _mm256_cvtph_ps(unsafe { _mm_loadu_si128(half.as_ptr().cast()) });
        let mut ds = [0f32; 8];
        // SAFETY: `ds` is 32 bytes.
        unsafe { _mm256_storeu_ps(ds.as_mut_ptr(), scales) };
        let mut part = [_mm256_setzero_ps(); T];
        for (p, block) in unit.chunks_exact(bytes).enumerate() {
            let a = block.as_ptr();
            let at = b * QK_K + 32 * p;
            // SAFETY: Q5_0's high bits are at 2..6 of a block and its
            // nibbles at 6..22, Q8_0's integers at 2..34.
            let w = unsafe {
                if Q5 {
                    let qs = _mm_loadu_si128(a.add(6).cast());
                    let nib = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16::<4>(qs), qs), low4);
                    let qh = u32::from_le_bytes([block[2], block[3], block[4], block[5]]);
                    _mm256_or_si256(nib, fifth_bits(qh))
                } else {
                    _mm256_loadu_si256(a.add(2).cast())
                }
            };
            let magnitude = if Q5 { w } else { _mm256_sign_epi8(w, w) };
            let d = _mm256_set1_ps(ds[p]);
            for (x, part) in xs.iter().zip(part.iter_mut()) {
                // SAFETY: `x.qs` has the 32 inputs at `at` (checked by the
                // callers).
                let xv = unsafe { _mm256_loadu_si256(x.qs.as_ptr().add(at).cast()) };
                let xv = if Q5 { xv } else { _mm256_sign_epi8(xv, w) };
                let i = _mm256_madd_epi16(_mm256_maddubs_epi16(magnitude, xv), ones);
                *part = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i), d, *part);
            }
        }
        for (((x, acc), bias), part) in xs.iter().zip(&mut acc).zip(&mut bias).zip(part) {
            let dx = _mm256_set1_ps(x.d[b]);
            *acc = _mm256_fmadd_ps(part, dx, *acc);
            if Q5 {
                // SAFETY: `x.sums` has 8 sums per unit (checked by the
                // callers); the scales past a partial unit's end are zero.
                let sums = unsafe { _mm256_loadu_si256(x.sums.as_ptr().add(8 * b).cast()) };
                let scaled = _mm256_mul_ps(scales, _mm256_cvtepi32_ps(sums));
                *bias = _mm256_fmadd_ps(scaled, dx, *bias);
            }
        }
    }
    std::array::from_fn(|t| sum8(acc[t]) - 16.0 * sum8(bias[t]))
}

/// [`super::blocks::quantize_block`] with AVX2 and FMA.
pub(super) fn quantize_block(block: &[f32], out: &mut [i8]) -> f32 {
    assert_cpu();
    // SAFETY: the CPU has the features (checked above).
    unsafe { quantize_block_at(block, out) }
}

#[target_feature(enable = "avx2,fma,f16c")]
fn quantize_block_at(block: &[f32], out: &mut [i8]) -> f32 {
    super::blocks::quantize_values(block, out)
}

/// [`super::gemm::quantize_token`] with AVX2: each superblock's integers
/// put in lane order with the transpose of [`unpack_unit`].
pub(super) fn quantize_token(token: &[f32], part: &mut TokenParts) {
    assert_cpu();
    // SAFETY: the CPU has the features (checked above).
    unsafe { quantize_token_at(token, part) }
}

#[target_feature(enable = "avx2,fma,f16c")]
fn quantize_token_at(token: &[f32], part: &mut TokenParts) {
    super::gemm::quantize_token(token, part, |natural, dst| {
        assert!(dst.len() >= QK_K);
        let p = natural.as_ptr();
        // SAFETY: `natural` has 256 bytes, `dst` at least 256 (checked).
        unsafe {
            let n = std::array::from_fn(|i| _mm256_loadu_si256(p.add(32 * i).cast()));
            store_lane_order(n, dst.as_mut_ptr().cast());
        }
    });
}

/// The 256 integers of `unit` as unsigned bytes in natural order, 32 to a
/// vector (missing 32-value blocks of a partial unit as zeros). `unit` is
/// whole blocks of `kind`: all of a Q4_K or Q6_K superblock.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn natural_unit(kind: Kind, unit: &[u8]) -> [__m256i; 8] {
    assert!(!unit.is_empty() && unit.len() <= kind.unit_bytes());
    assert!(unit.len().is_multiple_of(kind.block_bytes()));
    let low4 = _mm256_set1_epi8(0x0F);
    let p = unit.as_ptr();
    // The unit's values in natural order, 32 at a time.
    let mut n = [_mm256_setzero_si256(); 8];
    match kind {
        Kind::Q4K => {
            for c in 0..4 {
                // SAFETY: a block has 128 nibble bytes at 16.
                let raw = unsafe { _mm256_loadu_si256(p.add(16 + 32 * c).cast()) };
                n[2 * c] = _mm256_and_si256(raw, low4);
                n[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16::<4>(raw), low4);
            }
        }
        Kind::Q6K => {
            let bits45 = _mm256_set1_epi8(0x30);
            for h in 0..2 {
                // SAFETY: `ql` is bytes 0..128 of the block, `qh` 128..192.
                let (ql0, ql1, qh) = unsafe {
                    (
                        _mm256_loadu_si256(p.add(64 * h).cast()),
                        _mm256_loadu_si256(p.add(64 * h + 32).cast()),
                        _mm256_loadu_si256(p.add(128 + 32 * h).cast()),
                    )
                };
                let merge = |lo: __m256i, hi: __m256i| {
                    _mm256_or_si256(_mm256_and_si256(lo, low4), _mm256_and_si256(hi, bits45))
                };
                n[4 * h] = merge(ql0, _mm256_slli_epi16::<4>(qh));
                n[4 * h + 1] = merge(ql1, _mm256_slli_epi16::<2>(qh));
                n[4 * h + 2] = merge(_mm256_srli_epi16::<4>(ql0), qh);
                n[4 * h + 3] = merge(_mm256_srli_epi16::<4>(ql1), _mm256_srli_epi16::<2>(qh));
            }
        }
        Kind::Q5_0 | Kind::Q8_0 => {
            let flip = _mm256_set1_epi8(-128);
            for (i, block) in unit.chunks_exact(kind.block_bytes()).enumerate() {
                let a = block.as_ptr();
                // SAFETY: as in `dot_small`.
                n[i] = unsafe {
                    if kind == Kind::Q5_0 {
                        let qs = _mm_loadu_si128(a.add(6).cast());
                        let nib =
                            _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16::<4>(qs), qs), low4);
                        let qh = u32::from_le_bytes([block[2], block[3], block[4], block[5]]);
                        _mm256_or_si256(nib, fifth_bits(qh))
                    } else {
                        _mm256_xor_si256(_mm256_loadu_si256(a.add(2).cast()), flip)
                    }
                };
            }
        }
    }
    n
}

/// Stores the 256 bytes `n` (natural order, 32 at a time) at `dst` in lane
/// order.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn store_lane_order(n: [__m256i; 8], dst: *mut u8) {
    for h in 0..2 {
        // Words 32h + 4j + k (j = 0..8) go to the half h of lane-order
        // vector k: a 4 × 8 transpose of the half's words.
        let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        // 64-bit element k of each now holds words k and 4 + k.
        let m = [0, 1, 2, 3].map(|c| _mm256_permutevar8x32_epi32(n[4 * h + c], order));
        let (a, b) = (
            _mm256_unpacklo_epi64(m[0], m[1]),
            _mm256_unpackhi_epi64(m[0], m[1]),
        );
        let (c, d) = (
            _mm256_unpacklo_epi64(m[2], m[3]),
            _mm256_unpackhi_epi64(m[2], m[3]),
        );
        let out = [
            _mm256_permute2x128_si256::<0x20>(a, c),
            _mm256_permute2x128_si256::<0x20>(b, d),
            _mm256_permute2x128_si256::<0x31>(a, c),
            _mm256_permute2x128_si256::<0x31>(b, d),
        ];
        for (k, v) in out.into_iter().enumerate() {
            // SAFETY: the caller passes 256 bytes at `dst`.
            unsafe { _mm256_storeu_si256(dst.add(64 * k + 32 * h).cast(), v) };
        }
    }
}
