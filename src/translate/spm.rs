//! SentencePiece model files (`*.spm`, `*.model`) read into a `tokenizers`
//! Unigram tokenizer. OPUS-MT (Marian) models ship only these files, not a
//! `tokenizer.json`.
//!
//! The file is a protobuf `ModelProto`; only the fields needed here are read:
//! the pieces (text, score, type) and the normalizer's precompiled character
//! map. Decoding the few protobuf fields by hand avoids a protobuf toolchain.

use tokenizers::models::unigram::Unigram;
use tokenizers::normalizers::{precompiled::Precompiled, NormalizerWrapper};
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::Tokenizer;

/// Type of a piece, as SentencePiece numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceKind {
    /// An ordinary piece.
    Normal,
    /// The unknown piece.
    Unknown,
    /// A control symbol such as `</s>`: never produced from text.
    Control,
    /// A user-defined symbol, always kept whole.
    UserDefined,
    /// Unused or byte pieces.
    Other,
}

/// One vocabulary entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    /// The piece, with `▁` for a space.
    pub text: String,
    /// Its log-probability in the unigram model.
    pub score: f32,
    /// Its type.
    pub kind: PieceKind,
}

/// The parts of a SentencePiece model that tokenization needs.
#[derive(Debug, Clone)]
pub struct SpmModel {
    /// Vocabulary in id order.
    pub pieces: Vec<Piece>,
    /// The normalizer's precompiled character map, when it has one.
    pub charsmap: Option<Vec<u8>>,
}

/// Wire value of one protobuf field.
enum Value<'a> {
    Varint(u64),
    Fixed32(u32),
    Fixed64,
    Bytes(&'a [u8]),
}

fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Splits a protobuf message into (field number, value); None when malformed.
fn fields(buf: &[u8]) -> Option<Vec<(u64, Value<'_>)>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        let value = match key & 7 {
            0 => Value::Varint(varint(buf, &mut pos)?),
            1 => {
                pos = pos.checked_add(8).filter(|p| *p <= buf.len())?;
                Value::Fixed64
            }
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).ok()?;
                let end = pos.checked_add(len).filter(|e| *e <= buf.len())?;
                let v = &buf[pos..end];
                pos = end;
                Value::Bytes(v)
            }
            5 => {
                let end = pos.checked_add(4).filter(|e| *e <= buf.len())?;
                let v = u32::from_le_bytes(buf[pos..end].try_into().ok()?);
                pos = end;
                Value::Fixed32(v)
            }
            _ => return None,
        };
        out.push((key >> 3, value));
    }
    Some(out)
}

