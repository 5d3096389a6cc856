//! Prompt products of compact Q4_K, Q6_K, Q5_0 and Q8_0 matrices on Intel
//! AMX.
//!
//! AMX multiplies 8-bit tiles: `tdpbusd` adds to a 16 × 16 tile of 32-bit
//! sums the products of 16 rows of unsigned bytes (here: 16 weight rows) with
//! 16 columns of signed bytes (here: 16 tokens). Every 16 rows of a matrix are
//! unpacked from the file's blocks into a small per-thread buffer, once per
//! product, and multiplied with every 16 tokens of the prompt; no copy of the
//! weights outlives the product (candle's AMX path keeps one of 10 bits a
//! weight beside the file's 4.5 or 6.6).
//!
//! The tokens are quantized like ggml's Q8_K (one scale per 256 values) and
//! stored as AMX B tiles: for each 16 tokens and each 16 values, 4 rows of 16
//! tokens × 4 values. A tile product covers one group with one weight scale
//! (Q4_K, Q5_0, Q8_0: 32 values, Q6_K: 16), and its sums are scaled and
//! added, 16 tokens at a time, to float accumulators held in vector
//! registers, with the offsets (Q4_K's mins, Q6_K's −32, the biases of the
//! unsigned Q5_0 and Q8_0 integers) taken against the tokens' integer sums.
//! For Q4_K and Q6_K the float operations are those of candle's tiled
//! kernels, in the same order, so the products are bit-for-bit candle's
//! (tested).
//!
//! The tile instructions are written with `asm!`: Rust's AMX intrinsics are
//! not stable. Linux hands out AMX state only on request (`arch_prctl`), made
//! once; where the CPU or the kernel says no, [`available`] is false and the
//! products take [`super::gemm`].
//!
//! Upstream, this is candle's AMX Q4_K path unpacking 16 rows at a time
//! instead of keeping a repacked copy, extended to Q6_K.
#![allow(unsafe_code)]

use std::sync::Mutex;

use super::blocks::{
    check_rows, floats, quantize_block, row_bytes, span, span_scales, unpack_block, Kind, QK_K,
};
use super::path::cpu_has_amx;
use crate::error::{Error, Result};

/// Rows of weights, and tokens, in one tile.
const TILE: usize = 16;
/// Values per group of token sums (Q6_K's scale group).
const GROUP: usize = 16;
/// Groups per superblock.
const GROUPS: usize = QK_K / GROUP;

/// 16 tokens quantized like Q8_K, as AMX B tiles.
struct TokenBlock {
    /// For each group of 16 values: 4 rows of 16 tokens × 4 values.
    tiles: Vec<i8>,
    /// Per superblock, each token's scale (16 floats).
    d: Vec<f32>,
    /// Per superblock and group of 16 values, each token's integer sum (as
    /// a float: exact).
    sums: Vec<f32>,
}

/// Tokens ready for [`gemm`].
pub(crate) struct Tokens {
    inner: usize,
    n: usize,
    blocks: Vec<TokenBlock>,
}

impl Tokens {
    /// Quantizes `x`, rows of `inner` values (whole superblocks).
    pub(crate) fn quantize(x: &[f32], inner: usize) -> Result<Self> {
        check_rows(x, inner)?;
        let n = x.len() / inner;
        let count = n.div_ceil(TILE);
        let slots: Vec<Mutex<Option<TokenBlock>>> = (0..count).map(|_| Mutex::new(None)).collect();
        candle_core::utils::barrier_pool().execute_chunked(count, |range| {
            for tb in range {
                let rows = &x[tb * TILE * inner..x.len().min((tb + 1) * TILE * inner)];
                let block = pack(rows, inner);
                if let Ok(mut slot) = slots[tb].lock() {
                    *slot = Some(block);
                }
            }
        });
        let blocks = slots
            .into_iter()
            .map(|s| s.into_inner().ok().flatten())
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| Error::Generation("a block of tokens was not quantized".into()))?;
        Ok(Self { inner, n, blocks })
    }
}

