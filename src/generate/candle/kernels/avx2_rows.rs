//! Prompt products with AVX2, eight rows at a time: the AVX2 path's prompt
//! kernel for every block type the bundled models use.
//!
//! A kernel that keeps one row's sixteen groups in the lanes of its vectors
//! (as [`super::gemm`]'s lane order does for AVX-512) loads each input byte
//! for one row, and pays a conversion and three float operations per
//! 16-value group and token for the group's scale and offset. Here the
//! eight 32-bit lanes of a vector are eight rows:
//!
//! - the rows' unpacked integers are stored word by word (four values of
//!   each of the eight rows, 32 bytes), so one vector holds the same four
//!   values of every row;
//! - a token's four bytes for those values are broadcast into every lane
//!   (one load), and one `vpmaddubsw` multiplies them with all eight rows;
//! - Q4_K's and Q6_K's group scales are integers (Q4_K's 6-bit scales,
//!   Q6_K's signed 8-bit ones), applied by the `vpmaddwd` that widens each
//!   group's 16-bit sums, so a whole superblock is summed exactly in 32 bits;
//! - their offsets (Q4_K's mins, Q6_K's −32 times its scales) are summed in
//!   integers too: each row's mins or scales times the token's group sums,
//!   one `vpmaddwd` per pair of groups or halves;
//! - floats come in once per superblock and token: the two integer sums
//!   times the row's `d` and `dmin` (Q6_K: 32 `d`) and the token's scale.
//!   Q5_0 and Q8_0 have a float scale per 32-value block, so each block's
//!   exact integer sum takes one multiply-add.
//!
//! On CPUs with AVX-512 VNNI the same kernels take its 256-bit instructions
//! (with AVX-512 VL): `vpdpbusd` sums unsigned weight bytes times signed
//! token bytes straight into 32 bits, so Q5_0 and Q8_0 (kept unsigned,
//! biased by 128) need one instruction per word and token, and Q4_K's and
//! Q6_K's scale groups are summed in 32 bits and multiplied by their
//! scales (`vpmulld`); `vpdpwssd` takes the offsets. The 32 registers hold
//! eight tokens' sums.
//!
//! The integer sums are exact, so each value differs from the portable
//! kernel's only in the order of its float operations, and is the same with
//! or without VNNI; and each token's value takes the same operations
//! whether it is multiplied in a group of tokens or alone, so a prompt gives
//! the same values however it is split into passes.
//!
//! Bounds: a Q4_K weight is at most 15 and an input at most 127 in
//! magnitude, so a `vpmaddubsw` pair is at most 3,810 and the eight of a
//! 32-value half (32 values of a row) at most 30,480 in 16 bits; a Q6_K
//! weight is at most 63, a pair 16,002, two pairs 32,004. A superblock's
//! scaled sum is at most 256 · 63 · 127 · 63 (Q4_K) or 256 · 63 · 127 · 128
//! (Q6_K), its offsets 256 · 127 · 128 at most, all below 2^31. Q5_0 and
//! Q8_0 bounds are at [`small`].

#![allow(unsafe_code)]

use std::arch::x86_64::*;
use std::ops::Range;

use super::avx2::natural_unit;
use super::blocks::{f16_at, scales_mins, Kind, QK_K};
use super::gemm::{Tokens, GROUPS, PAIR_SUMS};

/// Rows multiplied together: one per 32-bit lane.
pub(super) const ROWS: usize = 8;
/// Tokens multiplied together with each loaded vector of weights.
pub(super) const TOKENS: usize = 4;
/// The same with the VNNI instructions: a CPU with AVX-512 VL has 32 vector
/// registers, room for eight tokens' sums.
const TOKENS_VNNI: usize = 8;
/// Four-value words per superblock.
const WORDS: usize = QK_K / 4;
/// Bytes of eight rows' unpacked superblock.
const UNIT: usize = WORDS * 4 * ROWS;
/// 32-value blocks (Q5_0, Q8_0) per 256-value unit.
const BLOCKS: usize = QK_K / 32;

