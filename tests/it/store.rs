//! The store conformance suite: the same assertions on SQLite and PostgreSQL.
//!
//! Longer than our ~600 lines on purpose: one capability's suite, whose cases share the fixtures built here.

use super::helpers::{backends, fresh_db, Backend};
use chrono::{NaiveDate, TimeZone, Utc};
use cuadra::store::{IngestOutcome, Store};
use cuadra_sdk::*;
use rust_decimal::Decimal;
use std::str::FromStr;

const COMPANY: &str = "EKU9003173C9";
const CUSTOMER: &str = "XIQB891116QE4";
const INV1: &str = "11111111-1111-4111-8111-111111111111";
const INV2: &str = "22222222-2222-4222-8222-222222222222";
const NOTE: &str = "33333333-3333-4333-8333-333333333333";
const REP: &str = "44444444-4444-4444-8444-444444444444";

async fn store(b: Backend) -> (Store, super::helpers::TestDb) {
    let db = fresh_db(b).await;
    let s = Store::open(&db.url, 4).await.expect("open store");
    (s, db)
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

pub fn invoice(uuid: &str, folio: &str, total: &str) -> Delivery {
    Delivery {
        kind: "cfdi".into(),
        external_id: uuid.into(),
        raw: format!("<cfdi uuid='{uuid}' total='{total}'/>").into_bytes(),
        records: vec![Record::Invoice(InvoiceRecord {
            uuid: Some(CfdiUuid::parse(uuid).unwrap()),
            serie: Some("A".into()),
            folio: Some(folio.into()),
            issuer_rfc: Some(Rfc::parse(COMPANY).unwrap()),
            customer_rfc: Some(Rfc::parse(CUSTOMER).unwrap()),
            customer_name: Some("Cliente".into()),
            issued_at: Utc.with_ymd_and_hms(2026, 1, 10, 18, 0, 0).unwrap(),
            due_at: None,
            total: Money::parse(total, Currency::MXN).unwrap(),
            subtotal: None,
            exchange_rate: None,
            payment_method: Some(PaymentMethod::Ppd),
            payment_form: Some("99".into()),
            replaces: vec![],
            erp_id: None,
            erp_residual: None,
            version: "4.0".into(),
        })],
    }
}

fn credit_note(total: &str) -> Delivery {
    Delivery {
        kind: "cfdi".into(),
        external_id: NOTE.into(),
        raw: b"<note/>".to_vec(),
        records: vec![Record::Credit(CreditRecord {
            uuid: CfdiUuid::parse(NOTE).unwrap(),
            serie: None,
            folio: Some("NC1".into()),
            issuer_rfc: Some(Rfc::parse(COMPANY).unwrap()),
            customer_rfc: Some(Rfc::parse(CUSTOMER).unwrap()),
            issued_at: Utc.with_ymd_and_hms(2026, 1, 12, 18, 0, 0).unwrap(),
            total: Money::parse(total, Currency::MXN).unwrap(),
            exchange_rate: None,
            relation_type: Some("01".into()),
            applies_to: vec![CfdiUuid::parse(INV1).unwrap()],
            version: "4.0".into(),
        })],
    }
}

fn rep(amount: &str) -> Delivery {
    Delivery {
        kind: "cfdi".into(),
        external_id: REP.into(),
        raw: b"<rep/>".to_vec(),
        records: vec![Record::Payment(PaymentRecord {
            kind: PaymentKind::Rep,
            external_id: format!("{REP}#1"),
            own_account: None,
            booked_on: NaiveDate::from_ymd_opt(2026, 2, 1).unwrap(),
            value_date: None,
            amount: Money::parse(amount, Currency::MXN).unwrap(),
            bank_reference: None,
            clave_rastreo: None,
            payer_name: None,
            payer_rfc: Some(CUSTOMER.into()),
            payer_account: None,
            referencia_numerica: None,
            concepto: None,
            document_id: Some(REP.into()),
            operation_number: Some("OP1".into()),
            remittance: vec![RemittanceLine {
                invoice: InvoiceRef::Uuid(CfdiUuid::parse(INV2).unwrap()),
                amount: Some(Money::parse(amount, Currency::MXN).unwrap()),
                equivalence: None,
                installment: Some(1),
                balance_before: Some(d("2000.00")),
                balance_after: None,
            }],
            customer_hint: None,
            status: None,
        })],
    }
}

fn row<'a>(
    t: &'a cuadra::store::Table,
    uuid: &str,
) -> std::collections::HashMap<&'static str, &'a str> {
    let r = t.rows.iter().find(|r| r[0] == uuid).expect("invoice row");
    t.columns
        .iter()
        .copied()
        .zip(r.iter().map(String::as_str))
        .collect()
}

