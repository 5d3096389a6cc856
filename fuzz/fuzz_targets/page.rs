//! Text read as a web page and as a pasted page: the HTML extraction and the
//! pasted-page reader.
#![no_main]

use khulasa::article::{from_bytes, ReadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let opts = ReadOptions::default();
    let wrapped = format!("<html><head><title>t</title></head><body><article>{text}</article></body></html>");
    for (name, page) in [("page.html", text), ("page.html", wrapped.as_str()), ("page.txt", text)] {
        if let Ok(a) = from_bytes(name, page.as_bytes(), &opts) {
            assert!(!a.full_text().trim().is_empty(), "an article without text");
        }
    }
});