/// Eight rows' span of superblocks, unpacked word by word.
pub(super) struct Rows {
    kind: Kind,
    /// Unpacked for the VNNI instructions (see [`unpack`]).
    vnni: bool,
    /// Superblocks unpacked.
    units: usize,
    /// Per superblock, word `w` of the eight rows at `32 w`.
    w: Vec<u8>,
    /// Per superblock and group (Q6_K) or 32-value half (Q4_K), each row's
    /// scale in both 16-bit halves of its lane.
    scale: Vec<i32>,
    /// Per superblock and pair of groups (Q6_K: scales) or of halves (Q4_K:
    /// mins), each row's two as 16-bit halves of its lane.
    pair: Vec<i32>,
    /// Each row's `d` per superblock.
    d: Vec<f32>,
    /// Each row's `dmin` per superblock (Q6_K: 32 `d`).
    dmin: Vec<f32>,
    /// Q5_0 and Q8_0: each row's `d` per 32-value block, eight a unit.
    block_d: Vec<f32>,
}

impl Rows {
    /// Room for a span of `units` superblocks.
    pub(super) fn new(units: usize) -> Self {
        Self {
            kind: Kind::Q4K,
            vnni: false,
            units: 0,
            w: vec![0; units * UNIT],
            scale: vec![0; units * GROUPS * ROWS],
            pair: vec![0; units * GROUPS / 2 * ROWS],
            d: vec![0.0; units * ROWS],
            dmin: vec![0.0; units * ROWS],
            block_d: vec![0.0; units * BLOCKS * ROWS],
        }
    }
}

/// Two 16-bit values as one 32-bit lane, `lo` in the lower half.
fn halves(lo: i32, hi: i32) -> i32 {
    (lo as u16 as u32 | (hi as u16 as u32) << 16) as i32
}

/// A row's scale in its lane: as it is for the VNNI kernels, which multiply
/// 32-bit sums by it; else in both 16-bit halves, for `vpmaddwd`.
fn scale_lane(scale: i32, vnni: bool) -> i32 {
    if vnni {
        scale
    } else {
        halves(scale, scale)
    }
}

/// Unpacks the same span (whole blocks of `kind`, the same length; a span
/// of Q5_0 or Q8_0 may end in part of a 256-value unit) of up to eight rows
/// into `out`; rows past `rows.len()`, and the missing blocks of a partial
/// unit, are zeros.
///
/// With `vnni` (the CPU has AVX-512 VNNI and VL, checked) the rows are for
/// [`products`] with the 256-bit VNNI instructions, and Q8_0's integers stay
/// unsigned (biased by 128) as Q5_0's are (by 16): `vpdpbusd` multiplies
/// unsigned weights by signed inputs into 32-bit sums, and the bias comes
/// off with the token's block sums.
pub(super) fn unpack(kind: Kind, rows: &[&[u8]], vnni: bool, out: &mut Rows) {
    assert!(super::avx2::cpu_has_avx2());
    assert!(!vnni || super::path::cpu_has_vnni());
    assert!(!rows.is_empty() && rows.len() <= ROWS);
    let bytes = rows[0].len();
    let units = bytes.div_ceil(kind.unit_bytes());
    assert!(bytes.is_multiple_of(kind.block_bytes()) && rows.iter().all(|r| r.len() == bytes));
    assert!(out.w.len() >= units * UNIT && out.block_d.len() >= units * BLOCKS * ROWS);
    out.kind = kind;
    out.vnni = vnni;
    out.units = units;
    // SAFETY: the CPU has the features (checked above).
    unsafe { unpack_units(kind, rows, vnni, out) }
}