#[tokio::test]
async fn ingest_is_idempotent_and_links_documents() {
    for b in backends().await {
        let (s, _db) = store(b).await;
        // The REP and the credit note arrive before the invoices they name: order does not matter.
        let batch = vec![
            rep("500.25"),
            credit_note("100.10"),
            invoice(INV1, "1", "1160.00"),
            invoice(INV2, "2", "2000.00"),
        ];
        let out = s.ingest("test", &batch, None).await.unwrap();
        assert!(
            out.iter().all(|o| *o == IngestOutcome::New),
            "{b:?} {out:?}"
        );
        s.link_documents().await.unwrap();
        let again = s.ingest("test", &batch, None).await.unwrap();
        assert!(
            again.iter().all(|o| *o == IngestOutcome::Unchanged),
            "{b:?}"
        );
        s.link_documents().await.unwrap();
        let t = s.report_invoices().await.unwrap();
        let r1 = row(&t, INV1);
        assert_eq!(
            (
                r1["total"],
                r1["credited"],
                r1["paid"],
                r1["balance"],
                r1["status"]
            ),
            ("1160.00", "100.10", "0.00", "1059.90", "partial"),
            "{b:?}"
        );
        let r2 = row(&t, INV2);
        assert_eq!(
            (r2["paid"], r2["balance"], r2["status"]),
            ("500.25", "1499.75", "partial"),
            "{b:?}"
        );
        assert_eq!(s.count("allocations").await.unwrap(), 1, "{b:?}");
        assert_eq!(s.count("credit_applications").await.unwrap(), 1, "{b:?}");
    }
}

#[tokio::test]
async fn the_open_balance_is_one_view() {
    use sqlx::Row;
    for b in backends().await {
        let (s, _db) = store(b).await;
        let batch = vec![
            rep("500.25"),
            credit_note("100.10"),
            invoice(INV1, "1", "1160.00"),
            invoice(INV2, "2", "2000.00"),
        ];
        s.ingest("test", &batch, None).await.unwrap();
        s.link_documents().await.unwrap();
        let rows = sqlx::query(
            "SELECT i.uuid, b.total_micros, b.credited_micros, b.paid_micros, b.balance_micros \
             FROM invoice_balance b JOIN invoices i ON i.id = b.invoice_id ORDER BY i.uuid",
        )
        .fetch_all(s.pool())
        .await
        .unwrap();
        let got: Vec<(String, i64, i64, i64, i64)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
            .collect();
        assert_eq!(
            got,
            vec![
                (INV1.into(), 1_160_000_000, 100_100_000, 0, 1_059_900_000),
                (INV2.into(), 2_000_000_000, 0, 500_250_000, 1_499_750_000),
            ],
            "{b:?}"
        );
    }
}

#[tokio::test]
async fn same_uuid_other_content_is_a_conflict() {
    for b in backends().await {
        let (s, _db) = store(b).await;
        s.ingest("test", &[invoice(INV1, "1", "1160.00")], None)
            .await
            .unwrap();
        let out = s
            .ingest("test", &[invoice(INV1, "1", "9999.00")], None)
            .await
            .unwrap();
        assert_eq!(out, vec![IngestOutcome::Conflicting], "{b:?}");
        assert_eq!(s.count("conflicts").await.unwrap(), 1);
        let t = s.report_invoices().await.unwrap();
        assert_eq!(
            row(&t, INV1)["total"],
            "1160.00",
            "{b:?}: never silently overwritten"
        );
    }
}

