//! Reconciliation on SQLite and PostgreSQL, issue 19 classes 6, 7 and 3: the referencia numérica wherever the
//! payer put it, the legal form telling customers of the same name apart, compact folio lists (ranges and
//! abbreviated series), and corporate groups.

use super::helpers::backends;
use super::reconcile::{
    allocations, customer, exceptions, has, invoice, load, of, open_store, payment, Pay,
};
use cuadra::reconcile::{self, Options};
use cuadra_sdk::*;

const LOGISTICA: &str = "SIL050505AA1";
const LEON: &str = "SIE060606BB2";
const SA: &str = "SIA070707CC3";
const SRL: &str = "SIR080808DD4";
const COMPACT: &str = "CMP090909EE5";
const COMPACT_CLABE: &str = "012180001234567897";
const HOLDING: &str = "HOL010101AA1";
const SISTER_ONE: &str = "SIU020202BB2";
const SISTER_TWO: &str = "SID030303CC3";
const OUTSIDER: &str = "OTR040404DD4";
const HOLDING_CLABE: &str = "002180000000000001";
const SISTER_TWO_CLABE: &str = "002180000000000002";

fn master(records: Vec<Record>) -> Delivery {
    Delivery {
        kind: "customers".into(),
        external_id: "customers.csv".into(),
        raw: b"customers refs".to_vec(),
        records,
    }
}

/// Class 6: a payer from an unknown account whose name the bank cut ("SERV INTEGRALES DE L" fits two customers
/// equally) is identified by the referencia numérica the concepto states after a keyword, with leading zeros or
/// without; the referencia field still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referencia_in_the_concepto_identifies_the_payer() {
    let mut data = vec![
        master(vec![
            customer(
                LOGISTICA,
                "Servicios Integrales de Logística, S.A. de C.V.",
                &[],
                Some("1000259"),
            ),
            customer(
                LEON,
                "Servicios Integrales de León, S.A. de C.V.",
                &[],
                Some("0002000123"),
            ),
        ]),
        invoice(501, "A", "501", LOGISTICA, "5000.00", Currency::MXN, 5),
        invoice(502, "A", "502", LOGISTICA, "7000.00", Currency::MXN, 5),
        invoice(601, "A", "601", LEON, "5000.00", Currency::MXN, 5),
        invoice(602, "A", "602", LEON, "8000.00", Currency::MXN, 5),
    ];
    let cut = Some("SERV INTEGRALES DE L");
    let unknown_account = Some("014180000000000000");
    for p in [
        Pay {
            id: "ref-concepto",
            day: 10,
            amount: "5000.00",
            name: cut,
            account: unknown_account,
            concepto: Some("PAGO REF 1000259"),
            ..Default::default()
        },
        Pay {
            id: "ref-zeros",
            day: 10,
            amount: "5000.00",
            name: cut,
            account: unknown_account,
            concepto: Some("SPEI REFERENCIA:0002000123"),
            ..Default::default()
        },
        Pay {
            id: "ref-field",
            day: 11,
            amount: "7000.00",
            name: cut,
            referencia: Some("0001000259"),
            ..Default::default()
        },
        Pay {
            id: "no-ref",
            day: 11,
            amount: "8000.00",
            name: cut,
            concepto: Some("PAGO FACTURA"),
            ..Default::default()
        },
    ] {
        data.push(payment(p));
    }
    for b in backends().await {
        let (store, _db) = open_store(b).await;
        load(&store, &data).await;
        reconcile::run(&store, &Options::default(), false)
            .await
            .unwrap();
        let a = allocations(&store).await;
        let e = exceptions(&store).await;
        assert!(
            has(&a, "ref-concepto", "A-501", "5000.00", "amount"),
            "{b:?} {a:#?} {e:#?}"
        );
        assert!(
            has(&a, "ref-zeros", "A-601", "5000.00", "amount"),
            "{b:?} {a:#?} {e:#?}"
        );
        assert!(
            has(&a, "ref-field", "A-502", "7000.00", "amount"),
            "{b:?} {a:#?}"
        );
        assert_eq!(of(&a, "no-ref"), 0, "{b:?} {a:#?}");
        assert!(e["no-ref"].0.starts_with("unknown_payer"), "{b:?} {e:#?}");
        let t = store.report_allocations().await.unwrap();
        assert!(
            t.rows
                .iter()
                .any(|r| r[7].contains("referencia 1000259 in the concepto")),
            "{b:?} {:#?}",
            t.rows
        );
    }
}