/// The body of [`unpack`], compiled for AVX2 so that the unit's unpacking
/// and the stores are inlined into it (a function without the features
/// called each intrinsic on its own).
///
/// # Safety
/// The CPU has AVX2, FMA and F16C, and [`unpack`]'s checks passed.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn unpack_units(kind: Kind, rows: &[&[u8]], vnni: bool, out: &mut Rows) {
    let bytes = rows[0].len();
    for b in 0..out.units {
        let at = b * kind.unit_bytes()..bytes.min((b + 1) * kind.unit_bytes());
        // SAFETY: the CPU has the features (checked above); every row's unit
        // is whole blocks of `kind`, and `out.w` has the unit's bytes
        // (checked above).
        unsafe {
            let n: [[__m256i; 8]; ROWS] = std::array::from_fn(|r| match rows.get(r) {
                // Q8_0's integers as signed bytes again, except for VNNI.
                Some(row) if kind == Kind::Q8_0 && !vnni => natural_unit(kind, &row[at.clone()])
                    .map(|v| _mm256_xor_si256(v, _mm256_set1_epi8(-128))),
                Some(row) => natural_unit(kind, &row[at.clone()]),
                None => [_mm256_setzero_si256(); 8],
            });
            store_words(&n, out.w[b * UNIT..].as_mut_ptr());
        }
        if matches!(kind, Kind::Q5_0 | Kind::Q8_0) {
            for r in 0..ROWS {
                for k in 0..BLOCKS {
                    // The f16 scale of block `k`; zero for a missing row or
                    // block.
                    let block = rows.get(r).and_then(|row| {
                        let at = at.start + k * kind.block_bytes();
                        row.get(at..at + kind.block_bytes())
                    });
                    out.block_d[(b * BLOCKS + k) * ROWS + r] = block.map_or(0.0, |b| f16_at(b, 0));
                }
            }
            continue;
        }
        for r in 0..ROWS {
            let lane = |i: usize| (b * GROUPS + i) * ROWS + r;
            let pair = |i: usize| (b * GROUPS / 2 + i) * ROWS + r;
            let Some(row) = rows.get(r) else {
                // A missing row's lanes: zero weights, scales and offsets.
                (0..GROUPS).for_each(|g| out.scale[lane(g)] = 0);
                (0..GROUPS / 2).for_each(|p| out.pair[pair(p)] = 0);
                (out.d[b * ROWS + r], out.dmin[b * ROWS + r]) = (0.0, 0.0);
                continue;
            };
            let unit = &row[at.clone()];
            match kind {
                Kind::Q4K => {
                    let (sc, m) = scales_mins(&unit[4..16]);
                    for (s, &sc) in sc.iter().enumerate() {
                        out.scale[lane(s)] = scale_lane(sc.into(), vnni);
                    }
                    for p in 0..4 {
                        out.pair[pair(p)] = halves(m[2 * p].into(), m[2 * p + 1].into());
                    }
                    out.d[b * ROWS + r] = f16_at(unit, 0);
                    out.dmin[b * ROWS + r] = f16_at(unit, 2);
                }
                _ => {
                    let sc = |g: usize| i32::from(unit[192 + g] as i8);
                    for g in 0..GROUPS {
                        out.scale[lane(g)] = scale_lane(sc(g), vnni);
                    }
                    for p in 0..GROUPS / 2 {
                        out.pair[pair(p)] = halves(sc(2 * p), sc(2 * p + 1));
                    }
                    let d = f16_at(unit, 208);
                    (out.d[b * ROWS + r], out.dmin[b * ROWS + r]) = (d, 32.0 * d);
                }
            }
        }
    }
}

