//! What is kept for a person in `report conflicts` (issue 18): the same payment identity with other content (a
//! webhook event sent again with another body, another event for the same payment with another amount, an STP
//! abono with another `monto`), and a verified webhook that could not be stored (kind `rejected`, its body kept in
//! the raw inbox). The first version stays the truth; the provider gets 2xx for a conflict and 400 for a rejection.

use super::helpers::{backends, fresh_db};
use super::webhooks::{abono, spawn_hooks, stripe_event, Hooks, OURS};
use chrono::NaiveDate;
use cuadra::store::{IngestOutcome, Store};
use cuadra_sdk::{Currency, Delivery, Money, PaymentKind, PaymentRecord, Record};

/// Rows of `report conflicts` as (kind, external_id, detail).
async fn conflicts(store: &Store) -> Vec<(String, String, String)> {
    let t = store.report_conflicts().await.unwrap();
    t.rows
        .iter()
        .map(|r| (r[1].clone(), r[2].clone(), r[3].clone()))
        .collect()
}

async fn kind_count(h: &Hooks, kind: &str) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM raw_inbox WHERE kind = $1")
        .bind(kind)
        .fetch_one(h.t.app.store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_payment_delivered_again_with_another_amount_is_a_conflict_and_the_first_stays() {
    for b in backends().await {
        let h = spawn_hooks(b, "").await;
        let first = h.stripe(stripe_event("evt_c_1", "pi_c_1", 116_010));
        let (code, _) = h.post(&first).await;
        assert_eq!(code, 200, "{b:?}");
        // The same event id with another body and amount: acknowledged (it was received and kept), not applied.
        let (code, body) = h
            .post(&h.stripe(stripe_event("evt_c_1", "pi_c_1", 999_999)))
            .await;
        assert_eq!(code, 200, "{b:?}: {body}");
        // Another event for the same payment with the same amount: the same money, no conflict.
        let (code, _) = h
            .post(&h.stripe(stripe_event("evt_c_2", "pi_c_1", 116_010)))
            .await;
        assert_eq!(code, 200, "{b:?}");
        // Another event for the same payment with another amount: a conflict.
        let (code, _) = h
            .post(&h.stripe(stripe_event("evt_c_3", "pi_c_1", 120_000)))
            .await;
        assert_eq!(code, 200, "{b:?}");
        let p = h.payment("pi_c_1").await;
        assert_eq!(
            p,
            Some(("provider".into(), 1_160_100_000, "MXN".into())),
            "{b:?}"
        );
        let c = conflicts(&h.t.app.store).await;
        assert_eq!(c.len(), 2, "{b:?}: {c:?}");
        assert!(
            c.iter().all(|(k, id, _)| k == "stripe" && id == "pi_c_1"),
            "{b:?}: {c:?}"
        );
        assert!(
            c[0].2.contains("1160.10 MXN") && c[0].2.contains("9999.99 MXN"),
            "{b:?}: {c:?}"
        );
        assert!(c[1].2.contains("evt_c_3"), "{b:?}: {c:?}");
        // Sent again, the conflicting delivery adds nothing.
        let (code, _) = h
            .post(&h.stripe(stripe_event("evt_c_3", "pi_c_1", 120_000)))
            .await;
        assert_eq!(code, 200, "{b:?}");
        // STP: the same abono id with another monto.
        let (code, body) = h.post(&h.stp(abono(OURS))).await;
        assert_eq!(code, 200, "{b:?}: {body}");
        let other = String::from_utf8(abono(OURS))
            .unwrap()
            .replace("\"2320.35\"", "\"2420.35\"");
        let (code, body) = h.post(&h.stp(other.into_bytes())).await;
        assert_eq!(code, 200, "{b:?}: {body}");
        assert!(body.contains("confirmar"), "{b:?}: {body}");
        let c = conflicts(&h.t.app.store).await;
        assert_eq!(c.len(), 3, "{b:?}: {c:?}");
        assert_eq!(c[2].0, "stp", "{b:?}: {c:?}");
        assert!(c[2].2.contains("2320.35 MXN"), "{b:?}: {c:?}");
        let p = h.payment("BNET01002601150000012345/20260115").await;
        assert_eq!(p.map(|p| p.1), Some(2_320_350_000), "{b:?}");
        h.t.stop().await;
    }
}

fn paid(external_id: &str, payment: &str, amount: &str) -> Delivery {
    Delivery {
        kind: "stripe".into(),
        external_id: external_id.into(),
        raw: format!("{{\"id\":\"{external_id}\",\"amount\":\"{amount}\"}}").into_bytes(),
        records: vec![Record::Payment(PaymentRecord {
            kind: PaymentKind::Provider,
            external_id: payment.into(),
            own_account: None,
            booked_on: NaiveDate::from_ymd_opt(2026, 2, 3).unwrap(),
            value_date: None,
            amount: Money::parse(amount, Currency::MXN).unwrap(),
            bank_reference: None,
            clave_rastreo: None,
            payer_name: None,
            payer_rfc: None,
            payer_account: None,
            referencia_numerica: None,
            concepto: None,
            document_id: None,
            operation_number: None,
            remittance: vec![],
            customer_hint: None,
            status: None,
        })],
    }
}

/// The batched path (several deliveries in one call, as the webhook intake's group commit) finds the same
/// conflicts as one by one, including a conflict inside one batch.
#[tokio::test]
async fn payment_conflicts_are_found_by_the_batched_and_the_single_path() {
    for b in backends().await {
        for batched in [true, false] {
            let db = fresh_db(b).await;
            let store = Store::open(&db.url, 4).await.unwrap();
            let all = [
                paid("evt_1", "pay_1", "100.00"),
                paid("evt_2", "pay_1", "100.00"),
                paid("evt_3", "pay_1", "150.00"),
                paid("evt_1", "pay_1", "170.00"),
            ];
            let outcomes = if batched {
                store.ingest("stripe", &all, None).await.unwrap()
            } else {
                let mut out = Vec::new();
                for d in &all {
                    out.extend(
                        store
                            .ingest("stripe", std::slice::from_ref(d), None)
                            .await
                            .unwrap(),
                    );
                }
                out
            };
            use IngestOutcome::*;
            assert_eq!(
                outcomes,
                vec![New, Unchanged, Conflicting, Conflicting],
                "{b:?} batched={batched}"
            );
            let c = conflicts(&store).await;
            assert_eq!(c.len(), 2, "{b:?} batched={batched}: {c:?}");
            assert_eq!(store.count("payments").await.unwrap(), 1);
            store.close().await;
        }
    }
}

/// A verified webhook that cannot be stored gets 400 with the reason, and is kept for a person: a `rejected` row
/// in `report conflicts` naming the connector and the reason, the body in the raw inbox (kind `rejected`, printed
/// by `cuadra raw ID`). The same body again adds no row; a later good delivery of the same event is stored.
#[tokio::test]
async fn a_rejected_webhook_is_kept_for_a_person() {
    for b in backends().await {
        let h = spawn_hooks(b, "").await;
        let huge = h.stripe(stripe_event("evt_r_big", "pi_r_big", i64::MAX));
        let (code, body) = h.post(&huge).await;
        assert_eq!(code, 400, "{b:?}: {body}");
        let (code, _) = h.post(&huge).await;
        assert_eq!(code, 400, "{b:?}");
        let bad_currency = String::from_utf8(stripe_event("evt_r_bad", "pi_r_bad", 100))
            .unwrap()
            .replace("\"mxn\"", "\"pesos\"");
        let garbage = h.stripe(bad_currency.into_bytes());
        let (code, body) = h.post(&garbage).await;
        assert_eq!(code, 400, "{b:?}: {body}");
        let c = conflicts(&h.t.app.store).await;
        assert_eq!(c.len(), 2, "{b:?}: {c:?}");
        assert_eq!(
            (c[0].0.as_str(), c[0].1.as_str()),
            ("rejected", "evt_r_big"),
            "{b:?}"
        );
        assert!(
            c[0].2.contains("stripe") && c[0].2.contains("payment amount"),
            "{b:?}: {c:?}"
        );
        assert_eq!(c[1].0, "rejected", "{b:?}: {c:?}");
        assert_eq!(kind_count(&h, "rejected").await, 2, "{b:?}");
        assert_eq!(h.count("payments").await, 0, "{b:?}");
        // The body as it arrived, from the raw id the detail names.
        let raw_id = c[0]
            .2
            .split("cuadra raw ")
            .nth(1)
            .and_then(|s| s.split('`').next())
            .expect("raw id in the detail");
        let kept = h.t.app.store.raw_deliveries(raw_id).await.unwrap();
        assert_eq!(kept.len(), 1, "{b:?}");
        assert_eq!(kept[0].body, huge.body, "{b:?}");
        assert_eq!(kept[0].source, "stripe", "{b:?}");
        // The same event id, now storable: stored as usual.
        let good = h.stripe(stripe_event("evt_r_big", "pi_r_big", 116_010));
        let (code, _) = h.post(&good).await;
        assert_eq!(code, 200, "{b:?}");
        assert_eq!(h.count("payments").await, 1, "{b:?}");
        h.t.stop().await;
    }
}
