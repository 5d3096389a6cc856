//! The seq2seq backends (`madlad`, `nllb`, `marian`) behind [`Translator`].

use std::path::Path;

use super::codec::Codec;
use super::m2m100::M2M100;
use super::marian::Marian;
use super::seq2seq::{self, Decoded, Decoding, Seq2Seq, Special};
use super::t5::T5;
use super::{Attempt, Output, Translator, TranslatorInfo};
use crate::error::{Error, Result};
use crate::lang::Lang;
use crate::models::TranslatorManifest;

/// The network of a seq2seq backend.
#[derive(Debug)]
pub enum Net {
    /// MADLAD-400.
    T5(Box<T5>),
    /// NLLB-200.
    M2M100(Box<M2M100>),
    /// OPUS-MT.
    Marian(Box<Marian>),
}

/// A seq2seq translator: manifest, tokenizer and network.
#[derive(Debug)]
pub struct Seq2SeqTranslator {
    manifest: TranslatorManifest,
    codec: Codec,
    net: Net,
    info: TranslatorInfo,
}

impl Seq2SeqTranslator {
    /// Loads the model of `manifest` from the folder `dir`.
    pub fn load(manifest: &TranslatorManifest, dir: &Path) -> Result<Self> {
        let id = manifest.id.as_str();
        let codec = Codec::load(dir)?;
        let net = match manifest.backend.as_str() {
            "madlad" => {
                let gguf = manifest.weights.as_ref().map(|w| dir.join(w));
                Net::T5(Box::new(T5::load(id, dir, gguf.as_deref())?))
            }
            "nllb" => Net::M2M100(Box::new(M2M100::load(id, dir)?)),
            "marian" => Net::Marian(Box::new(Marian::load(id, dir)?)),
            other => {
                return Err(Error::model(
                    id,
                    format!("backend '{other}' is not a seq2seq backend"),
                ))
            }
        };
        Ok(Self::new(manifest.clone(), codec, net))
    }

    /// Assembles a translator from parts (tests load the parts themselves).
    pub fn new(manifest: TranslatorManifest, codec: Codec, net: Net) -> Self {
        let info = TranslatorInfo {
            backend: manifest.backend.clone(),
            model: manifest.id.clone(),
            licence: manifest.licence.clone(),
        };
        Self {
            manifest,
            codec,
            net,
            info,
        }
    }

    fn tag(&self, lang: Lang) -> Result<&str> {
        self.manifest.language(lang).ok_or_else(|| {
            Error::model(
                &self.manifest.id,
                format!("does not translate {}", lang.name()),
            )
        })
    }

    fn token(&self, tag: &str) -> Result<u32> {
        self.codec.token_id(tag).ok_or_else(|| {
            Error::model(
                &self.manifest.id,
                format!("its vocabulary has no token '{tag}'"),
            )
        })
    }

    /// Source ids and decoding tokens for translating `text` from `from` to `to`.
    pub fn prepare(&self, text: &str, from: Lang, to: Lang) -> Result<(Vec<u32>, Special)> {
        if !self.manifest.serves(from, to) {
            return Err(Error::model(
                &self.manifest.id,
                format!("does not translate {} to {}", from.name(), to.name()),
            ));
        }
        Ok(match &self.net {
            Net::T5(m) => {
                // MADLAD: "<2ur> text" then </s>.
                let mut ids = self.codec.encode(&format!("{} {text}", self.tag(to)?))?;
                ids.push(m.eos);
                let sp = Special {
                    decoder_start: m.decoder_start,
                    eos: m.eos,
                    ..Special::default()
                };
                (ids, sp)
            }
            Net::M2M100(m) => {
                // NLLB: [source code] text </s>; the target code is forced first.
                let c = &m.config;
                let mut ids = vec![self.token(self.tag(from)?)?];
                ids.extend(self.codec.encode(text)?);
                ids.push(c.eos_token_id);
                let sp = Special {
                    decoder_start: c.decoder_start_token_id,
                    eos: c.eos_token_id,
                    forced_bos: Some(self.token(self.tag(to)?)?),
                    ..Special::default()
                };
                (ids, sp)
            }
            Net::Marian(m) => {
                let c = &m.config;
                let mut ids = self.codec.encode(text)?;
                ids.push(c.eos_token_id);
                let sp = Special {
                    decoder_start: c.decoder_start_token_id,
                    eos: c.eos_token_id,
                    forced_eos: Some(c.forced_eos_token_id),
                    banned: m.banned.clone(),
                    ..Special::default()
                };
                (ids, sp)
            }
        })
    }

    /// Decodes source ids.
    pub fn decode_ids(&mut self, src: &[u32], special: &Special, d: &Decoding) -> Result<Decoded> {
        match &mut self.net {
            Net::T5(m) => seq2seq::generate(m.as_mut(), src, special, d),
            Net::M2M100(m) => seq2seq::generate(m.as_mut(), src, special, d),
            Net::Marian(m) => seq2seq::generate(m.as_mut(), src, special, d),
        }
    }

    /// Decoder logits after each token of `prefix` (teacher forcing), for
    /// comparing the network with a reference.
    pub fn prefix_logits(&mut self, src: &[u32], prefix: &[u32]) -> Result<Vec<Vec<f32>>> {
        fn run<M: Seq2Seq>(m: &mut M, src: &[u32], prefix: &[u32]) -> Result<Vec<Vec<f32>>> {
            let mut state = m.start(src)?;
            prefix.iter().map(|t| m.step(&mut state, *t)).collect()
        }
        match &mut self.net {
            Net::T5(m) => run(m.as_mut(), src, prefix),
            Net::M2M100(m) => run(m.as_mut(), src, prefix),
            Net::Marian(m) => run(m.as_mut(), src, prefix),
        }
    }

    /// The tokenizer.
    pub fn codec(&self) -> &Codec {
        &self.codec
    }
}

impl Translator for Seq2SeqTranslator {
    fn info(&self) -> &TranslatorInfo {
        &self.info
    }

    fn serves(&self, from: Lang, to: Lang) -> bool {
        self.manifest.serves(from, to)
    }

    fn translate(
        &mut self,
        sentence: &str,
        from: Lang,
        to: Lang,
        attempt: Attempt,
    ) -> Result<Output> {
        let (src, special) = self.prepare(sentence, from, to)?;
        let max = self.manifest.max_source_tokens;
        if src.len() > max {
            return Err(Error::Generation(format!(
                "a sentence of {} tokens is longer than the {max} that {} takes",
                src.len(),
                self.manifest.id
            )));
        }
        let max_new = Decoding::max_new_for_source(src.len());
        let d = match attempt {
            Attempt::First => Decoding::beam(4, 1.0, 0, max_new),
            // The retry decodes differently: greedy, then no repeated 4-grams.
            Attempt::Retry => Decoding {
                no_repeat_ngram: 4,
                ..Decoding::greedy(max_new)
            },
        };
        let out = self.decode_ids(&src, &special, &d)?;
        Ok(Output {
            text: self.codec.decode(&out.tokens)?,
            cut: !out.finished,
        })
    }
}
