//! Weight layouts that candle's CPU kernels run faster, prepared at load time.
//!
//! candle 0.11.1 has no SIMD dot product for Q5_0 weights: every Q5_0 row goes
//! through the portable scalar loop, which took 69 % of the time of a prompt
//! pass with Qwen2.5-Coder-0.5B (most of whose matrices are Q5_0). A Q5_0
//! block is a 16-bit scale `d` and 32 five-bit integers `q` in -16..=15 with
//! values `d * q`; a Q8_0 block is the same scale and 32 eight-bit integers.
//! So every Q5_0 block is written exactly as a Q8_0 block (same scale, same
//! integers), and the matrix then takes candle's AVX2 / AVX-512 VNNI Q8_0
//! paths, chosen by candle at run time from the CPU's features, with its
//! portable loop as the fallback. The values are bit-identical; only the sum
//! order of the dot products changes. The cost is 34 bytes a block instead of
//! 22.
//!
//! Upstream, the same effect would come from a SIMD `vec_dot` for
//! `BlockQ5_0` in `candle-core/src/quantized/avx.rs` (the Q8_0 one with the
//! fifth bit merged in), which would keep the smaller blocks.

use candle_core::quantized::{ggml_file, GgmlDType, QTensor};

use crate::error::{Error, Result};

/// Bytes of one Q5_0 block: f16 scale, 32 high bits, 16 bytes of nibbles.
const Q5_0_BYTES: usize = 22;
/// Bytes of one Q8_0 block: f16 scale, 32 signed bytes.
const Q8_0_BYTES: usize = 34;
/// Values in a block of either type.
const BLOCK: usize = 32;

/// Rewrites one Q5_0 block as the Q8_0 block with the same values.
fn widen_block(q5: &[u8], q8: &mut [u8]) {
    q8[..2].copy_from_slice(&q5[..2]);
    let qh = u32::from_le_bytes([q5[2], q5[3], q5[4], q5[5]]);
    let qs = &q5[6..Q5_0_BYTES];
    for (j, &byte) in qs.iter().enumerate() {
        let high_lo = (((qh >> j) & 1) << 4) as u8;
        let high_hi = (((qh >> (j + 16)) & 1) << 4) as u8;
        let lo = ((byte & 0x0F) | high_lo) as i8 - 16;
        let hi = ((byte >> 4) | high_hi) as i8 - 16;
        q8[2 + j] = lo as u8;
        q8[2 + j + BLOCK / 2] = hi as u8;
    }
}

/// The same tensor with a layout candle computes on faster: Q5_0 becomes
/// Q8_0 with identical values; every other type is returned as it is.
pub(crate) fn prepare(t: QTensor) -> Result<QTensor> {
    if t.dtype() != GgmlDType::Q5_0 {
        return Ok(t);
    }
    let src = t.data()?;
    if src.len() % Q5_0_BYTES != 0 {
        return Err(Error::Generation(format!(
            "Q5_0 tensor of {} bytes is not a whole number of blocks",
            src.len()
        )));
    }
    let blocks = src.len() / Q5_0_BYTES;
    let mut out = vec![0u8; blocks * Q8_0_BYTES];
    for (q5, q8) in src
        .chunks_exact(Q5_0_BYTES)
        .zip(out.chunks_exact_mut(Q8_0_BYTES))
    {
        widen_block(q5, q8);
    }
    let dims = t.shape().dims().to_vec();
    let device = t.device();
    drop(src);
    drop(t);
    Ok(ggml_file::qtensor_from_ggml(
        GgmlDType::Q8_0,
        &out,
        dims,
        &device,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::QMatMul;
    use candle_core::{Device, Module, Tensor};
    use rand::{rngs::StdRng, Rng, SeedableRng};

    fn random(rows: usize, cols: usize, seed: u64) -> Tensor {
        let mut rng = StdRng::seed_from_u64(seed);
        let v: Vec<f32> = (0..rows * cols)
            .map(|_| rng.random::<f32>() * 2.0 - 1.0)
            .collect();
        Tensor::from_vec(v, (rows, cols), &Device::Cpu).unwrap()
    }

    #[test]
    fn q5_0_becomes_q8_0_with_identical_values() {
        let w = random(48, 256, 1);
        let q5 = QTensor::quantize(&w, GgmlDType::Q5_0).unwrap();
        let values = |q: &QTensor| -> Vec<f32> {
            let t = q.dequantize(&Device::Cpu).unwrap();
            t.flatten_all().unwrap().to_vec1().unwrap()
        };
        let want = values(&q5);
        let q8 = prepare(q5).unwrap();
        assert_eq!(q8.dtype(), GgmlDType::Q8_0);
        assert_eq!(q8.shape().dims(), &[48, 256]);
        let got = values(&q8);
        assert_eq!(got, want, "every value must be bit-identical");
        // The extremes of the five-bit range survive (-16 and 15 times d).
        assert!(got.iter().any(|v| *v < 0.0) && got.iter().any(|v| *v > 0.0));
    }

    fn max_abs(t: Tensor) -> f32 {
        t.abs().unwrap().max_all().unwrap().to_scalar().unwrap()
    }

    #[test]
    fn products_are_as_close_to_exact_as_the_q5_0_kernel() {
        let w = random(64, 512, 2);
        let q5 = || QTensor::quantize(&w, GgmlDType::Q5_0).unwrap();
        let exact_w = q5().dequantize(&Device::Cpu).unwrap();
        // Seven rows (a prompt) and one row (a decode step).
        for (rows, seed) in [(7, 3), (1, 4)] {
            let x = random(rows, 512, seed);
            let exact = x.matmul(&exact_w.t().unwrap()).unwrap();
            let scale = max_abs(exact.clone());
            let q5_err = max_abs(
                (&exact - QMatMul::from_qtensor(q5()).unwrap().forward(&x).unwrap()).unwrap(),
            );
            let q8 = QMatMul::from_qtensor(prepare(q5()).unwrap()).unwrap();
            let q8_err = max_abs((&exact - q8.forward(&x).unwrap()).unwrap());
            // Both kernels quantize the activations to 8 bits (candle's Q8_0
            // path may use 256-value blocks), so neither is exact; the widened
            // weights must stay within 2 % of the output scale, like Q5_0.
            assert!(
                q5_err < 0.02 * scale,
                "Q5_0 kernel error {q5_err} of {scale}"
            );
            assert!(q8_err < 0.02 * scale, "widened error {q8_err} of {scale}");
        }
    }

    #[test]
    fn other_types_are_untouched() {
        let w = random(16, 256, 5);
        let q = QTensor::quantize(&w, GgmlDType::Q4K).unwrap();
        let before = q.data().unwrap().to_vec();
        let after = prepare(q).unwrap();
        assert_eq!(after.dtype(), GgmlDType::Q4K);
        assert_eq!(after.data().unwrap().to_vec(), before);
    }
}