/// Quantizes up to 16 tokens (`rows`, `inner` values each) into B tiles;
/// missing tokens are zero.
fn pack(rows: &[f32], inner: usize) -> TokenBlock {
    let supers = inner / QK_K;
    let mut out = TokenBlock {
        tiles: vec![0; TILE * inner],
        d: vec![0.0; supers * TILE],
        sums: vec![0.0; supers * GROUPS * TILE],
    };
    let mut q = [0i8; QK_K];
    for (t, row) in rows.chunks_exact(inner).enumerate() {
        for (b, values) in row.chunks_exact(QK_K).enumerate() {
            let d = quantize_block(values, &mut q);
            out.d[b * TILE + t] = d;
            for (g, group) in q.chunks_exact(GROUP).enumerate() {
                let sum: i32 = group.iter().map(|&v| v as i32).sum();
                out.sums[(b * GROUPS + g) * TILE + t] = sum as f32;
                // Group tile: row kk holds values 4kk..4kk+4 of each token.
                let tile = &mut out.tiles[(b * GROUPS + g) * GROUP * TILE..];
                for (kk, four) in group.chunks_exact(4).enumerate() {
                    let at = kk * 4 * TILE + 4 * t;
                    tile[at..at + 4].copy_from_slice(four);
                }
            }
        }
    }
    out
}

/// 16 weight rows unpacked: per scale group (`span` values) the 16 rows'
/// integers one after the other (one AMX A tile), and per group and row its
/// scale (and for Q4_K its min).
struct Rows {
    w: Vec<u8>,
    scale: Vec<f32>,
    min: Vec<f32>,
}

