//! Attention of one new token over the KV cache (a decode step).
//!
//! candle computes a decode step's attention as two small f32 matrix products
//! and a softmax, which its CPU backend runs on rayon's threads while the
//! worker pool that runs the quantized products spins on the same cores. On a
//! 2-core machine that took about a tenth of a 1.5B decode step after a
//! 1,000-token prompt. Here each thread of candle's worker pool takes whole KV
//! heads: it reads each cached key and value row once for all the query heads
//! that share it (grouped-query attention), and the products are plain loops
//! over 16 floats at a time that the compiler vectorizes, once for each
//! instruction set the kernel paths take (the binary itself is built for
//! plain x86-64).
//!
//! The cache holds keys and values as f16, as llama.cpp's does: a decode
//! step after a 1,000-token prompt reads every cached position of every
//! layer, 63 MB a token in f32 for the 1.5B model. Each block of positions
//! is widened to f32 (exactly) into a buffer in the first-level cache, and
//! the products run on it as before. A prompt pass, each of whose tokens
//! reads the whole cache, widens its layer's cache once instead
//! ([`many_tokens`]).
//!
//! Upstream, this is a fused single-query attention for candle's CPU backend
//! (`candle-nn`'s `ops`), which has one for Metal and CUDA only.

use std::sync::atomic::{AtomicU32, Ordering};

use half::f16;
use half::slice::HalfFloatSliceExt;

use super::blocks::floats;
use crate::error::{Error, Result};

/// The shape of a layer's attention.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Heads {
    /// Query heads.
    pub(crate) heads: usize,
    /// Key/value heads; each serves `heads / kv_heads` query heads.
    pub(crate) kv_heads: usize,
    /// Values per head.
    pub(crate) head_dim: usize,
}

/// Floats summed 16 at a time (one AVX-512 register, two AVX2 ones).
const LANES: usize = 16;

#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    for (a, b) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        for i in 0..LANES {
            acc[i] += a[i] * b[i];
        }
    }
    let tail: f32 = a
        .chunks_exact(LANES)
        .remainder()
        .iter()
        .zip(b.chunks_exact(LANES).remainder())
        .map(|(a, b)| a * b)
        .sum();
    acc.iter().sum::<f32>() + tail
}

/// `out += w · v`.
#[inline(always)]
fn axpy(out: &mut [f32], w: f32, v: &[f32]) {
    for (o, v) in out.iter_mut().zip(v) {
        *o += w * v;
    }
}

/// Cached keys or values as the attention reads them: f16 as the cache
/// holds them, widened block by block, or f32 (a prompt pass widens its
/// layer's cache once, since each of its tokens reads all of it).
trait Cached: Copy + Sync {
    /// `src` as f32: itself, or widened into `buf` (as long as `src` or
    /// longer).
    fn block<'a, const EIGHT: u8>(src: &'a [Self], buf: &'a mut [f32]) -> &'a [f32];
}

impl Cached for f32 {
    #[inline(always)]
    fn block<'a, const EIGHT: u8>(src: &'a [f32], _buf: &'a mut [f32]) -> &'a [f32] {
        src
    }
}

impl Cached for f16 {
    #[inline(always)]
    fn block<'a, const EIGHT: u8>(src: &'a [f16], buf: &'a mut [f32]) -> &'a [f32] {
        let out = &mut buf[..src.len()];
        widen::<EIGHT>(src, out);
        out
    }
}

/// One key/value head's share of a decode step: the query heads that use
/// it, and its cached keys and values.
struct KvHead<'a, T> {
    keys: &'a [T],
    values: &'a [T],
    qs: &'a [f32],
    head_dim: usize,
    scale: f32,
}

