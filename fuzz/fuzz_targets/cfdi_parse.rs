//! Fuzz target: `cuadra_cfdi::fuzz::cfdi_parse` must return, never panic, on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cuadra_cfdi::fuzz::cfdi_parse(data);
});
