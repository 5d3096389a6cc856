//! Markdown to plain paragraphs: headings, emphasis, links, images, code
//! fences and list markers are removed; the first `#` heading is the title.

/// True when text looks like Markdown (ATX headings, links or emphasis).
pub(super) fn looks_like(text: &str) -> bool {
    let lines: Vec<&str> = text.lines().take(50).collect();
    let headings = lines
        .iter()
        .filter(|l| l.starts_with("# ") || l.starts_with("## "))
        .count();
    let links = text.matches("](").count();
    headings > 0 || links > 1
}

/// Returns `(title, body)` with Markdown syntax removed.
pub(super) fn strip(text: &str) -> (Option<String>, String) {
    let mut title = None;
    let mut out = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("```") || t.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence || t.starts_with("<!--") || is_rule(t) {
            continue;
        }
        let hashes = t.chars().take_while(|c| *c == '#').count();
        let content = if hashes > 0 && t[hashes..].starts_with(' ') {
            let h = inline(t[hashes..].trim());
            if hashes == 1 && title.is_none() {
                title = Some(h);
                continue;
            }
            // A heading is its own paragraph.
            out.push(String::new());
            out.push(h);
            out.push(String::new());
            continue;
        } else {
            strip_marker(t)
        };
        out.push(inline(content));
    }
    (title, out.join("\n"))
}

fn is_rule(t: &str) -> bool {
    t.len() >= 3
        && (t.chars().all(|c| c == '-')
            || t.chars().all(|c| c == '*')
            || t.chars().all(|c| c == '_'))
}

fn strip_marker(t: &str) -> &str {
    let t = t.trim_start_matches('>').trim_start();
    for m in ["- ", "* ", "+ "] {
        if let Some(rest) = t.strip_prefix(m) {
            return rest;
        }
    }
    let digits = t.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && t[digits..].starts_with(". ") {
        return &t[digits + 2..];
    }
    t
}

/// Removes inline markup: images, links (keeping their text), emphasis, code.
fn inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '!' && chars.get(i + 1) == Some(&'[') {
            // Image: drop it whole.
            if let Some(end) = link_end(&chars, i + 1) {
                i = end;
                continue;
            }
        }
        if c == '[' {
            if let Some(close) = chars[i..].iter().position(|&x| x == ']').map(|p| p + i) {
                if chars.get(close + 1) == Some(&'(') {
                    if let Some(end) = link_end(&chars, i) {
                        out.extend(&chars[i + 1..close]);
                        i = end;
                        continue;
                    }
                }
            }
        }
        if matches!(c, '*' | '`') || (c == '_' && is_emphasis_underscore(&chars, i)) {
            i += 1;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

fn is_emphasis_underscore(chars: &[char], i: usize) -> bool {
    let before = i
        .checked_sub(1)
        .and_then(|j| chars.get(j))
        .is_none_or(|c| !c.is_alphanumeric());
    let after = chars.get(i + 1).is_none_or(|c| !c.is_alphanumeric());
    before || after
}

/// Index just past `[text](url)` starting at `start` (the `[`).
fn link_end(chars: &[char], start: usize) -> Option<usize> {
    let close = chars[start..].iter().position(|&x| x == ']')? + start;
    if chars.get(close + 1) != Some(&'(') {
        return None;
    }
    let paren = chars[close + 1..].iter().position(|&x| x == ')')? + close + 1;
    Some(paren + 1)
}
