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
/// (`,` and `٬`) removed, decimal point (`.` or `٫`) kept as `.`. A
/// separator groups 3 digits (`2,600`), or 2 before another separator
/// (lakh grouping, `1,50,000`); other commas between digits (`8,9`) end
/// the number.
pub fn extract(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let is_digit = |i: usize| chars.get(i).and_then(|c| latin_digit(*c)).is_some();
    let group = |i: usize| {
        let n = (i + 1..).take_while(|&j| is_digit(j)).count();
        let next = chars.get(i + 1 + n).copied();
        n == 3 || (n == 2 && matches!(next, Some(',' | '٬')) && is_digit(i + 2 + n))
    };
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some(d) = latin_digit(c) {
            cur.push(d as char);
        } else if !cur.is_empty()
            && (matches!(c, '.' | '٫') || (matches!(c, ',' | '٬') && group(i)))
            && is_digit(i + 1)
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
        assert_eq!(
            extract("Rs1,50,000 and ۱٬۵۰۰ but 8,9th and 1,2345 and 3,50."),
            vec!["150000", "1500", "8", "9", "1", "2345", "3", "50"]
        );
    }
}
