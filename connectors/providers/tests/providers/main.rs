//! Integration tests of the provider webhook handlers: one binary, one module per provider, plus the conformance
//! suite over `shared/fixtures/bank/webhooks` (skipped when that folder is absent) and the fuzz stand-in loop.

mod conekta;
mod conformance;
mod fuzz_loop;
mod mercadopago;
mod openpay;
mod settings;
mod stp;
mod stripe;
mod support;
