//! A bounds walk over a GGUF file's header before candle reads it: every
//! length, count, nesting depth, alignment and tensor extent is checked
//! against the file's own size, so a damaged or hostile file is refused with
//! a reason before anything is allocated for it, and nothing later can
//! overflow or divide by zero on its values.

use candle_core::quantized::GgmlDType;

/// Deepest nesting of arrays in metadata values.
const MAX_DEPTH: usize = 8;
/// Most dimensions of a tensor.
const MAX_DIMS: u64 = 4;

/// The fixed-size value types, by their GGUF code, with their sizes.
fn scalar_size(kind: u32) -> Option<u64> {
    match kind {
        0 | 1 | 7 => Some(1), // u8, i8, bool
        2 | 3 => Some(2),     // u16, i16
        4..=6 => Some(4),     // u32, i32, f32
        10..=12 => Some(8),   // u64, i64, f64
        _ => None,
    }
}

/// A bool (type 7) is one byte, 0 or 1: candle refuses any other value.
fn check_bools(kind: u32, values: &[u8], key: &str) -> Result<(), String> {
    if kind != 7 {
        return Ok(());
    }
    match values.iter().find(|&&b| b > 1) {
        Some(b) => Err(format!(
            "metadata '{key}' has a bool of value {b}, not 0 or 1"
        )),
        None => Ok(()),
    }
}

/// The tensor types candle reads, by their GGML code.
fn dtype(code: u32) -> Option<GgmlDType> {
    Some(match code {
        0 => GgmlDType::F32,
        1 => GgmlDType::F16,
        2 => GgmlDType::Q4_0,
        3 => GgmlDType::Q4_1,
        6 => GgmlDType::Q5_0,
        7 => GgmlDType::Q5_1,
        8 => GgmlDType::Q8_0,
        9 => GgmlDType::Q8_1,
        10 => GgmlDType::Q2K,
        11 => GgmlDType::Q3K,
        12 => GgmlDType::Q4K,
        13 => GgmlDType::Q5K,
        14 => GgmlDType::Q6K,
        15 => GgmlDType::Q8K,
        30 => GgmlDType::BF16,
        _ => return None,
    })
}

/// A reading position in the header.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Lengths are u32 in version 1, u64 after.
    wide: bool,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8], String> {
        let left = (self.bytes.len() - self.pos) as u64;
        if n > left {
            return Err(format!(
                "{what} needs {n} bytes at byte {}, but the file ends {left} bytes later (truncated or not GGUF)",
                self.pos
            ));
        }
        let s = &self.bytes[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self, what: &str) -> Result<u64, String> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn len(&mut self, what: &str) -> Result<u64, String> {
        if self.wide {
            self.u64(what)
        } else {
            self.u32(what).map(u64::from)
        }
    }

    fn string(&mut self, what: &str) -> Result<&'a [u8], String> {
        let n = self.len(what)?;
        self.take(n, what)
    }

    /// Skips one value of type `kind`; returns it when it is an unsigned
    /// or non-negative integer (for `general.alignment`).
    fn value(&mut self, kind: u32, depth: usize, key: &str) -> Result<Option<u64>, String> {
        if let Some(size) = scalar_size(kind) {
            let b = self.take(size, key)?;
            check_bools(kind, b, key)?;
            let mut a = [0u8; 8];
            a[..b.len()].copy_from_slice(b);
            let v = u64::from_le_bytes(a);
            let negative = matches!(kind, 1 | 3 | 5 | 11) && b[b.len() - 1] & 0x80 != 0;
            return Ok((matches!(kind, 0..=5 | 10 | 11) && !negative).then_some(v));
        }
        match kind {
            8 => self.string(key).map(|_| None),
            9 => {
                if depth >= MAX_DEPTH {
                    return Err(format!(
                        "metadata '{key}' nests arrays deeper than {MAX_DEPTH}"
                    ));
                }
                let inner = self.u32(key)?;
                if scalar_size(inner).is_none() && !matches!(inner, 8 | 9) {
                    return Err(format!(
                        "metadata '{key}' is an array of unknown type {inner}"
                    ));
                }
                let n = self.len(key)?;
                // Each element takes at least one byte (a string its length).
                let least = scalar_size(inner).unwrap_or(if self.wide { 8 } else { 4 });
                let left = (self.bytes.len() - self.pos) as u64;
                if n.saturating_mul(least) > left {
                    return Err(format!(
                        "metadata '{key}' claims {n} elements, more than the {left} bytes left can hold"
                    ));
                }
                if let Some(size) = scalar_size(inner) {
                    let b = self.take(n * size, key)?;
                    check_bools(inner, b, key)?;
                } else {
                    for _ in 0..n {
                        self.value(inner, depth + 1, key)?;
                    }
                }
                Ok(None)
            }
            other => Err(format!("metadata '{key}' has unknown type {other}")),
        }
    }
}

