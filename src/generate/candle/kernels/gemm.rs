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
//! 64-byte vectors holds four values of the same 16-value group `i`. With
//! AVX2 (checked at run time) the kernel of [`super::avx2_rows`] takes
//! eight rows at a time, with the 256-bit AVX-512 VNNI instructions where
//! the CPU has them; without AVX2 a portable loop computes the same integer
//! sums.
//!
//! Where AMX is available [`super::amx`] takes the prompts instead.
//! Upstream, this is candle's `QMatMul` keeping K-quant matrices on their
//! compact blocks for several tokens, as `repack_x86::select` already does
//! for a single Q6_K row.

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
/// Tokens multiplied with each unpacked span of a row by the portable
/// kernel.
const TILE_TOKENS: usize = 32;
/// Superblocks of a row unpacked at a time by the portable kernel, which
/// unpacks one row at a time: the tile's inputs for them (32 tokens x 16
/// superblocks of 8-bit values, 128 KiB) stay in the core's second-level
/// cache.
const SPAN_ONE_ROW: usize = 16;

/// The same for the SIMD kernel of eight rows at a time ([`avx2_rows`]):
/// eight rows' span of 8 superblocks is 16 KiB.
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
    /// The sum of each group's integers, then of each 32-value half of a
    /// group pair: [`PAIR_SUMS`] per superblock.
    pub(super) pair_sums: Vec<i16>,
}

/// Sums in [`Tokens::pair_sums`] per superblock: 16 groups, then 8 pairs.
pub(super) const PAIR_SUMS: usize = GROUPS + GROUPS / 2;

/// One token's share of [`Tokens`]: its integers, scales and sums.
pub(super) type TokenParts<'a> = (&'a mut [i8], &'a mut [f32], &'a mut [f32], &'a mut [i16]);

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
            pair_sums: vec![0; blocks * PAIR_SUMS],
        };
        let per = inner / QK_K;
        let parts: Vec<std::sync::Mutex<TokenParts>> = out
            .qs
            .chunks_mut(inner)
            .zip(out.d.chunks_mut(per))
            .zip(out.sums.chunks_mut(per * GROUPS))
            .zip(out.pair_sums.chunks_mut(per * PAIR_SUMS))
            .map(|(((q, d), s), p)| std::sync::Mutex::new((q, d, s, p)))
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
    (qs, ds, sums, pairs): &mut TokenParts,
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
struct Row {
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
        // The tile's sums, token by token over the thread's rows, so that
        // they reach `out` as runs of neighbouring values.
        let width = range.len();
        if width == 0 {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        let eight = avx2;
        #[cfg(not(target_arch = "x86_64"))]
        let eight = {
            let _ = (avx2, vnni);
            false
        };
        let mut row = Row::new(if eight { 0 } else { SPAN_ONE_ROW });
        #[cfg(target_arch = "x86_64")]
        let mut rows8 = avx2_rows::Rows::new(if eight { SPAN_EIGHT_ROWS } else { 0 });
        let span_len = if eight { SPAN_EIGHT_ROWS } else { SPAN_ONE_ROW };
        let tile = if eight { TILE_EIGHT_ROWS } else { TILE_TOKENS };
        let mut sums = vec![0f32; tile.min(n) * width];
        for t0 in (0..n).step_by(tile) {
            let t1 = n.min(t0 + tile);
            sums.fill(0.0);
            for b0 in (0..blocks).step_by(span_len) {
                let span = b0..blocks.min(b0 + span_len);
                #[cfg(target_arch = "x86_64")]
                if eight {
                    for r0 in range.clone().step_by(avx2_rows::ROWS) {
                        let r1 = range.end.min(r0 + avx2_rows::ROWS);
                        let mut bytes: [&[u8]; avx2_rows::ROWS] = [&[]; avx2_rows::ROWS];
                        for (b, r) in bytes.iter_mut().zip(r0..r1) {
                            *b = bytes_of(r, &span);
                        }
                        avx2_rows::unpack(kind, &bytes[..r1 - r0], vnni, &mut rows8);
                        let first = r0 - range.start;
                        avx2_rows::products(&rows8, x, t0..t1, span.clone(), |t, ys| {
                            let at = (t - t0) * width + first;
                            for (sum, y) in sums[at..at + (r1 - r0)].iter_mut().zip(ys) {
                                *sum += y;
                            }
                        });
                    }
                    continue;
                }
                for r in range.clone() {
                    unpack_portable(kind, bytes_of(r, &span), &mut row);
                    for t in t0..t1 {
                        let y = dot_portable(&row, x, t, span.clone());
                        sums[(t - t0) * width + r - range.start] += y;
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
                        avx2_rows::unpack(kind, &spans, false, &mut eight);
                        let blocks = 0..width / QK_K;
                        let mut all = vec![[0f32; avx2_rows::ROWS]; tokens];
                        avx2_rows::products(&eight, &x, 0..tokens, blocks.clone(), |u, ys| {
                            all[u] = ys;
                        });
                        // With the VNNI instructions: the same integer sums,
                        // so the same bits.
                        if super::super::path::cpu_has_vnni() {
                            let mut with = avx2_rows::Rows::new(width / QK_K);
                            avx2_rows::unpack(kind, &spans, true, &mut with);
                            let mut ys = vec![[0f32; avx2_rows::ROWS]; tokens];
                            avx2_rows::products(&with, &x, 0..tokens, blocks.clone(), |u, y| {
                                ys[u] = y;
                            });
                            assert_eq!(ys, all, "{kind:?} rows from {r} with VNNI");
                        }
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
            assert_eq!(got.pair_sums, plain.pair_sums, "{path:?}");
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
