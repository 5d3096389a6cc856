//! Batch inputs: folders (recursive, filtered by a glob), JSONL files of
//! articles, `@lists` of paths and single files, each item with a stable id.

use std::path::{Path, PathBuf};

use crate::article::sha256_hex;

/// One article to summarize.
#[derive(Debug, Clone)]
pub struct Item {
    /// Stable id: given in the JSONL, or derived from the content hash.
    pub id: String,
    /// Where it came from: a path, or `path:line` for JSONL.
    pub origin: String,
    /// The raw input.
    pub bytes: Vec<u8>,
    /// Source URL, when given.
    pub url: Option<String>,
    /// Publication time, when given (ISO 8601 sorts correctly).
    pub published: Option<String>,
}

/// An input that could not even be read as an item.
#[derive(Debug, Clone)]
pub struct Unreadable {
    /// Id (derived from the origin).
    pub id: String,
    /// The path or `path:line`.
    pub origin: String,
    /// Why.
    pub reason: String,
}

/// Default glob for folders.
pub const DEFAULT_GLOB: &str = "*.{txt,md,markdown,html,htm,json}";

/// Expands `{a,b}` alternatives and matches `*` (any run) and `?` (one char)
/// against a file name.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    if let (Some(open), Some(close)) = (pattern.find('{'), pattern.find('}')) {
        if open < close {
            let (head, tail) = (&pattern[..open], &pattern[close + 1..]);
            return pattern[open + 1..close]
                .split(',')
                .any(|alt| glob_match(&format!("{head}{alt}{tail}"), name));
        }
    }
    fn rec(p: &[char], s: &[char]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some(('*', rest)) => (0..=s.len()).any(|i| rec(rest, &s[i..])),
            Some(('?', rest)) => !s.is_empty() && rec(rest, &s[1..]),
            Some((c, rest)) => s.first() == Some(c) && rec(rest, &s[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = name.chars().collect();
    rec(&p, &s)
}

/// A file-name-safe id: letters, digits, `.`, `_`, `-`; otherwise a hash.
pub fn safe_id(given: &str) -> String {
    let ok = !given.is_empty()
        && given.len() <= 100
        && !given.starts_with('.')
        && given
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        given.to_string()
    } else {
        format!("id-{}", &sha256_hex(given.as_bytes())[..16])
    }
}

/// Id of content without a given id.
pub fn content_id(bytes: &[u8]) -> String {
    sha256_hex(bytes)[..16].to_string()
}

/// Collects items from `inputs` in a stable order.
pub fn collect(inputs: &[String], glob: &str) -> (Vec<Item>, Vec<Unreadable>) {
    let mut items = Vec::new();
    let mut bad = Vec::new();
    for input in inputs {
        if let Some(list) = input.strip_prefix('@') {
            match std::fs::read_to_string(list) {
                Ok(text) => {
                    let paths: Vec<String> = text
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty() && !l.starts_with('#'))
                        .map(str::to_string)
                        .collect();
                    let (i, b) = collect(&paths, glob);
                    items.extend(i);
                    bad.extend(b);
                }
                Err(e) => bad.push(unreadable(
                    input,
                    format!("cannot read the list of paths: {e}"),
                )),
            }
            continue;
        }
        let path = Path::new(input);
        if path.is_dir() {
            let mut files = Vec::new();
            walk(path, glob, &mut files, &mut bad);
            files.sort();
            for f in files {
                file_item(&f, &mut items, &mut bad);
            }
        } else if input.ends_with(".jsonl") {
            jsonl_items(input, &mut items, &mut bad);
        } else {
            file_item(path, &mut items, &mut bad);
        }
    }
    (items, bad)
}

fn unreadable(origin: &str, reason: String) -> Unreadable {
    Unreadable {
        id: safe_id(&format!("input-{}", &sha256_hex(origin.as_bytes())[..12])),
        origin: origin.to_string(),
        reason,
    }
}

