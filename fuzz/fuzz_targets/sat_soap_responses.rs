//! Fuzzes the SAT Descarga Masiva SOAP response parsers (Autentica, SolicitaDescarga*, Verifica, Descargar).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cuadra_sat::response::fuzz_responses(data);
});