/// The attention of `head`'s query heads into `acc` (`scores` holds their
/// weights): scores, softmax, weighted values. Plain loops, vectorized for
/// whatever the caller is compiled for; their float order does not depend
/// on the vector width, so every path gives the same bits.
///
/// With `EIGHT` set to [`AVX2`] or [`AVX512`] (only where the CPU has that
/// instruction set) the scores of eight positions at a time come from
/// [`eight_dots`] or [`eight_dots_avx512`], which give each exactly what
/// [`dot`] gives it.
#[inline(always)]
#[allow(unsafe_code)]
fn kv_head<const EIGHT: u8, T: Cached>(
    head: &KvHead<T>,
    scores: &mut [f32],
    acc: &mut [f32],
    wide: &mut Vec<f32>,
) {
    let (len, head_dim) = (head.keys.len() / head.head_dim, head.head_dim);
    let block = block_positions(head_dim);
    wide.resize(block * head_dim, 0.0);
    for p0 in (0..len).step_by(block) {
        let p1 = len.min(p0 + block);
        let keys = T::block::<EIGHT>(&head.keys[p0 * head_dim..p1 * head_dim], wide);
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        if EIGHT != PLAIN && head_dim.is_multiple_of(LANES) {
            for (b, eight) in keys.chunks_exact(8 * head_dim).enumerate() {
                for (h, qh) in head.qs.chunks_exact(head_dim).enumerate() {
                    // SAFETY: `EIGHT` is set only by the callers compiled
                    // for AVX2 (`kv_head_avx2`) or AVX-512 (`kv_head_avx512`),
                    // which run only where the CPU has it.
                    let dots = unsafe {
                        if EIGHT == AVX512 {
                            eight_dots_avx512(qh, eight)
                        } else {
                            eight_dots(qh, eight)
                        }
                    };
                    for (i, d) in dots.into_iter().enumerate() {
                        scores[h * len + p0 + 8 * b + i] = d * head.scale;
                    }
                }
                done += 8;
            }
        }
        for (j, key) in keys.chunks_exact(head_dim).enumerate().skip(done) {
            for (h, qh) in head.qs.chunks_exact(head_dim).enumerate() {
                scores[h * len + p0 + j] = dot(qh, key) * head.scale;
            }
        }
    }
    for row in scores.chunks_exact_mut(len) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0f32;
        for s in row.iter_mut() {
            *s = (*s - max).exp();
            sum += *s;
        }
        for s in row.iter_mut() {
            *s /= sum;
        }
    }
    // Each output value sums its weighted values position after position,
    // `CHUNK` values of a head at a time, so that the sums stay in
    // registers while the positions stream past. The positions go in
    // blocks whose values stay in the first-level cache while every query
    // head of the group reads them: the values are read from memory once,
    // not once per query head and chunk. A block's sums start from the
    // previous block's, so each output value still adds its positions one
    // after another from zero.
    acc.fill(0.0);
    for p0 in (0..len).step_by(block) {
        let p1 = len.min(p0 + block);
        let values = T::block::<EIGHT>(&head.values[p0 * head_dim..p1 * head_dim], wide);
        for (h, a) in acc.chunks_exact_mut(head_dim).enumerate() {
            let weights = &scores[h * len + p0..h * len + p1];
            let mut c = 0;
            while c + CHUNK <= head_dim {
                let mut sums = [0f32; CHUNK];
                sums.copy_from_slice(&a[c..c + CHUNK]);
                for (&w, value) in weights.iter().zip(values.chunks_exact(head_dim)) {
                    axpy(&mut sums, w, &value[c..c + CHUNK]);
                }
                a[c..c + CHUNK].copy_from_slice(&sums);
                c += CHUNK;
            }
            let rest = &mut a[c..];
            for (&w, value) in weights.iter().zip(values.chunks_exact(head_dim)) {
                axpy(rest, w, &value[c..]);
            }
        }
    }
}