/// Checks a GGUF file's header and tensor table against its size; `Err`
/// says what is wrong.
pub fn check_header(bytes: &[u8]) -> Result<(), String> {
    let mut c = Cursor {
        bytes,
        pos: 0,
        wide: true,
    };
    let magic = c.take(4, "the GGUF magic")?;
    if magic != b"GGUF" {
        return Err("it does not start with the GGUF magic".into());
    }
    let version = c.u32("the GGUF version")?;
    if !(1..=3).contains(&version) {
        return Err(format!("GGUF version {version} is not one of 1, 2, 3"));
    }
    c.wide = version > 1;
    let tensors = c.len("the tensor count")?;
    let entries = c.len("the metadata count")?;
    let prefix = if c.wide { 8 } else { 4 };
    let left = (bytes.len() - c.pos) as u64;
    let least = entries
        .saturating_mul(prefix + 5)
        .saturating_add(tensors.saturating_mul(prefix + 16));
    if least > left {
        return Err(format!(
            "its header claims {tensors} tensors and {entries} metadata entries, more than the {left} bytes of the file can hold"
        ));
    }
    let mut alignment = 32;
    for _ in 0..entries {
        let key = c.string("a metadata key")?;
        let key = String::from_utf8_lossy(key).into_owned();
        let kind = c.u32(&key)?;
        let v = c.value(kind, 0, &key)?;
        if key == "general.alignment" {
            alignment = v
                .filter(|a| a.is_power_of_two())
                .ok_or_else(|| "general.alignment is not a power of two above zero".to_string())?;
        }
    }
    let mut extents = Vec::with_capacity(tensors as usize);
    for _ in 0..tensors {
        let name = c.string("a tensor name")?;
        let name = String::from_utf8_lossy(name).into_owned();
        let dims = u64::from(c.u32(&name)?);
        if dims == 0 {
            return Err(format!("tensor '{name}' has no dimensions"));
        }
        if dims > MAX_DIMS {
            return Err(format!(
                "tensor '{name}' has {dims} dimensions, at most {MAX_DIMS}"
            ));
        }
        let mut elems: u64 = 1;
        for _ in 0..dims {
            let d = c.len(&name)?;
            elems = elems
                .checked_mul(d)
                .filter(|e| *e <= bytes.len() as u64 * 8)
                .ok_or_else(|| format!("tensor '{name}' has more elements than the file holds"))?;
        }
        let code = c.u32(&name)?;
        let t = dtype(code).ok_or_else(|| format!("tensor '{name}' has unknown type {code}"))?;
        let offset = c.u64(&name)?;
        let block = t.block_size() as u64;
        if !elems.is_multiple_of(block) {
            return Err(format!(
                "tensor '{name}' has {elems} values, not a whole number of {block}-value blocks"
            ));
        }
        extents.push((name, offset, elems / block * t.type_size() as u64));
    }
    let data = (c.pos as u64).div_ceil(alignment) * alignment;
    for (name, offset, size) in extents {
        let end = data.checked_add(offset).and_then(|s| s.checked_add(size));
        if end.is_none_or(|e| e > bytes.len() as u64) {
            return Err(format!(
                "tensor '{name}' ({size} bytes at {offset} past the header) runs past the end of the file (truncated)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version-3 file: `meta` entries, then `tensors` as (name, dims,
    /// type, offset), then `data` bytes after 32-byte alignment.
    fn file(
        meta: &[(&str, u32, Vec<u8>)],
        tensors: &[(&str, &[u64], u32, u64)],
        data: usize,
    ) -> Vec<u8> {
        let mut b = b"GGUF".to_vec();
        b.extend(3u32.to_le_bytes());
        b.extend((tensors.len() as u64).to_le_bytes());
        b.extend((meta.len() as u64).to_le_bytes());
        let s = |b: &mut Vec<u8>, t: &str| {
            b.extend((t.len() as u64).to_le_bytes());
            b.extend(t.as_bytes());
        };
        for (k, kind, v) in meta {
            s(&mut b, k);
            b.extend(kind.to_le_bytes());
            b.extend(v);
        }
        for (name, dims, kind, off) in tensors {
            s(&mut b, name);
            b.extend((dims.len() as u32).to_le_bytes());
            for d in *dims {
                b.extend(d.to_le_bytes());
            }
            b.extend(kind.to_le_bytes());
            b.extend(off.to_le_bytes());
        }
        b.resize(b.len().div_ceil(32) * 32 + data, 0);
        b
    }

    #[test]
    fn a_sound_file_passes_and_candle_reads_it() {
        let f = file(
            &[(
                "general.architecture",
                8,
                [&5u64.to_le_bytes()[..], b"qwen2"].concat(),
            )],
            &[("w", &[32, 2], 8, 0)],
            68,
        );
        check_header(&f).unwrap();
        let ct = candle_core::quantized::gguf_file::Content::read(&mut std::io::Cursor::new(&f))
            .unwrap();
        assert_eq!(ct.tensor_infos.len(), 1);
    }

    #[test]
    fn hostile_headers_are_refused_with_a_reason() {
        let zero_align = file(
            &[("general.alignment", 4, 0u32.to_le_bytes().to_vec())],
            &[],
            0,
        );
        let huge_string = {
            let mut f = file(&[("k", 8, u64::MAX.to_le_bytes().to_vec())], &[], 0);
            f.truncate(f.len() - 8);
            f
        };
        let huge_array = file(
            &[(
                "k",
                9,
                [&4u32.to_le_bytes()[..], &(1u64 << 40).to_le_bytes()].concat(),
            )],
            &[],
            0,
        );
        let overflowing_dims = file(&[], &[("w", &[u64::MAX, 3], 0, 0)], 0);
        let past_the_end = file(&[], &[("w", &[32, 2], 8, 0)], 67);
        let deep = {
            let mut v = Vec::new();
            for _ in 0..20 {
                v.extend(9u32.to_le_bytes());
                v.extend(1u64.to_le_bytes());
            }
            v.extend(4u32.to_le_bytes());
            v.extend(0u64.to_le_bytes());
            file(&[("k", 9, v)], &[], 0)
        };
        let mut counts = file(&[], &[], 0);
        counts[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        let scalar = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/fuzz/gguf-scalar-tensor"
        ))
        .unwrap();
        let untyped = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/fuzz/gguf-unknown-array-type"
        ))
        .unwrap();
        let bool_value = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/fuzz/gguf-bool-value"
        ))
        .unwrap();
        let bool_array = file(
            &[(
                "k",
                9,
                [7u32.to_le_bytes().as_slice(), &2u64.to_le_bytes(), &[1, 2]].concat(),
            )],
            &[],
            0,
        );
        for (f, says) in [
            (scalar, "no dimensions"),
            (untyped, "array of unknown type"),
            (bool_value, "bool of value 41"),
            (bool_array, "bool of value 2"),
            (zero_align, "power of two"),
            (huge_string, "file ends"),
            (huge_array, "claims"),
            (overflowing_dims, "more elements"),
            (past_the_end, "runs past the end"),
            (deep, "deeper"),
            (counts, "more than the"),
            (b"GGUF\x09\0\0\0".to_vec(), "version 9"),
            (b"PK\x03\x04".to_vec(), "magic"),
        ] {
            let e = check_header(&f).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
    }
}
