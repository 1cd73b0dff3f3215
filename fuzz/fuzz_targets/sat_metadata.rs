//! Fuzz target: `cuadra_cfdi::fuzz::sat_metadata` must return, never panic, on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cuadra_cfdi::fuzz::sat_metadata(data);
});
