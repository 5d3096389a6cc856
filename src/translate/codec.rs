//! Text to ids and back for the seq2seq backends: a `tokenizer.json`
//! (MADLAD-400, NLLB-200), or SentencePiece models with a separate
//! `vocab.json` (OPUS-MT / Marian).

use std::collections::HashMap;
use std::path::Path;

use tokenizers::Tokenizer;

use super::spm::{self, SpmModel};
use crate::error::{Error, Result};

/// A source/target text codec.
#[derive(Debug)]
pub enum Codec {
    /// One `tokenizer.json` for both sides.
    Json(Tokenizer),
    /// Marian: source and target SentencePiece models, one shared vocabulary.
    Marian {
        /// Source segmentation.
        source: Tokenizer,
        /// Piece → id.
        vocab: HashMap<String, u32>,
        /// Id → piece.
        pieces: Vec<String>,
        /// Ids of `</s>`, `<unk>` and `<pad>`, skipped when decoding.
        special: Vec<u32>,
        /// The `<unk>` id.
        unk: u32,
    },
}

fn tok_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Tokenizer(format!("{}: {e}", path.display()).into())
}

impl Codec {
    /// Loads `tokenizer.json` from `dir`, or Marian's `source.spm` + `vocab.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        let json = dir.join("tokenizer.json");
        if json.is_file() {
            return Ok(Codec::Json(
                Tokenizer::from_file(&json).map_err(|e| tok_err(&json, e))?,
            ));
        }
        let src = dir.join("source.spm");
        let vocab_path = dir.join("vocab.json");
        if !src.is_file() || !vocab_path.is_file() {
            return Err(Error::Tokenizer(
                format!(
                    "{}: no tokenizer.json, nor source.spm with vocab.json",
                    dir.display()
                )
                .into(),
            ));
        }
        let bytes = std::fs::read(&src).map_err(|e| Error::io(&src, e))?;
        let source = SpmModel::parse(&bytes)
            .and_then(|m| m.tokenizer())
            .map_err(|e| tok_err(&src, e))?;
        let text = std::fs::read_to_string(&vocab_path).map_err(|e| Error::io(&vocab_path, e))?;
        let vocab: HashMap<String, u32> =
            serde_json::from_str(&text).map_err(|e| tok_err(&vocab_path, e))?;
        let mut pieces =
            vec![String::new(); vocab.values().map(|v| *v as usize + 1).max().unwrap_or(0)];
        for (p, i) in &vocab {
            pieces[*i as usize] = p.clone();
        }
        let id = |p: &str| vocab.get(p).copied();
        let unk = id("<unk>").ok_or_else(|| tok_err(&vocab_path, "no <unk> in the vocabulary"))?;
        let special = ["</s>", "<unk>", "<pad>"]
            .iter()
            .filter_map(|p| id(p))
            .collect();
        Ok(Codec::Marian {
            source,
            vocab,
            pieces,
            special,
            unk,
        })
    }

    /// Ids of `text`, with no special tokens added.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        match self {
            Codec::Json(t) => Ok(t
                .encode(text, false)
                .map_err(Error::Tokenizer)?
                .get_ids()
                .to_vec()),
            Codec::Marian {
                source, vocab, unk, ..
            } => Ok(spm::pieces(source, text)
                .map_err(|e| Error::Tokenizer(e.into()))?
                .iter()
                .map(|p| vocab.get(p).copied().unwrap_or(*unk))
                .collect()),
        }
    }

    /// Text of `ids`, special tokens skipped.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        match self {
            Codec::Json(t) => t.decode(ids, true).map_err(Error::Tokenizer),
            Codec::Marian {
                pieces, special, ..
            } => {
                let text: String = ids
                    .iter()
                    .filter(|i| !special.contains(i))
                    .filter_map(|i| pieces.get(*i as usize))
                    .map(String::as_str)
                    .collect();
                Ok(text.replace('▁', " ").trim().to_string())
            }
        }
    }

    /// The id of a whole token (a language tag or code), if it is in the vocabulary.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        match self {
            Codec::Json(t) => t.token_to_id(token),
            Codec::Marian { vocab, .. } => vocab.get(token).copied(),
        }
    }
}
