//! The canonical dump of a ledger the harness compares: one line per row of what a user relies on (customers,
//! raw documents, invoices with their balances, credit notes, payments, allocations, exceptions, conflicts, SAT
//! states), every row named by its natural key (UUID, payment kind and external id) instead of database ids, in
//! sorted order, duplicates kept (a doubled row shows as two lines).

use super::support::Db;

/// (table, SQL expressions of one line, FROM and joins).
const TABLES: &[(&str, &[&str], &str)] = &[
    (
        "customer",
        &[
            "customer_key",
            "rfc",
            "name",
            "emails",
            "credit_days",
            "currency",
            "payment_reference",
        ],
        "customers",
    ),
    (
        "alias",
        &["c.customer_key", "a.kind", "a.value", "a.source"],
        "customer_aliases a JOIN customers c ON c.id = a.customer_id",
    ),
    (
        "raw",
        // A SAT package is named by the SAT's id of the request that made it; a request sent again after a
        // crash (its first answer lost) gets another id for the same documents: packages are compared by content.
        &[
            "source",
            "kind",
            "CASE WHEN kind LIKE 'sat-package%' THEN 'sat-package' ELSE external_id END",
            "sha256",
        ],
        "raw_inbox",
    ),
    ("conflict", &["kind", "external_id", "detail"], "conflicts"),
    (
        "invoice",
        &[
            "i.uuid",
            "i.serie",
            "i.folio",
            "i.issuer_rfc",
            "i.customer_rfc",
            "i.issued_on",
            "i.due_on",
            "i.currency",
            "i.total_micros",
            "i.sat_state",
            "i.cancelled_at",
            "i.superseded_by",
            "i.replaces",
            "i.disputed",
            "b.credited_micros",
            "b.paid_micros",
            "b.balance_micros",
        ],
        "invoices i JOIN invoice_balance b ON b.invoice_id = i.id",
    ),
    (
        "credit",
        &["uuid", "applies_to", "currency", "total_micros", "sat_state"],
        "credits",
    ),
    (
        "credit_application",
        &["c.uuid", "i.uuid", "a.amount_micros"],
        "credit_applications a JOIN credits c ON c.id = a.credit_id JOIN invoices i ON i.id = a.invoice_id",
    ),
    (
        "payment",
        &[
            "p.kind",
            "p.external_id",
            "p.source",
            "p.currency",
            "p.amount_micros",
            "p.booked_on",
            "p.status",
            "p.sat_state",
            "c.customer_key",
            "s.kind",
            "s.external_id",
        ],
        "payments p LEFT JOIN customers c ON c.id = p.customer_id LEFT JOIN payments s ON s.id = p.same_as_payment_id",
    ),
    (
        "allocation",
        &[
            "p.kind",
            "p.external_id",
            "i.uuid",
            "a.amount_micros",
            "a.currency",
            "a.method",
            "a.confidence_pct",
            "a.created_by",
            "a.removed_at IS NULL",
        ],
        "allocations a JOIN payments p ON p.id = a.payment_id JOIN invoices i ON i.id = a.invoice_id",
    ),
    (
        "exception",
        &["p.kind", "p.external_id", "e.reason"],
        "exceptions e JOIN payments p ON p.id = e.payment_id",
    ),
    ("sat_status", &["uuid", "state", "tipo"], "sat_status"),
];

/// The sorted lines of the ledger.
pub async fn dump(db: &Db) -> Vec<String> {
    let pool = db.pool().await;
    let mut out = Vec::new();
    for (name, columns, from) in TABLES {
        let line = columns
            .iter()
            .map(|c| format!("COALESCE(CAST({c} AS TEXT), '~')"))
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        let sql = format!("SELECT {line} AS line FROM {from}");
        let rows: Vec<String> = sqlx::query_scalar(&sql)
            .fetch_all(&pool)
            .await
            .unwrap_or_else(|e| panic!("dump of {name}: {e}"));
        out.extend(rows.into_iter().map(|r| format!("{name}|{r}")));
    }
    pool.close().await;
    out.sort();
    out
}

/// Panics with the lines one dump has and the other lacks (or has fewer times) when they differ.
pub fn assert_same(what: &str, clean: &[String], got: &[String], logs: &str) {
    if clean == got {
        return;
    }
    fn count(v: &[String]) -> std::collections::BTreeMap<&str, i64> {
        let mut m = std::collections::BTreeMap::<&str, i64>::new();
        for l in v {
            *m.entry(l.as_str()).or_default() += 1;
        }
        m
    }
    let (a, b) = (count(clean), count(got));
    let mut lost = Vec::new();
    let mut extra = Vec::new();
    for (l, n) in &a {
        let m = b.get(l).copied().unwrap_or(0);
        if m < *n {
            lost.push(format!("  {} x {l}", n - m));
        }
    }
    for (l, m) in &b {
        let n = a.get(l).copied().unwrap_or(0);
        if *m > n {
            extra.push(format!("  {} x {l}", m - n));
        }
    }
    let show = |v: &[String]| v.iter().take(30).cloned().collect::<Vec<_>>().join("\n");
    panic!(
        "{what}: the ledger differs from the clean run's ({} lines against {}).\nmissing or fewer ({}):\n{}\nextra or more ({}):\n{}\n{logs}",
        got.len(),
        clean.len(),
        lost.len(),
        show(&lost),
        extra.len(),
        show(&extra)
    );
}

/// Whether two dumps are equal (for waiting on a condition).
pub fn same(clean: &[String], got: &[String]) -> bool {
    clean == got
}
