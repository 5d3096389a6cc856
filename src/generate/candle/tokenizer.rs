//! Building a `tokenizers::Tokenizer` from GGUF metadata: tokens, merges,
//! token types and the `tokenizer.ggml.pre` rule. Byte-level BPE (`gpt2`)
//! and SentencePiece-style BPE (`llama`, with merges derived from scores).

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::byte_level::ByteLevel;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::models::bpe::BPE;
use tokenizers::normalizers::{Prepend, Replace, Sequence as NormalizerSequence, NFC};
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{
    AddedToken, DecoderWrapper, NormalizerWrapper, PreTokenizerWrapper, SplitDelimiterBehavior,
    Tokenizer,
};

use crate::error::{Error, Result};

/// Qwen2 / Qwen2.5 / Qwen3 pre-tokenizer split.
pub(crate) const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Llama 3 pre-tokenizer split.
pub(crate) const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// GGUF token types.
const TYPE_CONTROL: i32 = 3;
const TYPE_USER_DEFINED: i32 = 4;

type Metadata = HashMap<String, Value>;

fn md<'a>(m: &'a Metadata, key: &str) -> Result<&'a Value> {
    m.get(key).ok_or_else(|| {
        Error::model(
            "gguf",
            format!("metadata has no {key}; the file cannot be tokenized without a tokenizer.json"),
        )
    })
}

fn strings(v: &Value) -> Result<Vec<String>> {
    v.to_vec()?
        .iter()
        .map(|x| Ok(x.to_string()?.clone()))
        .collect()
}

fn tok_err(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
    Error::Tokenizer(e.into())
}

/// Builds the tokenizer described by GGUF metadata.
pub fn from_gguf(m: &Metadata) -> Result<Tokenizer> {
    let model = md(m, "tokenizer.ggml.model")?.to_string()?.clone();
    let tokens = strings(md(m, "tokenizer.ggml.tokens")?)?;
    let types: Vec<i32> = match m.get("tokenizer.ggml.token_type") {
        Some(v) => v
            .to_vec()?
            .iter()
            .map(|x| x.to_i32())
            .collect::<candle_core::Result<_>>()?,
        None => vec![1; tokens.len()],
    };
    let pre = m
        .get("tokenizer.ggml.pre")
        .and_then(|v| v.to_string().ok().cloned())
        .unwrap_or_else(|| "default".into());
    let mut tk = match model.as_str() {
        "gpt2" => byte_level(m, &tokens, &pre)?,
        "llama" => sentencepiece(m, &tokens, &types)?,
        other => {
            return Err(Error::model(
                "gguf",
                format!(
                    "tokenizer model '{other}' is not supported; give the model's tokenizer.json"
                ),
            ))
        }
    };
    let added: Vec<AddedToken> = tokens
        .iter()
        .zip(&types)
        .filter(|(_, t)| **t == TYPE_CONTROL || **t == TYPE_USER_DEFINED)
        .map(|(s, t)| AddedToken::from(s.clone(), *t == TYPE_CONTROL).normalized(false))
        .collect();
    tk.add_special_tokens(added).map_err(tok_err)?;
    Ok(tk)
}

