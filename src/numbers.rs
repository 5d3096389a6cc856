//! Numbers in text: digits in Latin, Arabic-Indic (U+0660–0669) and Extended
//! Arabic-Indic (U+06F0–06F9) scripts, with thousands separators removed.

/// The Latin digit byte for a digit in any of the three scripts.
pub fn latin_digit(c: char) -> Option<u8> {
    match c {
        '0'..='9' => Some(c as u8),
        '\u{0660}'..='\u{0669}' => Some(b'0' + (c as u32 - 0x0660) as u8),
        '\u{06F0}'..='\u{06F9}' => Some(b'0' + (c as u32 - 0x06F0) as u8),
        _ => None,
    }
}

/// Every number in `text`, normalized: Latin digits, thousands separators
/// (`,` and `٬`) removed, decimal point (`.` or `٫`) kept as `.`.
pub fn extract(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some(d) = latin_digit(c) {
            cur.push(d as char);
        } else if !cur.is_empty()
            && matches!(c, ',' | '.' | '٫' | '٬')
            && chars.get(i + 1).and_then(|n| latin_digit(*n)).is_some()
        {
            if matches!(c, '.' | '٫') {
                cur.push('.');
            }
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        i += 1;
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_across_scripts_and_separators() {
        assert_eq!(
            extract("2,600 homes, 1.5m people at 10.30, ۲۰۲۴ and ٣٤; 48-hour"),
            vec!["2600", "1.5", "10.30", "2024", "34", "48"]
        );
        assert_eq!(extract("Sentence ends 12. Next"), vec!["12"]);
    }
}
