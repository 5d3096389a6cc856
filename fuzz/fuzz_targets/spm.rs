//! The SentencePiece protobuf reader: a model or a reason.
#![no_main]

use khulasa::translate::spm::{pieces, SpmModel};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(model) = SpmModel::parse(data) else {
        return;
    };
    if let Ok(tok) = model.tokenizer() {
        let _ = pieces(&tok, "Floods in Swat: 1,200 homes lost. سوات میں سیلاب");
    }
});
