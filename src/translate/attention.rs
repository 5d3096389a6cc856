//! Multi-head attention shared by the encoder-decoders written here (T5 and
//! M2M100), with a per-hypothesis key-value cache for decoder self-attention.

use std::sync::Arc;

use candle_core::{Module, Tensor};

/// One decoding hypothesis of an encoder-decoder: self-attention keys and
/// values per decoder layer, the cross-attention keys and values (computed
/// once per source and shared by every hypothesis), and the position reached.
#[derive(Debug, Clone)]
pub struct DecoderState {
    pub(crate) self_kv: Vec<Option<(Tensor, Tensor)>>,
    pub(crate) cross_kv: Arc<Vec<(Tensor, Tensor)>>,
    pub(crate) pos: usize,
}

impl DecoderState {
    /// The empty state for an encoder output `enc`, given each decoder
    /// layer's cross-attention.
    pub(crate) fn new<'a, L: Module + 'a>(
        cross: impl Iterator<Item = &'a Attention<L>>,
        enc: &Tensor,
    ) -> candle_core::Result<Self> {
        let cross_kv = cross
            .map(|a| a.keys_values(enc))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            self_kv: vec![None; cross_kv.len()],
            cross_kv: Arc::new(cross_kv),
            pos: 0,
        })
    }
}

/// Multi-head attention over projections of type `L`.
#[derive(Debug, Clone)]
pub(crate) struct Attention<L> {
    pub q: L,
    pub k: L,
    pub v: L,
    pub out: L,
    pub heads: usize,
    pub head_dim: usize,
    /// Factor applied to the queries (1 for T5, 1/√head_dim for M2M100).
    pub scale: f64,
}

impl<L: Module> Attention<L> {
    /// (batch, len, heads·head_dim) -> (batch, heads, len, head_dim)
    fn split(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, l, _) = x.dims3()?;
        x.reshape((b, l, self.heads, self.head_dim))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// Keys and values of `x`, split into heads.
    pub fn keys_values(&self, x: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        Ok((
            self.split(&self.k.forward(x)?)?,
            self.split(&self.v.forward(x)?)?,
        ))
    }

    /// Keys and values of `x` appended to `cache`, which then holds them all.
    pub fn cached(
        &self,
        x: &Tensor,
        cache: &mut Option<(Tensor, Tensor)>,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let (k, v) = self.keys_values(x)?;
        let kv = match cache.as_ref() {
            Some((pk, pv)) => (Tensor::cat(&[pk, &k], 2)?, Tensor::cat(&[pv, &v], 2)?),
            None => (k, v),
        };
        *cache = Some(kv.clone());
        Ok(kv)
    }

    /// Attention of `x` over keys and values; `bias` (broadcast to
    /// batch, heads, queries, keys) is added to the scores.
    pub fn attend(
        &self,
        x: &Tensor,
        k: &Tensor,
        v: &Tensor,
        bias: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        let (b, l, _) = x.dims3()?;
        let mut q = self.split(&self.q.forward(x)?)?;
        if self.scale != 1.0 {
            q = (q * self.scale)?;
        }
        let mut scores = q.matmul(&k.t()?)?;
        if let Some(bias) = bias {
            scores = scores.broadcast_add(bias)?;
        }
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let ctx = probs
            .matmul(v)?
            .transpose(1, 2)?
            .reshape((b, l, self.heads * self.head_dim))?;
        self.out.forward(&ctx)
    }
}
