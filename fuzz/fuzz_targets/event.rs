#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ecr_keeper_core::fuzz_targets::event(data));
