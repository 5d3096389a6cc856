//! A GGUF file's header: refused with a reason, or read by candle, each tensor
//! inside the file, never a panic or a large allocation.
#![no_main]

use candle_core::quantized::gguf_file::Content;
use candle_core::Device;
use khulasa::generate::candle::gguf::check_header;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if check_header(data).is_err() {
        return;
    }
    let ct = Content::read(&mut std::io::Cursor::new(data)).expect("a checked header reads");
    for name in ct.tensor_infos.keys() {
        // candle may still refuse a tensor's shape; it must not panic.
        let _ = ct.tensor(&mut std::io::Cursor::new(data), name, &Device::Cpu);
    }
});
