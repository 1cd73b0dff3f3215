//! What the documents state about payments, on SQLite and PostgreSQL: a REP line without `IdDocumento` is a
//! warning naming file and line (the rest imports); a REP line paying more than its invoice owes allocates the
//! balance and leaves the excess as an exception for a person, which reconcile runs keep, in either order of
//! arrival; an invoice paid, then cancelled and replaced (CFDI relacionado 04), hands its payments to the
//! substitute (audited, published), whether the substitute comes before or after the payment, and a payment
//! citing the cancelled folio lands on the substitute; a substitute of another amount is an exception, never a
//! guess.

use super::cfdi::{self as c, COMPANY};
use super::helpers::backends;
use super::reconcile::{
    allocations, balance, customers, exceptions, invoice, load, open_store, payment, rep_for,
    uuid_for, Pay, NORTE,
};
use cuadra::reconcile::{self, Options};
use cuadra::store::Store;
use cuadra_sdk::*;

const INV: &str = "22222222-0000-4000-8000-00000000000a";
const REP: &str = "22222222-0000-4000-8000-00000000000c";

/// A Pagos 2.0 complement paying INV with one line, plus a second line with no IdDocumento (nor Folio).
fn rep_with_an_anonymous_line() -> String {
    r#"
    <pago20:Pagos Version="2.0"><pago20:Totales MontoTotalPagos="1260.00"/>
      <pago20:Pago FechaPago="2024-05-15T11:00:00" FormaDePagoP="03" MonedaP="MXN" TipoCambioP="1" Monto="1260.00" NumOperacion="SPEI-9">
        <pago20:DoctoRelacionado IdDocumento="INV" MonedaDR="MXN" EquivalenciaDR="1" NumParcialidad="1" ImpSaldoAnt="1160.00" ImpPagado="1160.00" ImpSaldoInsoluto="0.00" ObjetoImpDR="01"/>
        <pago20:DoctoRelacionado MonedaDR="MXN" EquivalenciaDR="1" NumParcialidad="1" ImpSaldoAnt="100.00" ImpPagado="100.00" ImpSaldoInsoluto="0.00" ObjetoImpDR="01"/>
      </pago20:Pago>
    </pago20:Pagos>"#
        .replace("INV", INV)
}

#[tokio::test]
async fn a_rep_line_without_id_documento_is_a_warning_naming_file_and_line() {
    for b in backends().await {
        let db = c::ledger(b, &[COMPANY]).await;
        let dir = db.dir.path().join("cfdi");
        std::fs::create_dir_all(&dir).unwrap();
        let inv = c::invoice(INV, "71", "2024-05-02T10:00:00", "1000.00", "1160.00");
        std::fs::write(dir.join("a.xml"), inv.xml()).unwrap();
        let rep = c::rep(
            REP,
            "9",
            "2024-05-15T12:00:00",
            rep_with_an_anonymous_line(),
        );
        let xml = rep.xml();
        let line = 1 + xml
            .lines()
            .position(|l| l.contains("<pago20:DoctoRelacionado MonedaDR"))
            .unwrap();
        std::fs::write(dir.join("rep.xml"), &xml).unwrap();
        let (code, _, err) = c::import(&db, &[&dir]);
        assert_eq!(code, 0, "{b:?}: {err}");
        let want = format!("rep.xml, line {line}, column");
        assert!(
            err.contains("warning: ")
                && err.contains(&want)
                && err.contains("field DoctoRelacionado@IdDocumento")
                && err.contains("has no IdDocumento"),
            "{b:?}: {err}"
        );
        // The rest of the REP imported: its other line pays the invoice.
        let (_, rows) = c::report(&db, "invoices");
        assert_eq!(
            c::invoice_line(&rows, INV),
            c::line(["MXN", "1160.00", "0.00", "1160.00", "0.00", "paid"]),
            "{b:?}"
        );
        // The same file inside a SAT package: the warning names the package and the entry.
        let db2 = c::ledger(b, &[COMPANY]).await;
        let zip = super::cfdi::stored_zip(&[("rep.xml", xml.as_bytes())]);
        let pkg = db2.dir.path().join("package.zip");
        std::fs::write(&pkg, zip).unwrap();
        let (code, _, err) = c::import(&db2, &[&pkg]);
        assert_eq!(code, 0, "{b:?}: {err}");
        assert!(
            err.contains(&format!("package.zip, entry rep.xml, line {line}")),
            "{b:?}: {err}"
        );
    }
}

