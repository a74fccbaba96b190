#![no_main]
// Each target drives one of the glue's entry points.
#[allow(dead_code)]
#[path = "../glue/src/lib.rs"]
mod glue;
libfuzzer_sys::fuzz_target!(|data: &[u8]| glue::event(data));
