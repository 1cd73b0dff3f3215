//! Stand-in for `cargo fuzz run webhooks` where no fuzzing toolchain is at hand: random and mutated inputs through
//! the same entry function the fuzz target calls. It must never panic.

use cuadra_providers::fuzz::fuzz_webhooks;
use proptest::prelude::*;

const SEEDS: &[&str] = &[
    include_str!("../fixtures/stripe_payment_intent_succeeded.json"),
    include_str!("../fixtures/stripe_charge_refunded.json"),
    include_str!("../fixtures/conekta_order_paid_spei.json"),
    r#"{"id":1,"fechaOperacion":20260115,"claveRastreo":"X","monto":"1.5","cuentaBeneficiario":"646180157000123457"}"#,
    r#"{"abono":{"Clave":1,"FechaOperacion":"20260115","ClaveRastreo":"X","Monto":1e3}}"#,
    r#"{"id":"1","estado":"Devolución","causaDevolucion":{"code":16}}"#,
    "<abono><clave>1</clave><monto>2</monto><fechaOperacion>20100323</fechaOperacion><claveRastreo>G</claveRastreo></abono>",
    r#"{"id":"p","status":"approved","currency_id":"MXN","transaction_amount":1.10,"date_approved":"2026-01-15T10:00:00Z","refunds":[{"id":1,"amount":0.5,"date_created":"2026-01-15T10:00:00Z"}]}"#,
    r#"{"id":"t","operation_type":"in","status":"completed","amount":100.0,"currency":"MXN","operation_date":"2026-01-15T10:21:33-06:00","refund":{"id":"r","amount":1}}"#,
];

fn input(sel: u8, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut v = vec![sel];
    v.extend_from_slice(headers.as_bytes());
    v.extend_from_slice(b"\n\n");
    v.extend_from_slice(body);
    v
}

#[test]
fn seeds_through_every_provider_signed_and_unsigned() {
    for seed in SEEDS {
        for sel in 0u8..=255 {
            fuzz_webhooks(&input(
                sel,
                "x-request-id: r\nx-signature: ts=1,v1=00",
                seed.as_bytes(),
            ));
        }
    }
    fuzz_webhooks(&[]);
    fuzz_webhooks(&[0x80]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        fuzz_webhooks(&data);
    }

    #[test]
    fn mutated_seeds_never_panic(
        seed in 0..SEEDS.len(),
        sel in any::<u8>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut body = SEEDS[seed].as_bytes().to_vec();
        for (i, b) in flips {
            let n = body.len();
            if n > 0 {
                body[i.index(n)] = b;
            }
        }
        let keep = cut.index(body.len() + 1);
        body.truncate(keep.max(body.len() / 2));
        fuzz_webhooks(&input(sel | 0x80, "", &body));
        fuzz_webhooks(&input(sel, "stripe-signature: t=1700000000,v1=ab", &body));
    }
}