#[tokio::test]
async fn cancellation_takes_invoice_and_rep_out() {
    for b in backends().await {
        let (s, _db) = store(b).await;
        s.ingest("t", &[invoice(INV2, "2", "2000.00"), rep("2000.00")], None)
            .await
            .unwrap();
        s.link_documents().await.unwrap();
        assert_eq!(
            row(&s.report_invoices().await.unwrap(), INV2)["status"],
            "paid"
        );
        let cancel = |uuid: &str| Delivery {
            kind: "sat-metadata".into(),
            external_id: uuid.into(),
            raw: format!("{uuid}~0").into_bytes(),
            records: vec![Record::CfdiStatus(CfdiStatusRecord {
                uuid: CfdiUuid::parse(uuid).unwrap(),
                state: CfdiState::Cancelado,
                cancelled_at: Some(Utc.with_ymd_and_hms(2026, 2, 3, 0, 0, 0).unwrap()),
                issuer_rfc: None,
                receiver_rfc: None,
                tipo: Some("P".into()),
                total: None,
            })],
        };
        s.ingest("t", &[cancel(REP)], None).await.unwrap();
        s.link_documents().await.unwrap();
        let r = row(&s.report_invoices().await.unwrap(), INV2)
            .get("paid")
            .map(|x| x.to_string());
        assert_eq!(
            r.as_deref(),
            Some("0.00"),
            "{b:?}: a cancelled REP pays nothing"
        );
        s.ingest("t", &[cancel(INV2)], None).await.unwrap();
        s.link_documents().await.unwrap();
        let t = s.report_invoices().await.unwrap();
        assert_eq!(
            (row(&t, INV2)["status"], row(&t, INV2)["balance"]),
            ("cancelled", "0.00"),
            "{b:?}"
        );
    }
}

#[tokio::test]
async fn checkpoint_commits_with_its_records() {
    for b in backends().await {
        let (s, _db) = store(b).await;
        let cp = serde_json::json!({"cursor": 42});
        s.ingest("src", &[invoice(INV1, "1", "1.00")], Some(("src", &cp)))
            .await
            .unwrap();
        assert_eq!(s.checkpoint("src").await.unwrap(), Some(cp));
        // A delivery that cannot be stored (7 decimals) aborts the whole batch, checkpoint included.
        let bad = invoice(INV2, "2", "1.0000001");
        let cp2 = serde_json::json!({"cursor": 43});
        assert!(s
            .ingest(
                "src",
                &[invoice(NOTE, "3", "5.00"), bad],
                Some(("src", &cp2))
            )
            .await
            .is_err());
        assert_eq!(
            s.checkpoint("src").await.unwrap(),
            Some(serde_json::json!({"cursor": 42})),
            "{b:?}"
        );
        assert_eq!(
            s.count("invoices").await.unwrap(),
            1,
            "{b:?}: nothing of the failed batch is kept"
        );
        assert_eq!(s.count("raw_inbox").await.unwrap(), 1, "{b:?}");
    }
}

#[tokio::test]
async fn money_sums_exactly_in_sql() {
    for b in backends().await {
        let (s, _db) = store(b).await;
        // 0.1 + 0.2 style sums that floats get wrong, and a large amount.
        let batch: Vec<Delivery> = (0..30)
            .map(|i| {
                let uuid = format!("{:08x}-0000-4000-8000-000000000000", i);
                invoice(
                    &uuid,
                    &i.to_string(),
                    if i == 0 { "9999999999.999999" } else { "0.1" },
                )
            })
            .collect();
        s.ingest("t", &batch, None).await.unwrap();
        let total: i64 =
            sqlx::query_scalar("SELECT CAST(SUM(total_micros) AS BIGINT) FROM invoices")
                .fetch_one(s.pool())
                .await
                .unwrap();
        assert_eq!(from_micros(total), d("10000000002.899999"), "{b:?}");
    }
}