/// `src` widened to f32 into `dst` (exactly, on every path). With `EIGHT`
/// not [`PLAIN`] (callers compiled for AVX2 and F16C) eight values an
/// instruction,
/// inlined; otherwise through `half`, which converts a slice in calls of
/// eight values.
#[inline(always)]
#[allow(unsafe_code)]
fn widen<const EIGHT: u8>(src: &[f16], dst: &mut [f32]) {
    assert!(src.len() == dst.len());
    #[cfg(target_arch = "x86_64")]
    if EIGHT != PLAIN {
        use std::arch::x86_64::{_mm256_cvtph_ps, _mm256_storeu_ps, _mm_loadu_si128};
        let whole = src.len() / 8 * 8;
        for i in (0..whole).step_by(8) {
            // SAFETY: `i + 8 <= len` for both slices (checked above), and
            // `EIGHT` is set only by callers compiled for AVX2 and F16C.
            unsafe {
                let h = _mm_loadu_si128(src.as_ptr().add(i).cast());
                _mm256_storeu_ps(dst.as_mut_ptr().add(i), _mm256_cvtph_ps(h));
            }
        }
        src[whole..].convert_to_f32_slice(&mut dst[whole..]);
        return;
    }
    src.convert_to_f32_slice(dst);
}

/// Positions widened to f32 at a time: [`VALUE_BLOCK_BYTES`] of them, in
/// whole eights (the keys' products go eight positions at a time).
fn block_positions(head_dim: usize) -> usize {
    (VALUE_BLOCK_BYTES / (4 * head_dim.max(1)) / 8 * 8).max(8)
}

/// Bytes of cached values read by every query head of a group before the
/// next positions: a block of positions that stays in a first-level cache
/// of 32 KiB beside the keys and weights.
const VALUE_BLOCK_BYTES: usize = 16 * 1024;

/// [`kv_head`]'s scores: plain loops only.
const PLAIN: u8 = 0;
/// [`kv_head`]'s scores: eight positions at a time in AVX2 registers.
const AVX2: u8 = 1;
/// [`kv_head`]'s scores: eight positions at a time in AVX-512 registers.
const AVX512: u8 = 2;

/// Output values summed together in [`kv_head`]: eight AVX2 registers, four
/// AVX-512 ones, each summing its own values: eight sums in flight hide the
/// latency of each addition.
const CHUNK: usize = 64;

