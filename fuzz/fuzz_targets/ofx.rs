//! Fuzz target: cuadra-bank's ofx reader on arbitrary bytes (no panic, spans inside the input).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cuadra_bank::fuzzing::ofx(data);
});