/// Class 6: two customers whose names differ only in the legal form are told apart by the form the payer name
/// ends with; a payer name without one still fits both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legal_form_tells_customers_of_one_name_apart() {
    let mut data = vec![
        master(vec![
            customer(SA, "Soluciones Industriales, S.A. de C.V.", &[], None),
            customer(
                SRL,
                "Soluciones Industriales, S. de R.L. de C.V.",
                &[],
                None,
            ),
        ]),
        invoice(701, "B", "701", SA, "3000.00", Currency::MXN, 5),
        invoice(801, "B", "801", SRL, "3000.00", Currency::MXN, 5),
        invoice(802, "B", "802", SRL, "4000.00", Currency::MXN, 5),
    ];
    for (id, name, amount) in [
        ("form-sa", "SOLUCIONES INDUSTRIALES SA DE CV", "3000.00"),
        (
            "form-srl",
            "SOLUCIONES INDUSTRIALES S DE RL DE CV",
            "3000.00",
        ),
        ("form-none", "SOLUCIONES INDUSTRIALES", "4000.00"),
    ] {
        data.push(payment(Pay {
            id,
            day: 12,
            amount,
            name: Some(name),
            ..Default::default()
        }));
    }
    for b in backends().await {
        let (store, _db) = open_store(b).await;
        load(&store, &data).await;
        reconcile::run(&store, &Options::default(), false)
            .await
            .unwrap();
        let a = allocations(&store).await;
        let e = exceptions(&store).await;
        assert!(
            has(&a, "form-sa", "B-701", "3000.00", "amount"),
            "{b:?} {a:#?} {e:#?}"
        );
        assert!(
            has(&a, "form-srl", "B-801", "3000.00", "amount"),
            "{b:?} {a:#?} {e:#?}"
        );
        assert_eq!(of(&a, "form-none"), 0, "{b:?} {a:#?}");
        assert!(
            e["form-none"].0.starts_with("conflicting_payer"),
            "{b:?} {e:#?}"
        );
    }
}

/// Class 7: ranges and abbreviated series name exactly the invoices they stand for among many of the same
/// amount (before: `ambiguous_combination`); a date in the concepto invents no citation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compact_folio_lists_name_their_invoices() {
    let mut data = vec![master(vec![customer(
        COMPACT,
        "Compactos del Norte SA de CV",
        &[COMPACT_CLABE],
        None,
    )])];
    let folios = [
        1217, 1218, 1219, 1220, 1246, 1247, 1248, 1249, 1346, 1347, 1348, 1349, 1471, 1472, 1473,
    ];
    for f in folios {
        data.push(invoice(
            f,
            "C",
            &f.to_string(),
            COMPACT,
            "1000.00",
            Currency::MXN,
            5,
        ));
    }
    for (id, concepto, amount) in [
        ("abbreviated", "PAGO FACT 1471/72", "2000.00"),
        ("al", "FACS 1246 AL 1248", "3000.00"),
        ("a-la", "PAGO DE LA 1346 A LA 1348", "3000.00"),
        ("dash", "FACTS 1217-1219", "3000.00"),
        ("date", "PAGO 15/01/2026", "1000.00"),
    ] {
        data.push(payment(Pay {
            id,
            day: 14,
            amount,
            account: Some(COMPACT_CLABE),
            concepto: Some(concepto),
            ..Default::default()
        }));
    }
    for b in backends().await {
        let (store, _db) = open_store(b).await;
        load(&store, &data).await;
        reconcile::run(&store, &Options::default(), false)
            .await
            .unwrap();
        let a = allocations(&store).await;
        let e = exceptions(&store).await;
        for (pay, invoices) in [
            ("abbreviated", &[1471, 1472][..]),
            ("al", &[1246, 1247, 1248]),
            ("a-la", &[1346, 1347, 1348]),
            ("dash", &[1217, 1218, 1219]),
        ] {
            assert_eq!(of(&a, pay), invoices.len(), "{b:?} {pay} {a:#?} {e:#?}");
            for f in invoices {
                assert!(
                    has(&a, pay, &format!("C-{f}"), "1000.00", "reference"),
                    "{b:?} {pay} {a:#?}"
                );
            }
        }
        assert_eq!(of(&a, "date"), 0, "{b:?} {a:#?}");
        assert!(e["date"].0.starts_with("ambiguous_amount"), "{b:?} {e:#?}");
    }
}