fn byte_level(m: &Metadata, tokens: &[String], pre: &str) -> Result<Tokenizer> {
    let vocab: tokenizers::models::bpe::Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let merges: Vec<(String, String)> = strings(md(m, "tokenizer.ggml.merges")?)?
        .into_iter()
        .filter_map(|s| {
            s.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        })
        .collect();
    let ignore_merges = matches!(pre, "llama-bpe" | "llama3");
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .ignore_merges(ignore_merges)
        .build()
        .map_err(tok_err)?;
    let mut tk = Tokenizer::new(bpe);
    let split = |re: &str| -> Result<PreTokenizerWrapper> {
        Ok(Split::new(
            SplitPattern::Regex(re.into()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(tok_err)?
        .into())
    };
    let pre_tok: PreTokenizerWrapper = match pre {
        "qwen2" | "qwen3" | "deepseek-r1-qwen" => {
            tk.with_normalizer(Some(NFC)).map_err(tok_err)?;
            Sequence::new(vec![
                split(QWEN2_SPLIT)?,
                ByteLevel::new(false, false, false).into(),
            ])
            .into()
        }
        "llama-bpe" | "llama3" | "smaug-bpe" => Sequence::new(vec![
            split(LLAMA3_SPLIT)?,
            ByteLevel::new(false, true, false).into(),
        ])
        .into(),
        "smollm" => Sequence::new(vec![
            Digits::new(true).into(),
            ByteLevel::new(false, true, true).into(),
        ])
        .into(),
        "default" | "gpt2" => ByteLevel::new(false, true, true).into(),
        other => {
            return Err(Error::model(
                "gguf",
                format!(
                "tokenizer.ggml.pre '{other}' is not supported; give the model's tokenizer.json"
            ),
            ))
        }
    };
    tk.with_pre_tokenizer(Some(pre_tok));
    tk.with_decoder(Some(ByteLevel::default()));
    Ok(tk)
}

/// SentencePiece vocabularies (Gemma, Llama 2) carry scores, not merges.
/// Merges are derived the way SentencePiece applies them: a pair merges when
/// the merged piece is in the vocabulary, higher-scoring pieces first.
fn sentencepiece(m: &Metadata, tokens: &[String], types: &[i32]) -> Result<Tokenizer> {
    let scores: Vec<f32> = md(m, "tokenizer.ggml.scores")?
        .to_vec()?
        .iter()
        .map(|x| x.to_f32())
        .collect::<candle_core::Result<_>>()?;
    let vocab: tokenizers::models::bpe::Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let mut merges: Vec<(f32, u32, u32, String, String)> = Vec::new();
    for (id, piece) in tokens.iter().enumerate() {
        if types.get(id).copied().unwrap_or(1) != 1 {
            continue;
        }
        for (k, _) in piece.char_indices().skip(1) {
            let (l, r) = piece.split_at(k);
            if let (Some(&li), Some(&ri)) = (vocab.get(l), vocab.get(r)) {
                merges.push((
                    scores.get(id).copied().unwrap_or(0.0),
                    li,
                    ri,
                    l.to_string(),
                    r.to_string(),
                ));
            }
        }
    }
    merges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let merges = merges.into_iter().map(|(_, _, _, l, r)| (l, r)).collect();
    let unk = tokens
        .iter()
        .zip(types)
        .find(|(_, t)| **t == 2)
        .map(|(s, _)| s.clone())
        .unwrap_or_else(|| "<unk>".into());
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .unk_token(unk)
        .byte_fallback(true)
        .fuse_unk(true)
        .build()
        .map_err(tok_err)?;
    let mut tk = Tokenizer::new(bpe);
    let add_prefix = m
        .get("tokenizer.ggml.add_space_prefix")
        .and_then(|v| v.to_bool().ok())
        .unwrap_or(false);
    let replace: NormalizerWrapper = Replace::new(" ", "▁").map_err(tok_err)?.into();
    let norm: NormalizerWrapper = if add_prefix {
        NormalizerSequence::new(vec![Prepend::new("▁".into()).into(), replace]).into()
    } else {
        replace
    };
    tk.with_normalizer(Some(norm)).map_err(tok_err)?;
    let dec: DecoderWrapper = DecoderSequence::new(vec![
        Replace::new("▁", " ").map_err(tok_err)?.into(),
        ByteFallback::new().into(),
        Fuse::new().into(),
    ])
    .into();
    tk.with_decoder(Some(dec));
    Ok(tk)
}

/// The bytes each token id stands for: byte-level tokens are mapped back
/// through the GPT-2 byte alphabet, SentencePiece `▁` becomes a space and
/// `<0xNN>` a byte. Control tokens get no bytes.
pub fn token_bytes(tk: &Tokenizer, model_kind: &str) -> Vec<Vec<u8>> {
    let size = tk.get_vocab_size(true);
    let unicode_to_byte: HashMap<char, u8> =
        byte_alphabet().into_iter().map(|(b, c)| (c, b)).collect();
    let specials: std::collections::HashSet<u32> = tk
        .get_added_tokens_decoder()
        .iter()
        .filter(|(_, t)| t.special)
        .map(|(id, _)| *id)
        .collect();
    (0..size as u32)
        .map(|id| {
            if specials.contains(&id) {
                return Vec::new();
            }
            let Some(tok) = tk.id_to_token(id) else {
                return Vec::new();
            };
            if model_kind == "llama" {
                if let Some(hex) = tok.strip_prefix("<0x").and_then(|s| s.strip_suffix('>')) {
                    return u8::from_str_radix(hex, 16)
                        .map(|b| vec![b])
                        .unwrap_or_default();
                }
                return tok.replace('▁', " ").into_bytes();
            }
            tok.chars()
                .map(|c| unicode_to_byte.get(&c).copied())
                .collect::<Option<Vec<u8>>>()
                .unwrap_or_else(|| tok.into_bytes())
        })
        .collect()
}

/// GPT-2's reversible map from bytes to printable characters.
fn byte_alphabet() -> Vec<(u8, char)> {
    let mut printable: Vec<u8> = (b'!'..=b'~')
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF)
        .collect();
    let mut out: Vec<(u8, char)> = printable.iter().map(|&b| (b, b as char)).collect();
    let mut n = 0u32;
    for b in 0..=255u8 {
        if !printable.contains(&b) {
            printable.push(b);
            out.push((b, char::from_u32(256 + n).expect("valid code point")));
            n += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_alphabet_is_a_bijection() {
        let a = byte_alphabet();
        assert_eq!(a.len(), 256);
        let chars: std::collections::HashSet<char> = a.iter().map(|x| x.1).collect();
        assert_eq!(chars.len(), 256);
        assert!(a.contains(&(b' ', 'Ġ')));
        assert!(a.contains(&(b'\n', 'Ċ')));
    }
}