/// Stores eight rows' 256 bytes (natural order, 32 to a vector) word by
/// word at `dst`: word `w` of rows 0..8 at `32 w`, by an 8 × 8 transpose of
/// each vector's words.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn store_words(n: &[[__m256i; 8]; ROWS], dst: *mut u8) {
    for j in 0..8 {
        let column = n.map(|row| row[j]);
        let r = |i: usize| column[i];
        let at = |k: usize| dst.wrapping_add(32 * (8 * j + k));
        let t = [0, 2, 4, 6].map(|i| {
            (
                _mm256_unpacklo_epi32(r(i), r(i + 1)),
                _mm256_unpackhi_epi32(r(i), r(i + 1)),
            )
        });
        // Words k and 4 + k of rows 4q..4q + 4, for k = 0..4.
        let u = [0, 2].map(|q| {
            [
                _mm256_unpacklo_epi64(t[q].0, t[q + 1].0),
                _mm256_unpackhi_epi64(t[q].0, t[q + 1].0),
                _mm256_unpacklo_epi64(t[q].1, t[q + 1].1),
                _mm256_unpackhi_epi64(t[q].1, t[q + 1].1),
            ]
        });
        for (k, (&a, &b)) in u[0].iter().zip(&u[1]).enumerate() {
            let low = _mm256_permute2x128_si256::<0x20>(a, b);
            let high = _mm256_permute2x128_si256::<0x31>(a, b);
            // SAFETY: the caller passes a superblock's `UNIT` bytes.
            unsafe {
                _mm256_storeu_si256(at(k).cast(), low);
                _mm256_storeu_si256(at(4 + k).cast(), high);
            }
        }
    }
}

/// The eight rows' span (superblocks `blocks` of the tokens) times tokens
/// `tokens`, each token's eight values given to `put`.
///
/// Rows unpacked for VNNI take the same kernels with the 256-bit VNNI
/// instructions: `vpdpbusd` sums Q5_0's and Q8_0's words straight into 32
/// bits, and `vpdpwssd` widens and adds in one step. The integer sums are
/// the same, so the values are the same bits.
pub(super) fn products(
    rows: &Rows,
    x: &Tokens,
    tokens: Range<usize>,
    blocks: Range<usize>,
    mut put: impl FnMut(usize, [f32; ROWS]),
) {
    assert!(super::avx2::cpu_has_avx2());
    // `unpack` checked the CPU for rows unpacked for VNNI.
    let vnni = rows.vnni;
    let per_token = x.inner / QK_K;
    assert!(blocks.len() == rows.units && blocks.end <= per_token);
    assert!(tokens.end * x.inner <= x.qs.len() && tokens.end * per_token <= x.d.len());
    assert!(tokens.end * per_token * PAIR_SUMS <= x.pair_sums.len());
    let mut t = tokens.start;
    // SAFETY (both calls): the CPU has the features, and every read is in
    // bounds (both checked above).
    while vnni && t + TOKENS_VNNI <= tokens.end {
        let ys = unsafe { tile_vnni::<TOKENS_VNNI>(rows, x, t, blocks.clone()) };
        for (j, y) in ys.into_iter().enumerate() {
            put(t + j, y);
        }
        t += TOKENS_VNNI;
    }
    while t + TOKENS <= tokens.end {
        let ys = unsafe {
            if vnni {
                tile_vnni::<TOKENS>(rows, x, t, blocks.clone())
            } else {
                tile::<TOKENS>(rows, x, t, blocks.clone())
            }
        };
        for (j, y) in ys.into_iter().enumerate() {
            put(t + j, y);
        }
        t += TOKENS;
    }
    for t in t..tokens.end {
        let [y] = unsafe {
            if vnni {
                tile_vnni::<1>(rows, x, t, blocks.clone())
            } else {
                tile::<1>(rows, x, t, blocks.clone())
            }
        };
        put(t, y);
    }
}

/// Tokens `t..t + N` times the rows, by block type, with AVX2.
///
/// # Safety
/// The CPU has AVX2, FMA and F16C, and [`products`]' checks passed.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn tile<const N: usize>(
    rows: &Rows,
    x: &Tokens,
    t: usize,
    blocks: Range<usize>,
) -> [[f32; ROWS]; N] {
    // SAFETY: as the caller promises.
    unsafe { tile_of::<N, false>(rows, x, t, blocks) }
}

