//! The digest JSON reader (`khulasa translate d.json`, `newsletter`): any
//! digest it accepts renders in every format.
#![no_main]

use khulasa::digest::Digest;
use khulasa::output::{render, OutputFormat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(d) = serde_json::from_slice::<Digest>(data) else {
        return;
    };
    for f in [OutputFormat::Text, OutputFormat::Json, OutputFormat::Markdown] {
        for evidence in [false, true] {
            let _ = render(&d, f, evidence);
        }
    }
});
