//! Fuzz target: arbitrary headers and bodies through verify + handle of every provider webhook handler (Stripe,
//! Conekta, Openpay, Mercado Pago, STP) and Standard Webhooks, with known test secrets; must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cuadra_providers::fuzz::fuzz_webhooks(data);
});