impl SpmModel {
    /// Parses a SentencePiece model; `Err` names what is wrong.
    pub fn parse(bytes: &[u8]) -> std::result::Result<Self, String> {
        let bad = || "not a SentencePiece model (malformed protobuf)".to_string();
        let mut pieces = Vec::new();
        let mut charsmap = None;
        for (field, value) in fields(bytes).ok_or_else(bad)? {
            match (field, value) {
                (1, Value::Bytes(p)) => {
                    let mut piece = Piece {
                        text: String::new(),
                        score: 0.0,
                        kind: PieceKind::Normal,
                    };
                    for (f, v) in fields(p).ok_or_else(bad)? {
                        match (f, v) {
                            (1, Value::Bytes(t)) => {
                                piece.text = String::from_utf8(t.to_vec())
                                    .map_err(|_| "a piece is not UTF-8".to_string())?
                            }
                            (2, Value::Fixed32(s)) => piece.score = f32::from_bits(s),
                            (3, Value::Varint(k)) => {
                                piece.kind = match k {
                                    1 => PieceKind::Normal,
                                    2 => PieceKind::Unknown,
                                    3 => PieceKind::Control,
                                    4 => PieceKind::UserDefined,
                                    _ => PieceKind::Other,
                                }
                            }
                            _ => {}
                        }
                    }
                    pieces.push(piece);
                }
                (3, Value::Bytes(n)) => {
                    for (f, v) in fields(n).ok_or_else(bad)? {
                        if let (2, Value::Bytes(m)) = (f, v) {
                            if !m.is_empty() {
                                charsmap = Some(m.to_vec());
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        if pieces.is_empty() {
            return Err("the SentencePiece model has no pieces".into());
        }
        Ok(Self { pieces, charsmap })
    }

    /// A tokenizer that segments text as SentencePiece does: the model's
    /// normalizer, a `▁` before every word, and unigram segmentation.
    /// Control pieces never match text.
    pub fn tokenizer(&self) -> std::result::Result<Tokenizer, String> {
        let unk = self
            .pieces
            .iter()
            .position(|p| p.kind == PieceKind::Unknown);
        let vocab: Vec<(String, f64)> = self
            .pieces
            .iter()
            .map(|p| match p.kind {
                // A score no segmentation picks keeps ids aligned.
                PieceKind::Control | PieceKind::Other => (p.text.clone(), -1e9),
                _ => (p.text.clone(), f64::from(p.score)),
            })
            .collect();
        let model = Unigram::from(vocab, unk, false).map_err(|e| e.to_string())?;
        let mut tok = Tokenizer::new(model);
        if let Some(map) = &self.charsmap {
            charsmap_is_sound(map)?;
            let p = Precompiled::from(map).map_err(|e| format!("normalizer: {e}"))?;
            tok.with_normalizer(Some(NormalizerWrapper::Precompiled(p)))
                .map_err(|e| e.to_string())?;
        }
        tok.with_pre_tokenizer(Some(Metaspace::new('▁', PrependScheme::Always, true)));
        Ok(tok)
    }
}

/// Checks a precompiled normalization map (a double-array trie over UTF-8
/// bytes, then the replacement strings) before the normalizer trusts it:
/// every step the lookup can take from any unit stays inside the trie, and
/// every replacement starts inside the strings on a character boundary. A
/// damaged map would otherwise index out of bounds mid-translation.
fn charsmap_is_sound(map: &[u8]) -> std::result::Result<(), String> {
    let bad = |why: &str| Err(format!("normalizer: damaged character map ({why})"));
    let Some((size, rest)) = map.split_first_chunk::<4>() else {
        return bad("too short");
    };
    let size = u32::from_le_bytes(*size) as usize / 4 * 4;
    if size == 0 || size > rest.len() {
        return bad("its trie is empty or longer than the file");
    }
    let (trie, strings) = rest.split_at(size);
    let units: Vec<usize> = trie
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let Ok(strings) = std::str::from_utf8(strings) else {
        return bad("its strings are not UTF-8");
    };
    let offset = |u: usize| (u >> 10) << ((u & (1 << 9)) >> 6);
    // Walk every node a lookup can reach: from a node, the lookup reads the
    // unit at `node ^ byte` for each byte of UTF-8 text, and goes on where
    // that unit's label is the byte.
    let mut seen = std::collections::HashSet::new();
    let mut todo = vec![offset(units[0])];
    while let Some(node) = todo.pop() {
        if !seen.insert(node) {
            continue;
        }
        for c in (1..=0xF4usize).filter(|c| !matches!(c, 0xC0 | 0xC1)) {
            let Some(&u) = units.get(node ^ c) else {
                return bad("a trie step leaves the trie");
            };
            if u & ((1 << 31) | 0xFF) != c {
                continue;
            }
            let next = (node ^ c) ^ offset(u);
            if (u >> 8) & 1 == 1 {
                let Some(&leaf) = units.get(next) else {
                    return bad("a trie step leaves the trie");
                };
                let at = leaf & ((1 << 31) - 1);
                if at > strings.len() || !strings.is_char_boundary(at) {
                    return bad("a replacement starts outside its strings");
                }
            }
            todo.push(next);
        }
    }
    Ok(())
}

/// Segments `text` into pieces: runs of whitespace become one space and the
/// ends are trimmed, as SentencePiece's default normalization does.
pub fn pieces(tok: &Tokenizer, text: &str) -> std::result::Result<Vec<String>, String> {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let enc = tok.encode(text, false).map_err(|e| e.to_string())?;
    Ok(enc.get_tokens().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_varints_and_rejects_truncated_messages() {
        let mut pos = 0;
        assert_eq!(varint(&[0xac, 0x02], &mut pos), Some(300));
        assert!(fields(&[0x0a, 0x05, b'a']).is_none());
        assert!(SpmModel::parse(b"").is_err());
    }

    #[test]
    fn a_damaged_character_map_is_refused_and_real_ones_pass() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests");
        let damaged = std::fs::read(format!("{dir}/data/fuzz/spm-charsmap-out-of-bounds")).unwrap();
        let e = SpmModel::parse(&damaged)
            .unwrap()
            .tokenizer()
            .err()
            .unwrap();
        assert!(e.contains("damaged character map"), "{e}");
        for side in ["source", "target"] {
            let real =
                std::fs::read(format!("{dir}/fixtures/translate/marian/{side}.spm")).unwrap();
            let m = SpmModel::parse(&real).unwrap();
            assert!(m.charsmap.is_some());
            let tok = m.tokenizer().unwrap();
            assert!(!pieces(&tok, "Floods in Swat: 1,200 homes.")
                .unwrap()
                .is_empty());
        }
    }

    #[test]
    fn parses_a_hand_made_model() {
        // pieces: "<unk>" (unknown), "▁a" (score -1.5)
        let mut buf = Vec::new();
        for (text, score, kind) in [("<unk>", 0.0f32, 2u8), ("▁a", -1.5, 1)] {
            let mut p = vec![0x0a, text.len() as u8];
            p.extend_from_slice(text.as_bytes());
            p.push(0x15);
            p.extend_from_slice(&score.to_le_bytes());
            p.extend_from_slice(&[0x18, kind]);
            buf.push(0x0a);
            buf.push(p.len() as u8);
            buf.extend(p);
        }
        let m = SpmModel::parse(&buf).unwrap();
        assert_eq!(m.pieces.len(), 2);
        assert_eq!(m.pieces[1].text, "▁a");
        assert_eq!(m.pieces[1].score, -1.5);
        assert_eq!(m.pieces[0].kind, PieceKind::Unknown);
        let tok = m.tokenizer().unwrap();
        assert_eq!(pieces(&tok, "  a  ").unwrap(), vec!["▁a"]);
    }
}
