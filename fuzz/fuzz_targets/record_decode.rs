//! Fuzz target `record_decode`: placeholder body until the decoder target lands.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = data.len();
});
