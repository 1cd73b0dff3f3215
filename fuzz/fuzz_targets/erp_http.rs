//! Fuzz target: `cuadra_erp::fuzz::http_inputs` (pull pages, inbound events) must return, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cuadra_erp::fuzz::http_inputs(data);
});