fn walk(dir: &Path, glob: &str, files: &mut Vec<PathBuf>, bad: &mut Vec<Unreadable>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            bad.push(unreadable(
                &dir.display().to_string(),
                format!("cannot list folder: {e}"),
            ));
            return;
        }
    };
    for entry in entries.flatten() {
        let p = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            walk(&p, glob, files, bad);
        } else if glob_match(glob, &name) {
            files.push(p);
        }
    }
}

fn file_item(path: &Path, items: &mut Vec<Item>, bad: &mut Vec<Unreadable>) {
    let origin = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => items.push(Item {
            id: content_id(&bytes),
            origin,
            bytes,
            url: None,
            published: None,
        }),
        Err(e) => bad.push(unreadable(&origin, format!("cannot read input: {e}"))),
    }
}

fn jsonl_items(path: &str, items: &mut Vec<Item>, bad: &mut Vec<Unreadable>) {
    match std::fs::read(path) {
        Ok(text) => jsonl_lines(path, &text, items, bad),
        Err(e) => bad.push(unreadable(path, format!("cannot read input: {e}"))),
    }
}

/// The items of a JSONL file's bytes, one per non-blank line; a line that is
/// not JSON is unreadable, named `path:line`.
pub fn jsonl_lines(path: &str, text: &[u8], items: &mut Vec<Item>, bad: &mut Vec<Unreadable>) {
    for (n, line) in text.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let origin = format!("{path}:{}", n + 1);
        let value: serde_json::Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) => {
                bad.push(unreadable(&origin, format!("invalid JSON line: {e}")));
                continue;
            }
        };
        let field = |k: &str| value.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let id = value
            .get("id")
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .map_or_else(|| content_id(line), |s| safe_id(&s));
        items.push(Item {
            id,
            origin,
            bytes: line.to_vec(),
            url: field("url"),
            published: field("published"),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_with_braces() {
        assert!(glob_match(DEFAULT_GLOB, "a.txt"));
        assert!(glob_match(DEFAULT_GLOB, "b.html"));
        assert!(!glob_match(DEFAULT_GLOB, "c.gguf"));
        assert!(glob_match("wire-??.txt", "wire-07.txt"));
    }

    #[test]
    fn ids_are_stable_and_safe() {
        assert_eq!(safe_id("AP-2024.01_x"), "AP-2024.01_x");
        assert!(safe_id("../etc/passwd").starts_with("id-"));
        assert_eq!(content_id(b"abc"), content_id(b"abc"));
        assert_ne!(content_id(b"abc"), content_id(b"abd"));
    }

    #[test]
    fn collects_folders_jsonl_and_lists() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("a.txt"), "A story.").unwrap();
        std::fs::write(d.path().join("sub/b.md"), "# B\n\nStory.").unwrap();
        std::fs::write(d.path().join("skip.bin"), "x").unwrap();
        let jl = d.path().join("w.jsonl");
        std::fs::write(&jl, "{\"id\":\"w1\",\"title\":\"T\",\"body\":\"B.\",\"published\":\"2024-08-12T10:00:00Z\"}\nnot json\n\n{\"text\":\"C.\"}\n").unwrap();
        let list = d.path().join("paths.lst");
        std::fs::write(&list, format!("{}\n", d.path().join("a.txt").display())).unwrap();
        let inputs = vec![
            d.path().join("sub").display().to_string(),
            jl.display().to_string(),
            format!("@{}", list.display()),
        ];
        let (items, bad) = collect(&inputs, DEFAULT_GLOB);
        assert_eq!(items.len(), 4, "{items:?}");
        assert_eq!(items[1].id, "w1");
        assert_eq!(items[1].published.as_deref(), Some("2024-08-12T10:00:00Z"));
        assert_eq!(bad.len(), 1);
        assert!(bad[0].origin.ends_with("w.jsonl:2"));
    }
}