/// Unpacks rows `r0..r0 + 16` of `w` (`row_bytes` each) into `out`.
fn unpack_rows(kind: Kind, w: &[u8], row_bytes: usize, r0: usize, out: &mut Rows) {
    let k = span(kind);
    let per = QK_K / k;
    let mut values = [0u8; QK_K];
    for r in 0..TILE {
        let row = &w[(r0 + r) * row_bytes..(r0 + r + 1) * row_bytes];
        for (b, block) in row.chunks(kind.unit_bytes()).enumerate() {
            unpack_block(kind, block, &mut values);
            for (s, part) in values.chunks_exact(k).enumerate() {
                let g = b * per + s;
                let at = (g * TILE + r) * k;
                out.w[at..at + k].copy_from_slice(part);
            }
            span_scales(kind, block, |s, scale, min| {
                let at = (b * per + s) * TILE + r;
                out.scale[at] = scale;
                out.min[at] = min;
            });
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod tiles {
    use super::{span, Kind, Rows, TokenBlock, GROUP, GROUPS, QK_K, TILE};
    use std::arch::x86_64::*;

    /// The AMX tile configuration (palette 1): tmm0-3 16 × 16 sums, tmm4-5
    /// 16 weight rows of `k` bytes, tmm6-7 `k / 4` rows of 16 tokens × 4.
    #[repr(C, align(64))]
    struct Config {
        palette: u8,
        start_row: u8,
        reserved: [u8; 14],
        colsb: [u16; 16],
        rows: [u8; 16],
    }

    /// This thread's tiles, configured for products over `k` values; the
    /// configuration found before (another library's, or none) is restored
    /// when dropped.
    pub(super) struct Session {
        k: usize,
        before: Config,
    }

    impl Config {
        fn empty() -> Self {
            Self {
                palette: 0,
                start_row: 0,
                reserved: [0; 14],
                colsb: [0; 16],
                rows: [0; 16],
            }
        }
    }

    impl Session {
        /// Configures this thread's tiles for `kind`.
        pub(super) fn new(kind: Kind) -> Self {
            assert!(
                super::super::path::cpu_has_amx(),
                "AMX tiles need a CPU that has them"
            );
            let k = span(kind);
            let mut before = Config::empty();
            let mut cfg = Config::empty();
            cfg.palette = 1;
            for t in 0..4 {
                (cfg.colsb[t], cfg.rows[t]) = (64, 16);
            }
            for t in 4..6 {
                (cfg.colsb[t], cfg.rows[t]) = (k as u16, 16);
                (cfg.colsb[t + 2], cfg.rows[t + 2]) = (64, (k / 4) as u8);
            }
            // SAFETY: `available()` checked the CPU and got the kernel's
            // permission; `sttilecfg` writes 64 bytes (zeros when the tiles
            // are not configured) and `cfg` is a valid palette-1
            // configuration.
            unsafe {
                std::arch::asm!("sttilecfg [{0}]", in(reg) &mut before, options(nostack));
                std::arch::asm!("ldtilecfg [{0}]", in(reg) &cfg, options(nostack, readonly));
            }
            Self { k, before }
        }
    }

    impl Drop for Session {
        fn drop(&mut self) {
            // SAFETY: the CPU has AMX (checked in `new`); `before` is what
            // `sttilecfg` stored: a valid configuration, or palette 0, which
            // returns the tiles to their initial state.
            unsafe {
                std::arch::asm!("ldtilecfg [{0}]", in(reg) &self.before, options(nostack, readonly))
            }
        }
    }

    /// 16 rows (`rows`, unpacked, `inner` values each) times the 16 tokens of
    /// `x`: `out[t][r]`.
    pub(super) fn product(
        session: &Session,
        kind: Kind,
        rows: &Rows,
        inner: usize,
        x: &TokenBlock,
        out: &mut [[f32; 16]; 16],
    ) {
        let k = span(kind);
        assert_eq!(
            session.k, k,
            "the tiles are configured for another block type"
        );
        assert!(rows.w.len() >= TILE * inner && x.tiles.len() >= TILE * inner);
        assert!(rows.scale.len() >= inner / k * TILE && rows.min.len() >= inner / k * TILE);
        assert!(x.d.len() >= inner / QK_K * TILE && x.sums.len() >= inner / GROUP * TILE);
        // SAFETY: the CPU has AVX-512 and AMX (checked when `session` was
        // made), the tiles are configured for `k`, and every tile load stays
        // in the buffers whose sizes are checked above.
        unsafe { product_tiles(kind, rows, inner, x, out) };
    }

    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn product_tiles(
        kind: Kind,
        rows: &Rows,
        inner: usize,
        x: &TokenBlock,
        out: &mut [[f32; 16]; 16],
    ) {
        let k = span(kind);
        let per = QK_K / k;
        let mut acc = [_mm512_setzero_ps(); TILE];
        // Four groups' sums at a time, so that four tile products are in
        // flight before their sums are read.
        let mut sums = [0i32; 4 * TILE * TILE];
        for b in 0..inner / QK_K {
            // SAFETY (loads): `product` checked the sizes of every buffer.
            let d = unsafe { _mm512_loadu_ps(x.d.as_ptr().add(b * TILE)) };
            for round in 0..per / 4 {
                let g = b * per + 4 * round;
                // SAFETY: weights: 16 rows of `k` bytes for group `g` (and
                // the next three groups); tokens:
                // `k / 4` rows of 64 bytes per group; sums: 4 × 16 rows of 64
                // bytes.
                unsafe {
                    std::arch::asm!(
                        "tilezero tmm0",
                        "tilezero tmm1",
                        "tilezero tmm2",
                        "tilezero tmm3",
                        "tileloadd tmm4, [{w} + {stride}*1]",
                        "tileloadd tmm6, [{x} + {sixty_four}*1]",
                        "tdpbusd tmm0, tmm4, tmm6",
                        "add {w}, {step}",
                        "add {x}, {step}",
                        "tileloadd tmm5, [{w} + {stride}*1]",
                        "tileloadd tmm7, [{x} + {sixty_four}*1]",
                        "tdpbusd tmm1, tmm5, tmm7",
                        "add {w}, {step}",
                        "add {x}, {step}",
                        "tileloadd tmm4, [{w} + {stride}*1]",
                        "tileloadd tmm6, [{x} + {sixty_four}*1]",
                        "tdpbusd tmm2, tmm4, tmm6",
                        "add {w}, {step}",
                        "add {x}, {step}",
                        "tileloadd tmm5, [{w} + {stride}*1]",
                        "tileloadd tmm7, [{x} + {sixty_four}*1]",
                        "tdpbusd tmm3, tmm5, tmm7",
                        "tilestored [{c} + {sixty_four}*1], tmm0",
                        "add {c}, 1024",
                        "tilestored [{c} + {sixty_four}*1], tmm1",
                        "add {c}, 1024",
                        "tilestored [{c} + {sixty_four}*1], tmm2",
                        "add {c}, 1024",
                        "tilestored [{c} + {sixty_four}*1], tmm3",
                        w = inout(reg) rows.w.as_ptr().add(g * TILE * k) => _,
                        stride = in(reg) k,
                        step = in(reg) k * TILE,
                        x = inout(reg) x.tiles.as_ptr().add(g * k * TILE) => _,
                        c = inout(reg) sums.as_mut_ptr() => _,
                        sixty_four = in(reg) 64usize,
                        options(nostack)
                    );
                }
                for j in 0..4 {
                    let g = g + j;
                    // The token sums of the group (Q6_K) or of its two
                    // 16-value halves (Q4_K): exact integers as floats.
                    // SAFETY: `k / 16` sum vectors of this superblock.
                    let isum = unsafe {
                        let first = (b * GROUPS + (g % per) * (k / GROUP)) * TILE;
                        let mut t = _mm512_loadu_ps(x.sums.as_ptr().add(first));
                        if k == 2 * GROUP {
                            t = _mm512_add_ps(
                                t,
                                _mm512_loadu_ps(x.sums.as_ptr().add(first + TILE)),
                            );
                        }
                        t
                    };
                    // Q6_K: 32 × sum, off each row's integer sums; the
                    // others: token scale × sum, times each row's min.
                    let offset = match kind {
                        Kind::Q6K => _mm512_mul_ps(_mm512_set1_ps(32.0), isum),
                        _ => _mm512_mul_ps(d, isum),
                    };
                    for (r, acc) in acc.iter_mut().enumerate() {
                        // SAFETY: row `r` of sums tile `j`; scale and min of
                        // group `g`.
                        let (c, scale, min) = unsafe {
                            (
                                _mm512_loadu_si512(sums.as_ptr().add((j * TILE + r) * TILE).cast()),
                                *rows.scale.get_unchecked(g * TILE + r),
                                *rows.min.get_unchecked(g * TILE + r),
                            )
                        };
                        let f = _mm512_mul_ps(_mm512_set1_ps(scale), d);
                        match kind {
                            Kind::Q6K => {
                                let c = _mm512_sub_ps(_mm512_cvtepi32_ps(c), offset);
                                *acc = _mm512_fmadd_ps(c, f, *acc);
                            }
                            _ => {
                                *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(c), f, *acc);
                                *acc = _mm512_fnmadd_ps(_mm512_set1_ps(min), offset, *acc);
                            }
                        }
                    }
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            let mut row = [0f32; TILE];
            // SAFETY: 16 floats into a 16-float array.
            unsafe { _mm512_storeu_ps(row.as_mut_ptr(), *acc) };
            for (t, y) in row.into_iter().enumerate() {
                out[t][r] = y;
            }
        }
    }
}

/// `x · Wᵀ` for the matrix `w` of `kind` (`rows` rows, a multiple of 16, of
/// whole blocks, as bytes): `x.n` rows of `rows` values.
pub(crate) fn gemm(kind: Kind, w: &[u8], rows: usize, x: &Tokens) -> Result<Vec<f32>> {
    let inner = x.inner;
    let row_bytes = row_bytes(kind, w, rows, inner)?;
    if !rows.is_multiple_of(TILE) || !cpu_has_amx() {
        return Err(Error::Generation(format!(
            "a {kind:?} matrix of {} bytes is not {rows} rows (a multiple of {TILE}) of {inner} \
             values for AMX tiles",
            w.len()
        )));
    }
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::atomic::{AtomicU32, Ordering};
        let n = x.n;
        let out: Vec<AtomicU32> = (0..n * rows).map(|_| AtomicU32::new(0)).collect();
        let groups = inner / span(kind);
        candle_core::utils::barrier_pool().execute_chunked(rows / TILE, |range| {
            let mut unpacked = Rows {
                w: vec![0; TILE * inner],
                scale: vec![0.0; groups * TILE],
                min: vec![0.0; groups * TILE],
            };
            let mut y = [[0f32; TILE]; TILE];
            let session = tiles::Session::new(kind);
            for rb in range {
                unpack_rows(kind, w, row_bytes, rb * TILE, &mut unpacked);
                for (tb, block) in x.blocks.iter().enumerate() {
                    tiles::product(&session, kind, &unpacked, inner, block, &mut y);
                    for (j, ys) in y.iter().enumerate().take(n - tb * TILE) {
                        let t = tb * TILE + j;
                        for (r, v) in ys.iter().enumerate() {
                            out[t * rows + rb * TILE + r].store(v.to_bits(), Ordering::Relaxed);
                        }
                    }
                }
            }
        });
        Ok(floats(out))
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("AMX is only available on x86-64")
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_near_plain, floats, quantized, random};
    use super::*;
    use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
    use candle_core::{Device, Module, Tensor};

    const KINDS: [(Kind, GgmlDType); 2] =
        [(Kind::Q4K, GgmlDType::Q4K), (Kind::Q6K, GgmlDType::Q6K)];

    /// A random `rows × inner` matrix of `dtype`, random inputs and their
    /// product.
    fn product(
        kind: Kind,
        dtype: GgmlDType,
        (rows, inner): (usize, usize),
        tokens: usize,
    ) -> (QTensor, Vec<f32>, Vec<f32>) {
        let q = quantized(dtype, rows, inner, rows as u64);
        let xs = random(tokens * inner, tokens as u64);
        let (padded, width) = super::super::blocks::padded_rows(&xs, inner);
        let x = Tokens::quantize(&padded, width).unwrap();
        let got = gemm(kind, &q.data().unwrap(), rows, &x).unwrap();
        (q, xs, got)
    }

    #[test]
    fn products_match_a_plain_loop() {
        if !super::super::path::has_amx() {
            return;
        }
        // Q5_0 and Q8_0 rows of 896 values end in half a 256-value unit.
        for (kind, dtype, inner) in [
            (Kind::Q4K, GgmlDType::Q4K, 2 * QK_K),
            (Kind::Q6K, GgmlDType::Q6K, 2 * QK_K),
            (Kind::Q5_0, GgmlDType::Q5_0, 896),
            (Kind::Q8_0, GgmlDType::Q8_0, 896),
        ] {
            // 21 tokens: a whole block of 16 and part of one.
            let (q, xs, got) = product(kind, dtype, (48, inner), 21);
            assert_near_plain(&got, &q, &xs, 48, &format!("{kind:?}"));
        }
    }

    #[test]
    fn products_equal_candles_tiled_kernels_bit_for_bit() {
        if !super::super::path::has_amx() {
            return;
        }
        // 40 tokens: candle takes its AMX tiles for Q4_K (32 tokens or more)
        // and its VNNI tiles for Q6_K; both sum in the order used here.
        for (kind, dtype) in KINDS {
            let tokens = 40;
            let (q, xs, got) = product(kind, dtype, (32, 2 * QK_K), tokens);
            let inner = 2 * QK_K;
            let x = Tensor::from_vec(xs, (tokens, inner), &Device::Cpu).unwrap();
            let want = floats(&QMatMul::from_qtensor(q).unwrap().forward(&x).unwrap());
            assert_eq!(got, want, "{kind:?}");
        }
    }
}