/// [`tile`] with the 256-bit AVX-512 VNNI instructions.
///
/// # Safety
/// The CPU has AVX2, FMA, F16C, AVX-512 VNNI and VL, and [`products`]'
/// checks passed.
#[target_feature(enable = "avx2,fma,f16c,avx512vnni,avx512vl")]
unsafe fn tile_vnni<const N: usize>(
    rows: &Rows,
    x: &Tokens,
    t: usize,
    blocks: Range<usize>,
) -> [[f32; ROWS]; N] {
    // SAFETY: as the caller promises.
    unsafe { tile_of::<N, true>(rows, x, t, blocks) }
}

/// The body of [`tile`] and [`tile_vnni`]: inlined into each, so that its
/// instructions are those of the caller's features.
///
/// # Safety
/// As for [`tile`], and for [`tile_vnni`] when `VNNI`.
#[inline(always)]
unsafe fn tile_of<const N: usize, const VNNI: bool>(
    rows: &Rows,
    x: &Tokens,
    t: usize,
    blocks: Range<usize>,
) -> [[f32; ROWS]; N] {
    // SAFETY: as the caller promises.
    unsafe {
        let acc = match rows.kind {
            Kind::Q4K => kernel::<N, 8, 8, 4, GROUPS, VNNI>(rows, x, t, blocks),
            Kind::Q6K => kernel::<N, 2, 4, 8, 0, VNNI>(rows, x, t, blocks),
            Kind::Q5_0 => small::<N, false, VNNI>(rows, x, t, blocks),
            Kind::Q8_0 => small::<N, true, VNNI>(rows, x, t, blocks),
        };
        acc.map(|a| {
            let mut out = [0f32; ROWS];
            _mm256_storeu_ps(out.as_mut_ptr(), a);
            out
        })
    }
}

/// Byte offset of natural word `w` (values 4w..4w + 4) in a token's
/// superblock, which [`Tokens`] stores in lane order.
#[inline(always)]
fn lane_word(w: usize) -> usize {
    64 * (w % 4) + 4 * (w / 4)
}

/// The four bytes (or two 16-bit values) at `p` in every lane.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn broadcast<T>(p: *const T) -> __m256i {
    // SAFETY: the caller passes four readable bytes.
    _mm256_set1_epi32(unsafe { p.cast::<i32>().read_unaligned() })
}

/// Where token `t`'s superblock `b` starts: its integers, its pair sums
/// and its scale.
#[inline(always)]
fn token_unit(x: &Tokens, t: usize, b: usize) -> (*const i8, *const i16, f32) {
    let first = t * (x.inner / QK_K) + b;
    // SAFETY: `products` checked that token `t`'s superblocks are there.
    unsafe {
        (
            x.qs.as_ptr().add(first * QK_K),
            x.pair_sums.as_ptr().add(first * PAIR_SUMS),
            *x.d.get_unchecked(first),
        )
    }
}

/// One kernel for both types, by their constants: `CHUNK` words are
/// summed in 16 bits and widened times the scale of their `PER_SCALE`
/// words; `PAIRS` pairs of scales or mins, times the token's sums from
/// `PAIRS_AT` in its pair sums, are the offsets; each superblock's sums are
/// then scaled by the row's `d` and `dmin` times the token's scale.
///
/// - Q4_K: 32-value halves (8 words, one scale each) and four pairs of
///   mins against the halves' sums;
/// - Q6_K: pairs of words (a 16-value group, 4 words, has one scale) and
///   eight pairs of scales against the groups' sums, `dmin` being 32 `d`.
#[inline(always)]
unsafe fn kernel<
    const N: usize,
    const CHUNK: usize,
    const PER_SCALE: usize,
    const PAIRS: usize,
    const PAIRS_AT: usize,
    const VNNI: bool,