#[tokio::test]
async fn audit_log_is_append_only() {
    for b in backends().await {
        let (s, _db) = store(b).await;
        let c = Delivery {
            kind: "customers".into(),
            external_id: "c.csv".into(),
            raw: b"rfc,name".to_vec(),
            records: vec![Record::Customer(CustomerRecord {
                rfc: Some(Rfc::parse(CUSTOMER).unwrap()),
                name: "Cliente".into(),
                ..Default::default()
            })],
        };
        s.ingest("import", &[c], None).await.unwrap();
        assert!(s.count("audit_log").await.unwrap() >= 1);
        let upd = sqlx::query("UPDATE audit_log SET actor = 'x'")
            .execute(s.pool())
            .await;
        assert!(upd.is_err(), "{b:?}: audit log rows cannot change");
        let del = sqlx::query("DELETE FROM audit_log").execute(s.pool()).await;
        assert!(del.is_err(), "{b:?}: audit log rows cannot be deleted");
    }
}

#[tokio::test]
async fn erp_invoice_merges_with_cfdi_by_serie_folio() {
    for b in backends().await {
        let (s, _db) = store(b).await;
        let mut erp = invoice(INV1, "7", "1160.00");
        if let Record::Invoice(i) = &mut erp.records[0] {
            i.uuid = None;
            i.version = "erp".into();
            i.erp_id = Some("INV/2026/0007".into());
            i.due_at = NaiveDate::from_ymd_opt(2026, 3, 1);
        }
        erp.kind = "erp".into();
        erp.external_id = "INV/2026/0007".into();
        s.ingest("odoo", &[erp], None).await.unwrap();
        s.ingest("sat", &[invoice(INV1, "7", "1160.00")], None)
            .await
            .unwrap();
        assert_eq!(s.count("invoices").await.unwrap(), 1, "{b:?}");
        let t = s.report_invoices().await.unwrap();
        assert_eq!(
            row(&t, INV1)["due_at"],
            "2026-03-01",
            "{b:?}: the ERP's due date wins"
        );
    }
}

#[tokio::test]
async fn erp_and_cfdi_disagreeing_is_a_visible_conflict() {
    for b in backends().await {
        let (s, _db) = store(b).await;
        s.ingest("sat", &[invoice(INV1, "8", "1160.00")], None)
            .await
            .unwrap();
        let mut erp = invoice(INV1, "8", "1100.00");
        if let Record::Invoice(i) = &mut erp.records[0] {
            i.version = "erp".into();
            i.erp_id = Some("INV/2026/0008".into());
            i.due_at = NaiveDate::from_ymd_opt(2026, 3, 1);
        }
        erp.kind = "erp".into();
        erp.external_id = "INV/2026/0008".into();
        s.ingest("odoo", &[erp], None).await.unwrap();
        let t = s.report_invoices().await.unwrap();
        assert_eq!(
            row(&t, INV1)["total"],
            "1160.00",
            "{b:?}: the CFDI's amount is kept"
        );
        assert_eq!(
            row(&t, INV1)["due_at"],
            "2026-03-01",
            "{b:?}: the ERP's due date wins"
        );
        let c = s.report_conflicts().await.unwrap();
        assert_eq!(c.rows.len(), 1, "{b:?}");
        assert!(
            c.rows[0][3].contains("total 1160.00 MXN vs 1100.00 MXN"),
            "{b:?}: {}",
            c.rows[0][3]
        );
    }
}

/// Every row of the tables an import writes, without the wall-clock columns, as text.
async fn ledger_dump(s: &Store) -> Vec<String> {
    use sqlx::Row;
    let mut out = Vec::new();
    for (table, cols) in [
        ("raw_inbox", "id, source, kind, external_id, sha256"),
        (
            "invoices",
            "id, uuid, folio, customer_rfc, currency, total_micros, raw_id",
        ),
        ("credits", "id, uuid, total_micros, applies_to, raw_id"),
        (
            "payments",
            "id, kind, external_id, amount_micros, payer_name, concepto, raw_id",
        ),
        (
            "conflicts",
            "kind, external_id, kept_raw_id, conflicting_raw_id",
        ),
    ] {
        let rows = sqlx::query(&format!("SELECT {cols} FROM {table} ORDER BY 1, 2, 3"))
            .fetch_all(s.pool())
            .await
            .unwrap();
        for r in rows {
            let vals: Vec<String> = (0..r.len())
                .map(|i| {
                    r.try_get::<Option<String>, _>(i)
                        .ok()
                        .flatten()
                        .or_else(|| {
                            r.try_get::<Option<i64>, _>(i)
                                .ok()
                                .flatten()
                                .map(|v| v.to_string())
                        })
                        .unwrap_or_default()
                })
                .collect();
            out.push(format!("{table}: {}", vals.join("|")));
        }
    }
    out
}

