//! Fuzz target: `cuadra_erp::fuzz::odoo_rows` (Odoo search_read rows) must return, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cuadra_erp::fuzz::odoo_rows(data);
});