>(
    rows: &Rows,
    x: &Tokens,
    t: usize,
    blocks: Range<usize>,
) -> [__m256; N] {
    let mut acc = [_mm256_setzero_ps(); N];
    for (i, b) in blocks.enumerate() {
        let units: [_; N] = std::array::from_fn(|j| token_unit(x, t + j, b));
        // SAFETY (every load below): `unpack` filled superblock `i` of the
        // rows, and `products` checked the tokens' superblock `b`.
        unsafe {
            let w = rows.w.as_ptr().add(i * UNIT);
            let mut sum = [_mm256_setzero_si256(); N];
            for s in 0..WORDS / PER_SCALE {
                let at = (i * GROUPS + s) * ROWS;
                let scale = _mm256_loadu_si256(rows.scale.as_ptr().add(at).cast());
                if VNNI {
                    // The scale's words summed in 32 bits (at most 32 · 63 ·
                    // 127), then times the scale.
                    let ints = words_vnni::<N>(w, s * PER_SCALE..(s + 1) * PER_SCALE, &units);
                    for (sum, ints) in sum.iter_mut().zip(ints) {
                        *sum = _mm256_add_epi32(*sum, _mm256_mullo_epi32(ints, scale));
                    }
                    continue;
                }
                for first in (s * PER_SCALE..(s + 1) * PER_SCALE).step_by(CHUNK) {
                    let pairs = words::<N, false>(w, first..first + CHUNK, &units);
                    for (sum, p) in sum.iter_mut().zip(pairs) {
                        *sum = _mm256_add_epi32(*sum, _mm256_madd_epi16(p, scale));
                    }
                }
            }
            let mut offsets = [_mm256_setzero_si256(); N];
            for p in 0..PAIRS {
                let at = (i * GROUPS / 2 + p) * ROWS;
                let two = _mm256_loadu_si256(rows.pair.as_ptr().add(at).cast());
                for (o, u) in offsets.iter_mut().zip(&units) {
                    let sums = broadcast(u.1.add(PAIRS_AT + 2 * p));
                    *o = if VNNI {
                        _mm256_dpwssd_epi32(*o, two, sums)
                    } else {
                        _mm256_add_epi32(*o, _mm256_madd_epi16(two, sums))
                    };
                }
            }
            let d = _mm256_loadu_ps(rows.d.as_ptr().add(i * ROWS));
            let dmin = _mm256_loadu_ps(rows.dmin.as_ptr().add(i * ROWS));
            for j in 0..N {
                let dt = _mm256_set1_ps(units[j].2);
                let a = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[j]), _mm256_mul_ps(d, dt), acc[j]);
                acc[j] =
                    _mm256_fnmadd_ps(_mm256_cvtepi32_ps(offsets[j]), _mm256_mul_ps(dmin, dt), a);
            }
        }
    }
    acc
}

/// Words `words` of the rows at `w` times the same words of each token,
/// summed in 16 bits: unsigned weights, or signed ones (`SIGNED`, Q8_0)
/// multiplied by magnitude with the token taking their sign.
///
/// # Safety
/// The CPU has AVX2; `w` holds the words, and each unit's integers are
/// a token's superblock.
#[inline(always)]
unsafe fn words<const N: usize, const SIGNED: bool>(
    w: *const u8,
    words: Range<usize>,
    units: &[(*const i8, *const i16, f32); N],
) -> [__m256i; N] {
    let mut pairs = [_mm256_setzero_si256(); N];
    for word in words {
        // SAFETY: as the caller promises.
        unsafe {
            let v = _mm256_loadu_si256(w.add(32 * word).cast());
            let magnitude = if SIGNED { _mm256_abs_epi8(v) } else { v };
            for (p, u) in pairs.iter_mut().zip(units) {
                let q = broadcast(u.0.add(lane_word(word)));
                let q = if SIGNED { _mm256_sign_epi8(q, v) } else { q };
                *p = _mm256_add_epi16(*p, _mm256_maddubs_epi16(magnitude, q));
            }
        }
    }
    pairs
}