fn bank_credit(id: &str, amount: &str) -> Record {
    Record::Payment(PaymentRecord {
        kind: PaymentKind::Bank,
        external_id: id.into(),
        own_account: Some("012180001234567897".into()),
        booked_on: NaiveDate::from_ymd_opt(2026, 2, 3).unwrap(),
        value_date: None,
        amount: Money::parse(amount, Currency::MXN).unwrap(),
        bank_reference: Some(format!("REF{id}")),
        clave_rastreo: None,
        payer_name: Some("CLIENTE SA DE CV".into()),
        payer_rfc: None,
        payer_account: None,
        referencia_numerica: None,
        concepto: Some(format!("PAGO {id}")),
        document_id: None,
        operation_number: None,
        remittance: vec![],
        customer_hint: None,
        status: None,
    })
}

/// The batched path (many deliveries in one call) stores exactly what storing them one at a time does: same
/// outcomes, same rows, same ids, same conflicts, including repeats and conflicts inside one batch.
#[tokio::test]
async fn batched_ingest_equals_one_by_one() {
    const INV3: &str = "66666666-6666-4666-8666-666666666666";
    for b in backends().await {
        let (batched, _db1) = store(b).await;
        let (single, _db2) = store(b).await;
        let mut altered = invoice(INV1, "1", "1160.00");
        altered.raw = b"<cfdi other bytes/>".to_vec();
        let statement = Delivery {
            kind: "camt053".into(),
            external_id: "stmt-1".into(),
            raw: b"<statement 1/>".to_vec(),
            // The same transaction twice in one file, and one more.
            records: vec![
                bank_credit("T1", "10.00"),
                bank_credit("T1", "10.00"),
                bank_credit("T2", "20.50"),
            ],
        };
        let overlapping = Delivery {
            kind: "camt053".into(),
            external_id: "stmt-2".into(),
            raw: b"<statement 2/>".to_vec(),
            records: vec![bank_credit("T2", "20.50"), bank_credit("T3", "7.00")],
        };
        let seen = Delivery {
            kind: "cfdi".into(),
            external_id: "55555555-5555-4555-8555-555555555555".into(),
            raw: b"<received/>".to_vec(),
            records: vec![Record::Seen(SeenRecord {
                uuid: Some(CfdiUuid::parse("55555555-5555-4555-8555-555555555555").unwrap()),
                tipo: "I".into(),
                reason: "received".into(),
            })],
        };
        let first = vec![invoice(INV1, "1", "1160.00"), rep("500.25")];
        let second = vec![
            invoice(INV1, "1", "1160.00"), // unchanged
            altered.clone(),               // conflicts with the stored one
            invoice(INV2, "2", "2000.00"),
            invoice(INV2, "2", "2000.00"), // twice in the batch
            credit_note("100.10"),
            statement,
            overlapping,
            seen,
            rep("500.25"),
            // A new identity twice with other bytes in one batch: the second is a conflict.
            invoice(INV3, "3", "300.00"),
            Delivery {
                raw: b"<cfdi third, other bytes/>".to_vec(),
                ..invoice(INV3, "3", "300.00")
            },
            // Another kind under a CFDI's external id is another identity.
            Delivery {
                kind: "camt053".into(),
                external_id: INV1.into(),
                raw: b"<statement named like a CFDI/>".to_vec(),
                records: vec![],
            },
        ];
        let mut outcomes = (Vec::new(), Vec::new());
        for batch in [&first, &second] {
            outcomes
                .0
                .extend(batched.ingest("test", batch, None).await.unwrap());
            for d in batch.iter() {
                outcomes.1.extend(
                    single
                        .ingest("test", std::slice::from_ref(d), None)
                        .await
                        .unwrap(),
                );
            }
        }
        assert_eq!(outcomes.0, outcomes.1, "{b:?}");
        use IngestOutcome::{Conflicting, New, Unchanged};
        assert_eq!(
            outcomes.0,
            [
                [New, New].as_slice(),
                &[
                    Unchanged,
                    Conflicting,
                    New,
                    Unchanged,
                    New,
                    New,
                    New,
                    New,
                    Unchanged
                ],
                &[New, Conflicting, New],
            ]
            .concat(),
            "{b:?}"
        );
        assert_eq!(
            ledger_dump(&batched).await,
            ledger_dump(&single).await,
            "{b:?}"
        );
    }
}

