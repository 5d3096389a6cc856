//! Inputs and checks shared by the kernel tests.

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use rand::{rngs::StdRng, Rng, SeedableRng};

/// `n` values drawn evenly from -1..1.
pub(super) fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect()
}

/// A random `rows × inner` matrix quantized to `dtype`.
pub(super) fn quantized(dtype: GgmlDType, rows: usize, inner: usize, seed: u64) -> QTensor {
    let w = Tensor::from_vec(random(rows * inner, seed), (rows, inner), &Device::Cpu).unwrap();
    QTensor::quantize(&w, dtype).unwrap()
}

/// The values of a quantized matrix, row by row.
pub(super) fn values(q: &QTensor) -> Vec<f32> {
    floats(&q.dequantize(&Device::Cpu).unwrap())
}

/// The values of an f32 tensor of any shape, in order.
pub(super) fn floats(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

/// Asserts that `got` (`tokens × rows`) is within 1 % of the largest product
/// of the plain f32 products of `xs` (`tokens × inner`) with the values of
/// `q`: the kernels quantize the inputs to 8 bits, nothing else.
pub(super) fn assert_near_plain(got: &[f32], q: &QTensor, xs: &[f32], rows: usize, label: &str) {
    let w = values(q);
    let inner = w.len() / rows;
    let tokens = xs.len() / inner;
    assert_eq!(got.len(), tokens * rows, "{label}");
    let plain = |r: usize, t: usize| -> f32 {
        (0..inner)
            .map(|c| w[r * inner + c] * xs[t * inner + c])
            .sum()
    };
    let scale = (0..rows * tokens).fold(0f32, |m, i| m.max(plain(i % rows, i / rows).abs()));
    for t in 0..tokens {
        for r in 0..rows {
            let (y, want) = (got[t * rows + r], plain(r, t));
            assert!(
                (y - want).abs() <= 0.01 * scale,
                "{label} token {t} row {r}: {y} vs {want}"
            );
        }
    }
}

/// Held by the tests that force the kernel path and by those that compare
/// two products or two model passes closely: a path switched between the
/// two would change their float order.
pub(in crate::generate::candle) fn path_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