/// Words `words` of the rows at `w` (unsigned) times the same words of each
/// token, summed straight into 32 bits by `vpdpbusd`.
///
/// # Safety
/// The CPU has AVX-512 VNNI and VL; `w` holds the words, and each unit's
/// integers are a token's superblock.
#[inline(always)]
unsafe fn words_vnni<const N: usize>(
    w: *const u8,
    words: Range<usize>,
    units: &[(*const i8, *const i16, f32); N],
) -> [__m256i; N] {
    let mut sums = [_mm256_setzero_si256(); N];
    for word in words {
        // SAFETY: as the caller promises.
        unsafe {
            let v = _mm256_loadu_si256(w.add(32 * word).cast());
            for (sum, u) in sums.iter_mut().zip(units) {
                let q = broadcast(u.0.add(lane_word(word)));
                *sum = _mm256_dpbusd_epi32(*sum, v, q);
            }
        }
    }
    sums
}

/// Q5_0 (`SIGNED` false) and Q8_0: per 32-value block, its words summed in
/// 16 bits (four at a time for Q5_0, at most 4 · 2 · 31 · 127 = 31,496; one
/// for Q8_0, at most 2 · 128 · 127 = 32,512) and widened; Q5_0's bias of 16
/// taken off with the block's token sum; each block's sum times the row's
/// block scale, and each unit's times the token's scale.
///
/// With `VNNI` the words of both types are unsigned (Q8_0's biased by 128)
/// and summed straight into 32 bits (at most 32 · 255 · 127), and the bias
/// comes off the same way for both.
#[inline(always)]
unsafe fn small<const N: usize, const SIGNED: bool, const VNNI: bool>(
    rows: &Rows,
    x: &Tokens,
    t: usize,
    blocks: Range<usize>,
) -> [__m256; N] {
    let chunk = if SIGNED { 1 } else { 4 };
    let (ones, sixteen) = (_mm256_set1_epi16(1), _mm256_set1_epi16(16));
    let minus_bias = _mm256_set1_epi16(if SIGNED { -128 } else { -16 });
    let mut acc = [_mm256_setzero_ps(); N];
    for (i, b) in blocks.enumerate() {
        let units: [_; N] = std::array::from_fn(|j| token_unit(x, t + j, b));
        // SAFETY (every load below): `unpack` filled unit `i` of the rows,
        // and `products` checked the tokens' superblock `b`.
        unsafe {
            let w = rows.w.as_ptr().add(i * UNIT);
            let mut unit = [_mm256_setzero_ps(); N];
            for k in 0..BLOCKS {
                let mut sum = [_mm256_setzero_si256(); N];
                if VNNI {
                    sum = words_vnni::<N>(w, 8 * k..8 * k + 8, &units);
                    // The bias times the token's sums of the block's two
                    // groups.
                    for (sum, u) in sum.iter_mut().zip(&units) {
                        let sums = broadcast(u.1.add(2 * k));
                        *sum = _mm256_dpwssd_epi32(*sum, minus_bias, sums);
                    }
                } else {
                    for first in (8 * k..8 * k + 8).step_by(chunk) {
                        let pairs = words::<N, SIGNED>(w, first..first + chunk, &units);
                        for (sum, p) in sum.iter_mut().zip(pairs) {
                            *sum = _mm256_add_epi32(*sum, _mm256_madd_epi16(p, ones));
                        }
                    }
                    if !SIGNED {
                        // 16 times the token's sums of the block's two groups.
                        for (sum, u) in sum.iter_mut().zip(&units) {
                            let sums = broadcast(u.1.add(2 * k));
                            *sum = _mm256_sub_epi32(*sum, _mm256_madd_epi16(sixteen, sums));
                        }
                    }
                }
                let d = _mm256_loadu_ps(rows.block_d.as_ptr().add((i * BLOCKS + k) * ROWS));
                for (unit, sum) in unit.iter_mut().zip(sum) {
                    *unit = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), d, *unit);
                }
            }
            for (acc, (unit, u)) in acc.iter_mut().zip(unit.iter().zip(&units)) {
                *acc = _mm256_fmadd_ps(*unit, _mm256_set1_ps(u.2), *acc);
            }
        }
    }
    acc
}