/// A CFDI body of `bytes` or so from the issuer with certificate number `cert` (its certificate, the same in
/// each of its CFDI, fills most of it, as in real ones).
fn stamped(uuid: &str, cert: &str, total: &str) -> Delivery {
    let certificate: String = (0..1800u32)
        .map(|i| {
            let x =
                (i.wrapping_mul(2654435761) ^ cert.len() as u32 ^ u32::from(cert.as_bytes()[0]))
                    >> 7;
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[(x % 64) as usize]
                as char
        })
        .collect();
    let sello: String = uuid.chars().cycle().take(344).collect();
    Delivery {
        kind: "cfdi".into(),
        external_id: uuid.into(),
        raw: format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<cfdi:Comprobante Version=\"4.0\" Sello=\"{sello}\" \
             NoCertificado=\"{cert}\" Certificado=\"{certificate}\" Total=\"{total}\">\n  <cfdi:Complemento>\
             <tfd:TimbreFiscalDigital UUID=\"{uuid}\" SelloCFD=\"{sello}\"/></cfdi:Complemento>\n</cfdi:Comprobante>\n"
        )
        .into_bytes(),
        records: vec![],
    }
}

/// Raw bodies are stored compressed, against one dictionary per issuer certificate from its second CFDI on, and
/// read back byte-exact; a transaction that wrote a dictionary and rolled back leaves nothing that names it, and
/// the next one writes it again.
#[tokio::test]
async fn raw_bodies_are_compressed_and_read_back_exactly() {
    let uuid = |i: u32| format!("55555555-0000-4000-8000-{i:012}");
    for b in backends().await {
        let (s, _db) = store(b).await;
        let a: Vec<Delivery> = (0..4)
            .map(|i| stamped(&uuid(i), "30001000000500003416", "116.00"))
            .collect();
        // One transaction rolled back after it made issuer A's dictionary (A's second CFDI).
        let mut tx = s.begin_write().await.unwrap();
        s.ingest_in(&mut tx, "test", &a[..2]).await.unwrap();
        drop(tx);
        assert_eq!(s.count("raw_dicts").await.unwrap(), 0, "{b:?}");
        // Then A's four CFDI, one from issuer B (seen once: no dictionary), and a short body.
        let other = stamped(&uuid(9), "30001000000500009999", "232.00");
        let short = Delivery {
            kind: "cfdi".into(),
            external_id: uuid(10),
            raw: b"<cfdi/>".to_vec(),
            records: vec![],
        };
        let mut all = a.clone();
        all.extend([other.clone(), short.clone()]);
        for d in &all {
            assert_eq!(
                s.ingest("test", std::slice::from_ref(d), None)
                    .await
                    .unwrap(),
                vec![IngestOutcome::New],
                "{b:?}"
            );
        }
        assert_eq!(s.count("raw_dicts").await.unwrap(), 1, "{b:?}");
        let rows = sqlx::query(
            "SELECT external_id, encoding, CAST(LENGTH(body) AS BIGINT), dict_id FROM raw_inbox ORDER BY id",
        )
        .fetch_all(s.pool())
        .await
        .unwrap();
        use sqlx::Row;
        let got: Vec<(String, String, i64, Option<i64>)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
        let encodings: Vec<&str> = got.iter().map(|g| g.1.as_str()).collect();
        assert_eq!(
            encodings,
            // A's dictionary is still known to this process from the rolled-back transaction, and written again.
            [
                "zstd-dict",
                "zstd-dict",
                "zstd-dict",
                "zstd-dict",
                "zstd",
                "identity"
            ],
            "{b:?}"
        );
        // With the certificate in the dictionary, a CFDI keeps a small fraction of its size.
        let raw_len = a[2].raw.len() as i64;
        assert!(got[2].2 * 4 < raw_len, "{b:?}: {} of {raw_len}", got[2].2);
        assert!(got[4].2 < other.raw.len() as i64, "{b:?}");
        for d in &all {
            let back = s.raw_deliveries(&d.external_id).await.unwrap();
            assert_eq!(back.len(), 1, "{b:?}");
            assert_eq!(back[0].body, d.raw, "{b:?}: {}", d.external_id);
            assert_eq!(back[0].sha256, d.sha256_hex(), "{b:?}");
            let by_id = s.raw_deliveries(&back[0].id.to_string()).await.unwrap();
            assert_eq!(by_id[0].body, d.raw, "{b:?}");
        }
        // A fresh process finds the stored dictionary; the same bodies again change nothing; an edited body is
        // a second version, read back as it came.
        let s2 = Store::open(&_db.url, 2).await.unwrap();
        let mut edited = a[3].clone();
        edited.raw = String::from_utf8(edited.raw)
            .unwrap()
            .replace("116.00", "117.00")
            .into_bytes();
        let outcomes = s2
            .ingest("test", &[a[0].clone(), edited.clone()], None)
            .await
            .unwrap();
        assert_eq!(outcomes[0], IngestOutcome::Unchanged, "{b:?}");
        assert_eq!(outcomes[1], IngestOutcome::Conflicting, "{b:?}");
        let versions = s2.raw_deliveries(&uuid(3)).await.unwrap();
        assert_eq!(versions.len(), 2, "{b:?}");
        assert_eq!(versions[0].body, a[3].raw, "{b:?}");
        assert_eq!(versions[1].body, edited.raw, "{b:?}");
        assert_eq!(s2.count("raw_dicts").await.unwrap(), 1, "{b:?}");
        assert!(s2.raw_deliveries("nothing-here").await.unwrap().is_empty());
    }
}