/// The excess exceptions of a ledger: payment external id → reason.
async fn reasons(store: &Store) -> Vec<(String, String)> {
    exceptions(store)
        .await
        .into_iter()
        .map(|(k, (r, _))| (k, r))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rep_paying_more_than_the_balance_allocates_the_balance_and_leaves_the_excess_for_a_person(
) {
    for b in backends().await {
        let inv = invoice(5, "B", "201", NORTE, "1000.00", Currency::MXN, 5);
        let rep = rep_for(5, "1500.00", 6, None);
        let mut results = Vec::new();
        for order in [[&inv, &rep], [&rep, &inv]] {
            let (store, _db) = open_store(b).await;
            load(&store, &[customers()]).await;
            for d in order {
                load(&store, std::slice::from_ref(d)).await;
            }
            for _ in 0..2 {
                reconcile::run(&store, &Options::default(), false)
                    .await
                    .unwrap();
            }
            assert_eq!(
                balance(&store, "B-201").await,
                ("0.00".into(), "paid".into()),
                "{b:?}"
            );
            let a = allocations(&store).await;
            assert_eq!(
                a,
                vec![(
                    "rep-1".into(),
                    "B-201".into(),
                    "1000.00".into(),
                    "rep".into()
                )],
                "{b:?}"
            );
            let e = reasons(&store).await;
            assert_eq!(e.len(), 1, "{b:?}: {e:#?}");
            assert_eq!(e[0].0, "rep-1");
            assert!(
                e[0].1.starts_with("rep_excess: ")
                    && e[0]
                        .1
                        .contains("pays 1500.00 to invoice B-201, which owed 1000.00"),
                "{b:?}: {e:#?}"
            );
            // In the exceptions report a person reads.
            let t = store.report_exceptions().await.unwrap();
            assert_eq!(t.rows.len(), 1, "{b:?}");
            results.push((a, e));
        }
        assert_eq!(results[0], results[1], "{b:?}: order of arrival");
    }
}

/// A paid invoice B-201 and its substitute B-301 (relacionado 04, `total`).
fn substitute(total: &str) -> Delivery {
    let mut d = invoice(7, "B", "301", NORTE, total, Currency::MXN, 20);
    if let Record::Invoice(i) = &mut d.records[0] {
        i.replaces = vec![CfdiUuid::parse(&uuid_for(5)).unwrap()];
    }
    d
}

fn paid_by_bank() -> Delivery {
    payment(Pay {
        id: "bank-1",
        day: 10,
        amount: "1160.00",
        name: Some("Comercial del Norte"),
        concepto: Some("PAGO FACTURA B-201"),
        ..Default::default()
    })
}

async fn audit_count(store: &Store, action: &str) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM audit_log WHERE action = $1")
        .bind(action)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_substituted_invoice_hands_its_payment_to_the_substitute_in_either_order() {
    for b in backends().await {
        let old = invoice(5, "B", "201", NORTE, "1160.00", Currency::MXN, 5);
        // 1: paid, reconciled, then cancelled and replaced weeks later (another import, another run).
        let (s1, _d1) = open_store(b).await;
        load(&s1, &[customers(), old.clone(), paid_by_bank()]).await;
        reconcile::run(&s1, &Options::default(), false)
            .await
            .unwrap();
        let before = allocations(&s1).await;
        assert_eq!(before.len(), 1, "{b:?}: {before:#?}");
        assert_eq!(before[0].1, "B-201", "{b:?}");
        load(&s1, &[substitute("1160.00")]).await;
        reconcile::run(&s1, &Options::default(), false)
            .await
            .unwrap();
        let after = allocations(&s1).await;
        assert_eq!(after.len(), 1, "{b:?}: {after:#?}");
        assert_eq!(
            (
                after[0].0.as_str(),
                after[0].1.as_str(),
                after[0].2.as_str()
            ),
            ("bank-1", "B-301", "1160.00"),
            "{b:?}"
        );
        assert_eq!(balance(&s1, "B-301").await, ("0.00".into(), "paid".into()));
        assert_eq!(audit_count(&s1, "follow_substitution").await, 1, "{b:?}");
        assert!(exceptions(&s1).await.is_empty(), "{b:?}");
        // Published like any allocation change: removed on B-201, created on B-301.
        s1.publish_changes(&["erp".to_string()]).await.unwrap();
        let types: Vec<String> = sqlx::query_scalar(
            "SELECT event_type FROM outbox WHERE event_type LIKE 'allocation.%' ORDER BY id",
        )
        .fetch_all(s1.pool())
        .await
        .unwrap();
        assert_eq!(
            types.iter().filter(|t| *t == "allocation.removed").count(),
            1,
            "{types:?}"
        );
        assert_eq!(
            types.iter().filter(|t| *t == "allocation.created").count(),
            2,
            "{types:?}"
        );
        // Idempotent: linking again moves nothing.
        let l = s1.link_documents().await.unwrap();
        assert_eq!(l.substitutions_followed, 0, "{b:?}");

        // 2: the substitute arrives before the payment, which still cites the cancelled folio: one run.
        let (s2, _d2) = open_store(b).await;
        load(
            &s2,
            &[customers(), old, substitute("1160.00"), paid_by_bank()],
        )
        .await;
        reconcile::run(&s2, &Options::default(), false)
            .await
            .unwrap();
        let a2 = allocations(&s2).await;
        assert_eq!(
            a2.iter().map(|a| (&a.0, &a.1, &a.2)).collect::<Vec<_>>(),
            after.iter().map(|a| (&a.0, &a.1, &a.2)).collect::<Vec<_>>(),
            "{b:?}: the same money on the same invoice in either order"
        );
        let expl: String =
            sqlx::query_scalar("SELECT explanation FROM allocations WHERE removed_at IS NULL")
                .fetch_one(s2.pool())
                .await
                .unwrap();
        assert!(
            expl.contains("concepto names B-301 by the folio of the cancelled invoice it replaces (sustitución 04)"),
            "{b:?}: {expl}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_substitute_of_another_amount_is_an_exception_and_the_money_stays() {
    for b in backends().await {
        let (store, _db) = open_store(b).await;
        let old = invoice(5, "B", "201", NORTE, "1160.00", Currency::MXN, 5);
        load(&store, &[customers(), old, paid_by_bank()]).await;
        reconcile::run(&store, &Options::default(), false)
            .await
            .unwrap();
        load(&store, &[substitute("1200.00")]).await;
        for _ in 0..2 {
            reconcile::run(&store, &Options::default(), false)
                .await
                .unwrap();
        }
        let a = allocations(&store).await;
        assert_eq!(a.len(), 1, "{b:?}");
        assert_eq!(a[0].1, "B-201", "{b:?}: never moved on a guess");
        let e = reasons(&store).await;
        assert_eq!(e.len(), 1, "{b:?}: {e:#?}");
        assert!(
            e[0].0 == "bank-1"
                && e[0].1.starts_with("substitution_differs: invoice B-201")
                && e[0].1.contains("B-301")
                && e[0].1.contains("1200.00"),
            "{b:?}: {e:#?}"
        );
        assert_eq!(audit_count(&store, "follow_substitution").await, 0, "{b:?}");
    }
}

/// A → B → C (each relacionado 04 to the one before, B and C arriving together after A was paid): the money ends on
/// C, once, whichever substitute the linker meets first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_of_substitutions_hands_the_payment_to_the_last() {
    for b in backends().await {
        let (store, _db) = open_store(b).await;
        let old = invoice(5, "B", "201", NORTE, "1160.00", Currency::MXN, 5);
        load(&store, &[customers(), old, paid_by_bank()]).await;
        reconcile::run(&store, &Options::default(), false)
            .await
            .unwrap();
        let mut last = invoice(8, "B", "401", NORTE, "1160.00", Currency::MXN, 25);
        if let Record::Invoice(i) = &mut last.records[0] {
            i.replaces = vec![CfdiUuid::parse(&uuid_for(7)).unwrap()];
        }
        for d in [&substitute("1160.00"), &last] {
            store
                .ingest("test", std::slice::from_ref(d), None)
                .await
                .unwrap();
        }
        store.link_documents().await.unwrap();
        reconcile::run(&store, &Options::default(), false)
            .await
            .unwrap();
        let a = allocations(&store).await;
        assert_eq!(a.len(), 1, "{b:?}: {a:#?}");
        assert_eq!(
            (a[0].0.as_str(), a[0].1.as_str()),
            ("bank-1", "B-401"),
            "{b:?}"
        );
        assert_eq!(
            balance(&store, "B-401").await,
            ("0.00".into(), "paid".into())
        );
        assert!(exceptions(&store).await.is_empty(), "{b:?}");
    }
}