fn member(
    rfc: &str,
    name: &str,
    accounts: &[&str],
    reference: Option<&str>,
    group: &str,
) -> Record {
    let Record::Customer(mut c) = customer(rfc, name, accounts, reference) else {
        unreachable!("customer() makes a customer")
    };
    c.group = (!group.is_empty()).then(|| group.to_string());
    Record::Customer(c)
}

/// Class 3: a sister pays its own and a sister's invoice in one transfer, a holding pays a member's invoice, a
/// sister pays with a member's referencia (the amount decides among the group's invoices); a referencia of a
/// customer outside the group is still a conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corporate_groups_pay_each_others_invoices() {
    let mut data = vec![
        master(vec![
            member(
                HOLDING,
                "Holding Andina SA de CV",
                &[HOLDING_CLABE],
                None,
                "ANDINA",
            ),
            member(
                SISTER_ONE,
                "Andina Uno SA de CV",
                &[],
                Some("3000111"),
                "Andina",
            ),
            member(
                SISTER_TWO,
                "Andina Dos SA de CV",
                &[SISTER_TWO_CLABE],
                None,
                "andina",
            ),
            member(OUTSIDER, "Otra Empresa SA de CV", &[], Some("4000222"), ""),
        ]),
        invoice(1330, "G", "1330", SISTER_ONE, "1500.00", Currency::MXN, 5),
        invoice(1331, "G", "1331", SISTER_ONE, "700.00", Currency::MXN, 5),
        invoice(1332, "G", "1332", SISTER_ONE, "650.00", Currency::MXN, 5),
        invoice(1077, "G", "1077", SISTER_TWO, "2500.00", Currency::MXN, 5),
        invoice(1078, "G", "1078", SISTER_TWO, "900.00", Currency::MXN, 5),
        invoice(1500, "G", "1500", OUTSIDER, "650.00", Currency::MXN, 5),
    ];
    for p in [
        Pay {
            id: "sisters-in-one",
            day: 10,
            amount: "4000.00",
            account: Some(SISTER_TWO_CLABE),
            concepto: Some("FACTURAS 1330 Y 1077"),
            ..Default::default()
        },
        Pay {
            id: "holding-pays-member",
            day: 11,
            amount: "700.00",
            account: Some(HOLDING_CLABE),
            concepto: Some("PAGO FACTURA 1331"),
            ..Default::default()
        },
        Pay {
            id: "member-referencia",
            day: 12,
            amount: "650.00",
            account: Some(SISTER_TWO_CLABE),
            referencia: Some("3000111"),
            ..Default::default()
        },
        Pay {
            id: "outsider-referencia",
            day: 13,
            amount: "900.00",
            account: Some(HOLDING_CLABE),
            referencia: Some("4000222"),
            ..Default::default()
        },
    ] {
        data.push(payment(p));
    }
    for b in backends().await {
        let (store, _db) = open_store(b).await;
        load(&store, &data).await;
        reconcile::run(&store, &Options::default(), false)
            .await
            .unwrap();
        let a = allocations(&store).await;
        let e = exceptions(&store).await;
        assert!(
            has(&a, "sisters-in-one", "G-1330", "1500.00", "reference")
                && has(&a, "sisters-in-one", "G-1077", "2500.00", "reference"),
            "{b:?} {a:#?} {e:#?}"
        );
        assert!(
            has(&a, "holding-pays-member", "G-1331", "700.00", "reference"),
            "{b:?} {a:#?} {e:#?}"
        );
        assert!(
            has(&a, "member-referencia", "G-1332", "650.00", "amount"),
            "{b:?} {a:#?} {e:#?}"
        );
        assert_eq!(of(&a, "outsider-referencia"), 0, "{b:?} {a:#?}");
        assert!(
            e["outsider-referencia"].0.starts_with("conflicting_payer"),
            "{b:?} {e:#?}"
        );
        let t = store.report_allocations().await.unwrap();
        assert!(
            t.rows.iter().any(|r| r[7].contains("same group ANDINA")),
            "{b:?} {:#?}",
            t.rows
        );
    }
}