/// A lease is one holder's until it expires or is given back; a holder that died (its lease not renewed) is
/// replaced once the lease runs out, and a late renewal by the old holder then fails.
#[tokio::test]
async fn leases_expire_and_pass_to_the_next_holder() {
    use std::sync::Arc;
    use std::time::Duration;
    for b in backends().await {
        let (s, _db) = store(b).await;
        let ttl = Duration::from_secs(30);
        assert!(s.try_lease("connector:x", "a", ttl).await.unwrap(), "{b:?}");
        assert!(
            s.try_lease("connector:x", "a", ttl).await.unwrap(),
            "{b:?}: renewed"
        );
        assert!(
            !s.try_lease("connector:x", "b", ttl).await.unwrap(),
            "{b:?}: held"
        );
        assert!(
            s.try_lease("connector:y", "b", ttl).await.unwrap(),
            "{b:?}: another name"
        );
        // 31 s later, `a` has not renewed: `b` takes it, and `a` cannot take it back.
        let later: cuadra::store::Clock = Arc::new(|| Utc::now() + chrono::Duration::seconds(31));
        let s2 = s.clone().with_clock(later);
        assert!(
            s2.try_lease("connector:x", "b", ttl).await.unwrap(),
            "{b:?}: expired"
        );
        assert!(
            !s2.try_lease("connector:x", "a", ttl).await.unwrap(),
            "{b:?}: lost"
        );
        // Given back, it is free at once; `a` giving back what it no longer holds changes nothing.
        s2.release_lease("connector:x", "a").await.unwrap();
        assert!(
            !s2.try_lease("connector:x", "c", ttl).await.unwrap(),
            "{b:?}"
        );
        s2.release_lease("connector:x", "b").await.unwrap();
        assert!(
            s2.try_lease("connector:x", "c", ttl).await.unwrap(),
            "{b:?}: released"
        );
    }
}