/// The instruction set [`kv_head`] is compiled for, from the kernel path.
#[derive(Clone, Copy)]
enum Simd {
    Plain,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Simd {
    fn in_use() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if super::path::has_vnni() {
                return Simd::Avx512;
            }
            if super::path::has_avx2() {
                return Simd::Avx2;
            }
        }
        Simd::Plain
    }

    #[allow(unsafe_code)]
    fn run<T: Cached>(
        self,
        head: &KvHead<T>,
        scores: &mut [f32],
        acc: &mut [f32],
        wide: &mut Vec<f32>,
    ) {
        match self {
            Simd::Plain => kv_head::<PLAIN, T>(head, scores, acc, wide),
            // SAFETY: the path is only chosen where the CPU has the
            // features (`has_avx2`, `has_vnni`).
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2 => unsafe { kv_head_avx2(head, scores, acc, wide) },
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512 => unsafe { kv_head_avx512(head, scores, acc, wide) },
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
fn kv_head_avx2<T: Cached>(
    head: &KvHead<T>,
    scores: &mut [f32],
    acc: &mut [f32],
    wide: &mut Vec<f32>,
) {
    kv_head::<AVX2, T>(head, scores, acc, wide);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,f16c")]
fn kv_head_avx512<T: Cached>(
    head: &KvHead<T>,
    scores: &mut [f32],
    acc: &mut [f32],
    wide: &mut Vec<f32>,
) {
    kv_head::<AVX512, T>(head, scores, acc, wide);
}

/// [`dot`] of `q` with each of the eight keys that follow one another in
/// `keys`, bit for bit: each key's sixteen running sums are formed as
/// `dot` forms them, then transposed so that one vector holds the same
/// running sum of all eight keys, and those vectors are added in `dot`'s
/// order (sum 0 plus sum 1, plus sum 2, …). `dot` adds them one float at a
/// time, which took about a third of a prompt's attention.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(unsafe_code)]
unsafe fn eight_dots(q: &[f32], keys: &[f32]) -> [f32; 8] {
    use std::arch::x86_64::*;
    let n = q.len();
    assert!(n.is_multiple_of(LANES) && keys.len() == 8 * n);
    let (qp, kp) = (q.as_ptr(), keys.as_ptr());
    let mut lo = [_mm256_setzero_ps(); 8];
    let mut hi = [_mm256_setzero_ps(); 8];
    for c in (0..n).step_by(LANES) {
        // SAFETY: `c + 16 <= n`, and key `i` is `keys[i * n..(i + 1) * n]`
        // (checked above).
        unsafe {
            let (qa, qb) = (_mm256_loadu_ps(qp.add(c)), _mm256_loadu_ps(qp.add(c + 8)));
            for i in 0..8 {
                let k = kp.add(i * n + c);
                lo[i] = _mm256_add_ps(lo[i], _mm256_mul_ps(qa, _mm256_loadu_ps(k)));
                hi[i] = _mm256_add_ps(hi[i], _mm256_mul_ps(qb, _mm256_loadu_ps(k.add(8))));
            }
        }
    }
    // SAFETY: the caller runs where the CPU has AVX2.
    unsafe { in_dot_order(lo, hi) }
}

/// [`eight_dots`] in AVX-512 registers: each key's sixteen running sums in
/// one register (32 of them leave room for all eight keys without spilling
/// to the stack), split into the halves that [`eight_dots`] keeps apart,
/// then added in the same order.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(unsafe_code)]
unsafe fn eight_dots_avx512(q: &[f32], keys: &[f32]) -> [f32; 8] {
    use std::arch::x86_64::*;
    let n = q.len();
    assert!(n.is_multiple_of(LANES) && keys.len() == 8 * n);
    let (qp, kp) = (q.as_ptr(), keys.as_ptr());
    let mut sums = [_mm512_setzero_ps(); 8];
    for c in (0..n).step_by(LANES) {
        // SAFETY: as in `eight_dots`.
        unsafe {
            let qv = _mm512_loadu_ps(qp.add(c));
            for (i, s) in sums.iter_mut().enumerate() {
                *s = _mm512_add_ps(*s, _mm512_mul_ps(qv, _mm512_loadu_ps(kp.add(i * n + c))));
            }
        }
    }
    let mut lo = [_mm256_setzero_ps(); 8];
    let mut hi = [_mm256_setzero_ps(); 8];
    for i in 0..8 {
        lo[i] = _mm512_castps512_ps256(sums[i]);
        hi[i] = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(sums[i])));
    }
    // SAFETY: the CPU has AVX-512F, and so AVX2.
    unsafe { in_dot_order(lo, hi) }
}

/// The dot products of eight keys from their running sums (`lo`: sums 0 to
/// 7 of key `i` in `lo[i]`, `hi`: sums 8 to 15), added in [`dot`]'s order.
/// Inlined into callers compiled for AVX2 or more.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(unsafe_code)]
unsafe fn in_dot_order(
    lo: [std::arch::x86_64::__m256; 8],
    hi: [std::arch::x86_64::__m256; 8],
) -> [f32; 8] {
    use std::arch::x86_64::*;
    // SAFETY: the caller runs where the CPU has AVX2.
    let (lo, hi) = unsafe { (transpose(lo), transpose(hi)) };
    let mut sum = lo[0];
    for v in lo[1..].iter().chain(&hi) {
        sum = _mm256_add_ps(sum, *v);
    }
    let mut out = [0f32; 8];
    // SAFETY: `out` holds eight floats.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), sum) };
    out
}

/// Rows become columns: lane `i` of vector `l` of the result is lane `l` of
/// `r[i]`. Written without closures, which would not be compiled for the
/// caller's instruction set.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(unsafe_code)]
unsafe fn transpose(r: [std::arch::x86_64::__m256; 8]) -> [std::arch::x86_64::__m256; 8] {
    use std::arch::x86_64::*;
    let mut t = [(_mm256_setzero_ps(), _mm256_setzero_ps()); 4];
    for (k, t) in t.iter_mut().enumerate() {
        *t = (
            _mm256_unpacklo_ps(r[2 * k], r[2 * k + 1]),
            _mm256_unpackhi_ps(r[2 * k], r[2 * k + 1]),
        );
    }
    let mut u = [[_mm256_setzero_ps(); 4]; 2];
    for (k, u) in u.iter_mut().enumerate() {
        let (a, b) = (t[2 * k], t[2 * k + 1]);
        *u = [
            _mm256_shuffle_ps::<0x44>(a.0, b.0),
            _mm256_shuffle_ps::<0xEE>(a.0, b.0),
            _mm256_shuffle_ps::<0x44>(a.1, b.1),
            _mm256_shuffle_ps::<0xEE>(a.1, b.1),
        ];
    }
    let mut out = [_mm256_setzero_ps(); 8];
    for l in 0..4 {
        out[l] = _mm256_permute2f128_ps::<0x20>(u[0][l], u[1][l]);
        out[l + 4] = _mm256_permute2f128_ps::<0x31>(u[0][l], u[1][l]);
    }
    out
}

/// An error unless a query of `q_len` values and caches `k` and `v` of
/// `len` positions (head `g`'s at `g · stride`) fit `shape`.
fn one_token_checks(
    q_len: usize,
    k: &[f16],
    v: &[f16],
    len: usize,
    stride: usize,
    shape: Heads,
) -> Result<()> {
    let Heads {
        heads,
        kv_heads,
        head_dim,
    } = shape;
    let fits =
        |cache: &[f16]| kv_heads > 0 && cache.len() >= (kv_heads - 1) * stride + len * head_dim;
    if kv_heads == 0
        || !heads.is_multiple_of(kv_heads)
        || q_len != heads * head_dim
        || len == 0
        || stride < len * head_dim
        || !fits(k)
        || !fits(v)
    {
        return Err(Error::Generation(format!(
            "attention of {q_len} query values over {len} positions does not fit {heads} heads \
             ({kv_heads} key/value heads) of {head_dim}"
        )));
    }
    Ok(())
}

/// The attention output of one query token, `heads × head_dim` values in
/// head order, for `q` (`heads × head_dim`, rotary embedding applied) over
/// the first `len` positions of the caches `k` and `v`: each
/// `kv_heads × stride` values, head `g`'s position `j` at
/// `g · stride + j · head_dim`.
pub(crate) fn one_token(
    q: &[f32],
    k: &[f16],
    v: &[f16],
    len: usize,
    stride: usize,
    shape: Heads,
) -> Result<Vec<f32>> {
    one_token_checks(q.len(), k, v, len, stride, shape)?;
    let Heads {
        heads,
        kv_heads,
        head_dim,
    } = shape;
    let group = heads / kv_heads;
    let scale = 1.0 / (head_dim as f32).sqrt();
    let out: Vec<AtomicU32> = (0..heads * head_dim).map(|_| AtomicU32::new(0)).collect();
    let simd = Simd::in_use();
    candle_core::utils::barrier_pool().execute_chunked(kv_heads, |range| {
        let mut scores = vec![0f32; group * len];
        let mut acc = vec![0f32; group * head_dim];
        let mut wide = Vec::new();
        for g in range {
            let head = KvHead {
                keys: &k[g * stride..g * stride + len * head_dim],
                values: &v[g * stride..g * stride + len * head_dim],
                qs: &q[g * group * head_dim..(g + 1) * group * head_dim],
                head_dim,
                scale,
            };
            simd.run(&head, &mut scores, &mut acc, &mut wide);
            let first = g * group * head_dim;
            for (o, a) in out[first..first + group * head_dim].iter().zip(&acc) {
                o.store(a.to_bits(), Ordering::Relaxed);
            }
        }
    });
    Ok(floats(out))
}

/// The first `len` positions of every key/value head of `cache` (see
/// [`one_token`]) widened to f32, head after head.
fn wide_heads(cache: &[f16], len: usize, stride: usize, shape: Heads) -> Vec<f32> {
    let per_head = len * shape.head_dim;
    let mut out = vec![0f32; shape.kv_heads * per_head];
    for (g, o) in out.chunks_exact_mut(per_head.max(1)).enumerate() {
        cache[g * stride..g * stride + per_head].convert_to_f32_slice(o);
    }
    out
}

/// The attention outputs of `seq` query tokens at positions `first..first
/// + seq` (a prompt pass; `q` is `seq × heads × head_dim`, token after
/// token), each over the cached positions up to and including its own:
/// for every token exactly what [`one_token`] gives it over those
/// positions, so that a prompt's values do not depend on how it is split
/// into passes, nor on the positions reused from an earlier prompt.
/// `seq × heads × head_dim` values, token after token.
pub(crate) fn many_tokens(
    q: &[f32],
    k: &[f16],
    v: &[f16],
    first: usize,
    stride: usize,
    shape: Heads,
) -> Result<Vec<f32>> {
    let Heads {
        heads,
        kv_heads,
        head_dim,
    } = shape;
    let width = heads * head_dim;
    if width == 0 || !q.len().is_multiple_of(width) {
        return Err(Error::Generation(format!(
            "{} query values are not whole tokens of {heads} heads of {head_dim}",
            q.len()
        )));
    }
    let seq = q.len() / width;
    let len = first + seq;
    // The checks of `one_token`, for the longest query.
    one_token_checks(q.len() / seq, k, v, len, stride, shape)?;
    let group = heads / kv_heads;
    let scale = 1.0 / (head_dim as f32).sqrt();
    let out: Vec<AtomicU32> = (0..seq * width).map(|_| AtomicU32::new(0)).collect();
    let simd = Simd::in_use();
    // Every token reads the cache up to its own position: it is widened to
    // f32 once for all of them (head after head, `len` positions each).
    let (keys, values) = (
        wide_heads(k, len, stride, shape),
        wide_heads(v, len, stride, shape),
    );
    let at_head = |g: usize, n: usize| g * len * head_dim..(g * len + n) * head_dim;
    // One item per key/value head and query token.
    candle_core::utils::barrier_pool().execute_chunked(kv_heads * seq, |range| {
        let mut scores = vec![0f32; group * len];
        let mut acc = vec![0f32; group * head_dim];
        let mut wide = Vec::new();
        for item in range {
            let (g, t) = (item / seq, item % seq);
            let n = first + t + 1;
            let at = t * width + g * group * head_dim;
            let head = KvHead {
                keys: &keys[at_head(g, n)],
                values: &values[at_head(g, n)],
                qs: &q[at..at + group * head_dim],
                head_dim,
                scale,
            };
            simd.run(&head, &mut scores[..group * n], &mut acc, &mut wide);
            for (o, a) in out[at..at + group * head_dim].iter().zip(&acc) {
                o.store(a.to_bits(), Ordering::Relaxed);
            }
        }
    });
    Ok(floats(out))
}

#[cfg(test)]
mod tests {
    use super::super::testing::random;
    use super::*;
    use candle_core::{Device, Tensor};

    /// candle's attention of the same query, as the model computed it before.
    fn candle_attention(q: &[f32], k: &[f32], v: &[f32], len: usize, shape: Heads) -> Vec<f32> {
        let Heads {
            heads,
            kv_heads,
            head_dim,
        } = shape;
        let dev = &Device::Cpu;
        let group = heads / kv_heads;
        let q = Tensor::from_slice(q, (1, kv_heads, group, head_dim), dev).unwrap();
        let k = Tensor::from_slice(k, (1, kv_heads, len, head_dim), dev).unwrap();
        let v = Tensor::from_slice(v, (1, kv_heads, len, head_dim), dev).unwrap();
        let scores = (q.matmul(&k.t().unwrap()).unwrap() / (head_dim as f64).sqrt()).unwrap();
        let w = candle_nn::ops::softmax_last_dim(&scores).unwrap();
        super::super::testing::floats(&w.matmul(&v).unwrap())
    }

    #[test]
    fn matches_candles_products_and_softmax() {
        // Qwen2.5-1.5B's heads (12 query, 2 key/value, 128 values) and
        // 0.5B's (14, 2, 64); one position, a few, and a long cache.
        for (shape, len) in [
            ((12, 2, 128), 1),
            ((12, 2, 128), 37),
            ((14, 2, 64), 1200),
            ((4, 4, 24), 9),
        ] {
            let shape = Heads {
                heads: shape.0,
                kv_heads: shape.1,
                head_dim: shape.2,
            };
            let n = shape.kv_heads * len * shape.head_dim;
            // Queries scaled up so that the softmax is far from uniform.
            let q: Vec<f32> = random(shape.heads * shape.head_dim, 1)
                .iter()
                .map(|x| 4.0 * x)
                .collect();
            let (k, v) = (halves(n, 2), halves(n, 3));
            let got = one_token(&q, &k, &v, len, len * shape.head_dim, shape).unwrap();
            let want = candle_attention(&q, &widen(&k), &widen(&v), len, shape);
            assert_eq!(got.len(), want.len());
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-5,
                    "{shape:?} len {len} value {i}: {a} vs {b}"
                );
            }
        }
    }

    /// `n` random values in f16, from `seed`.
    fn halves(n: usize, seed: u64) -> Vec<f16> {
        random(n, seed).into_iter().map(f16::from_f32).collect()
    }

    fn widen(h: &[f16]) -> Vec<f32> {
        h.iter().map(|x| x.to_f32()).collect()
    }

    /// Random queries of `group` heads (times `q_scale`), keys and values
    /// of `len` positions, from seeds `seed..seed + 3`.
    fn random_head(
        group: usize,
        head_dim: usize,
        len: usize,
        seed: u64,
        q_scale: f32,
    ) -> (Vec<f32>, Vec<f16>, Vec<f16>) {
        let q = random(group * head_dim, seed)
            .iter()
            .map(|x| q_scale * x)
            .collect();
        (
            q,
            halves(len * head_dim, seed + 1),
            halves(len * head_dim, seed + 2),
        )
    }

    fn head_of(data: &(Vec<f32>, Vec<f16>, Vec<f16>), head_dim: usize) -> KvHead<'_, f16> {
        KvHead {
            qs: &data.0,
            keys: &data.1,
            values: &data.2,
            head_dim,
            scale: 0.125,
        }
    }

    #[test]
    fn each_value_adds_its_positions_in_order_across_blocks() {
        // 300 positions of 64 values: five blocks of 64, the last partial;
        // 7 query heads, as in the 0.5B model, and a head of 72 values
        // (one chunk of 64 and a rest of 8).
        for (head_dim, len) in [(64, 300), (72, 130)] {
            let group = 7;
            let data = random_head(group, head_dim, len, 11, 1.0);
            let (head, values) = (head_of(&data, head_dim), widen(&data.2));
            let mut scores = vec![0f32; group * len];
            let mut acc = vec![0f32; group * head_dim];
            kv_head::<PLAIN, f16>(&head, &mut scores, &mut acc, &mut Vec::new());
            for h in 0..group {
                for i in 0..head_dim {
                    let mut want = 0f32;
                    for j in 0..len {
                        want += scores[h * len + j] * values[j * head_dim + i];
                    }
                    assert_eq!(acc[h * head_dim + i].to_bits(), want.to_bits(), "{h} {i}");
                }
            }
        }
    }

    #[test]
    fn every_instruction_set_gives_the_same_bits() {
        // Both models' head sizes, one that takes no groups of eight
        // positions (24 values), and lengths around multiples of eight.
        for (head_dim, len) in [(128, 37), (64, 8), (64, 1), (64, 300), (24, 19)] {
            let group = 6;
            let data = random_head(group, head_dim, len, 7, 4.0);
            let head = head_of(&data, head_dim);
            let (q, keys) = (&data.0, widen(&data.1));
            let run = |simd: Simd| {
                let (mut scores, mut acc) = (vec![0f32; group * len], vec![0f32; group * head_dim]);
                simd.run(&head, &mut scores, &mut acc, &mut Vec::new());
                (scores, acc)
            };
            let plain = run(Simd::Plain);
            // The scores are the softmax weights: equal weights and equal
            // outputs.
            #[cfg(target_arch = "x86_64")]
            {
                if super::super::path::cpu_has_avx2() {
                    assert_eq!(run(Simd::Avx2), plain, "avx2 {head_dim} {len}");
                }
                if super::super::path::cpu_has_vnni() {
                    assert_eq!(run(Simd::Avx512), plain, "avx512 {head_dim} {len}");
                }
            }
            let direct: Vec<f32> = keys
                .chunks_exact(head_dim)
                .map(|k| dot(&q[..head_dim], k))
                .collect();
            #[cfg(target_arch = "x86_64")]
            if head_dim % LANES == 0 && len >= 8 && super::super::path::cpu_has_avx2() {
                // SAFETY: the CPU has AVX2 (checked).
                #[allow(unsafe_code)]
                let eight = unsafe { eight_dots(&q[..head_dim], &keys[..8 * head_dim]) };
                assert_eq!(eight.as_slice(), &direct[..8]);
                if super::super::path::cpu_has_vnni() {
                    // SAFETY: the CPU has AVX-512 (checked).
                    #[allow(unsafe_code)]
                    let wide = unsafe { eight_dots_avx512(&q[..head_dim], &keys[..8 * head_dim]) };
                    assert_eq!(wide.as_slice(), &direct[..8]);
                }
            }
            assert_eq!(direct.len(), len);
        }
    }

    #[test]
    fn each_prompt_token_gets_exactly_its_decode_step_attention() {
        let shape = Heads {
            heads: 14,
            kv_heads: 2,
            head_dim: 64,
        };
        let width = shape.heads * shape.head_dim;
        // A cache with room for 64 positions, 23 cached before a pass of 9.
        let (cap, first, seq) = (64, 23, 9);
        let stride = cap * shape.head_dim;
        let (k, v) = (halves(2 * stride, 4), halves(2 * stride, 5));
        let q: Vec<f32> = random(seq * width, 6).iter().map(|x| 4.0 * x).collect();
        let got = many_tokens(&q, &k, &v, first, stride, shape).unwrap();
        for t in 0..seq {
            let qt = &q[t * width..(t + 1) * width];
            let want = one_token(qt, &k, &v, first + t + 1, stride, shape).unwrap();
            assert_eq!(
                &got[t * width..(t + 1) * width],
                want.as_slice(),
                "token {t}"
            );
        }
        // Queries that are not whole tokens, or a pass past the cache.
        assert!(many_tokens(&q[1..], &k, &v, first, stride, shape).is_err());
        assert!(many_tokens(&q, &k, &v, cap - 3, stride, shape).is_err());
    }

    #[test]
    fn reads_only_the_used_positions_of_a_larger_cache() {
        let shape = Heads {
            heads: 4,
            kv_heads: 2,
            head_dim: 16,
        };
        let (len, cap) = (5, 8);
        let q = random(4 * 16, 4);
        let (k, v) = (halves(2 * cap * 16, 5), halves(2 * cap * 16, 6));
        let got = one_token(&q, &k, &v, len, cap * 16, shape).unwrap();
        // The same positions copied into a cache of exactly `len`.
        let pack = |c: &[f16]| -> Vec<f16> {
            (0..2)
                .flat_map(|g| c[g * cap * 16..g * cap * 16 + len * 16].to_vec())
                .collect()
        };
        let want = one_token(&q, &pack(&k), &pack(&v), len, len * 16, shape).unwrap();
        assert_eq!(got, want);
    }

    #[test]
    fn shapes_that_do_not_fit_are_errors() {
        let shape = Heads {
            heads: 4,
            kv_heads: 2,
            head_dim: 16,
        };
        let q = random(64, 7);
        let kv = halves(2 * 5 * 16, 8);
        assert!(one_token(&q, &kv, &kv, 6, 5 * 16, shape).is_err());
        assert!(one_token(&q[..60], &kv, &kv, 5, 5 * 16, shape).is_err());
        assert!(one_token(&q, &kv, &kv, 0, 5 * 16, shape).is_err());
        let odd = Heads {
            kv_heads: 3,
            ..shape
        };
        assert!(one_token(&q, &kv, &kv, 1, 16, odd).is_err());
    }
}
