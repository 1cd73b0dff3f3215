//! The store side of reconciliation: loads what the engine needs in a few big queries, writes its decision in one
//! transaction with batched statements, and records manual matches and unmatches (audited, teaching aliases).

use super::{get_i64, get_str, opt_str, Store, WriteTx};
use crate::reconcile::{
    self, AliasIn, CustomerIn, Decision, Input, InvoiceIn, Options, PaymentIn, Summary,
};
use anyhow::Context;
use chrono::NaiveDate;
use sqlx::Row;
use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// Rows per multi-row statement (at most 9 parameters a row: far below SQLite's and PostgreSQL's limits; SQLite
/// gets anonymous parameters, see `bulk::placeholder`).
const BATCH: usize = 100;
/// Rows per JSON text where SQLite writes a decision from `json_each`.
const JSON_ROWS: usize = 5000;
/// `removed_by` prefix of a person's unmatch: such a pair is never proposed again by the engine.
pub const MANUAL_REMOVAL: &str = "manual";

pub const EXCEPTION_COLUMNS: &[&str] = &[
    "payment_id",
    "date",
    "currency",
    "amount",
    "payer_name",
    "reason",
    "candidates",
];

/// `YYYY-MM-DD` (the stored form), read without a format string (a million of them per run).
fn date(s: &str) -> NaiveDate {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b.get(r)?.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let parsed = (b.len() == 10 && b[4] == b'-' && b[7] == b'-')
        .then(|| NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?))
        .flatten();
    parsed.unwrap_or_else(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default())
}

/// Rows read through [`Store::json_chunks`]: the key, then the listed columns.
#[derive(serde::Deserialize)]
struct InvoiceRow(
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    i64,
);

#[derive(serde::Deserialize)]
struct PaymentRow(
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

/// Keys per chunk in [`Store::json_chunks`], and chunks read at once.
const JSON_CHUNK: i64 = 4000;
const JSON_IN_FLIGHT: usize = 3;

/// What the engine hands the writer while it works: first the same-money links and payer changes (final before its
/// allocation passes), then the allocations as they are decided, in their final order.
enum Early {
    LinksAndPayers(Vec<crate::reconcile::SameMoney>, Vec<(i64, i64)>),
    Allocations(Vec<crate::reconcile::NewAllocation>),
}

/// What `cuadra match` decided, for printing.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ManualMatch {
    pub allocation_ids: Vec<i64>,
    pub aliases_learned: Vec<String>,
}

impl Store {
    /// Loads the engine's input: one streamed pass over the invoices (open balances computed here from two small
    /// aggregates, receptor names gathered on the way) and one over the payments, so that no more than one row at a
    /// time is held beside what the engine keeps.
    ///
    /// The customer master and its aliases are read first (they are small), and the engine's look-ups of them are
    /// built on a core of their own while the invoices and payments are read; they come back beside the input.
    pub async fn reconcile_input(&self) -> anyhow::Result<(Input, crate::reconcile::Customers)> {
        let pool = self.pool();
        let t = Instant::now();
        let lap = |what: &str| {
            tracing::debug!(what, ms = t.elapsed().as_millis() as u64, "reconcile load")
        };
        // The rows' vectors are sized up front from the largest ids (grown by doubling, a million invoices were
        // copied over and over into fresh memory the kernel had to clear first), within a bound.
        let room = |table: &'static str| async move {
            let max: Option<i64> =
                sqlx::query_scalar(&format!("SELECT CAST(MAX(id) AS BIGINT) FROM {table}"))
                    .fetch_one(pool)
                    .await?;
            anyhow::Ok(max.unwrap_or(0).clamp(0, 4_000_000) as usize)
        };
        let (invoice_room, payment_room) = tokio::try_join!(room("invoices"), room("payments"))?;
        let customers_part = async {
            let mut customers = Vec::new();
            self.json_chunks(
                "c.id",
                &["c.rfc", "c.name", "c.payment_reference", "c.erp_id"],
                "customers c WHERE 1 = 1",
                |r: (
                    i64,
                    Option<String>,
                    Option<String>,
                    Option<String>,
                    Option<String>,
                )| {
                    customers.push(CustomerIn {
                        id: r.0,
                        rfc: r.1,
                        name: r.2.unwrap_or_default(),
                        payment_reference: r.3,
                        erp_id: r.4,
                    })
                },
            )
            .await
            .context("loading customers")?;
            let mut aliases = Vec::new();
            self.json_chunks(
                "a.id",
                &["a.customer_id", "a.kind", "a.value", "a.source"],
                "customer_aliases a WHERE 1 = 1",
                |r: (i64, i64, String, String, String)| {
                    aliases.push(AliasIn {
                        customer_id: r.1,
                        kind: r.2,
                        value: r.3,
                        source: r.4,
                    })
                },
            )
            .await
            .context("loading customer aliases")?;
            lap("customers");
            anyhow::Ok((customers, aliases))
        };
        let (customers, aliases) = customers_part.await?;
        let master = tokio::task::spawn_blocking(move || {
            let built = crate::reconcile::Customers::from_master(&customers, &aliases);
            (built, customers, aliases)
        });
        // Two independent reads on two connections (SQLite readers run in parallel under WAL).
        let invoices_part = async {
            let mut invoices = Vec::with_capacity(invoice_room);
            // (RFC, smallest receptor name as written on its invoices), compared byte-wise on both backends.
            let mut names: rustc_hash::FxHashMap<String, String> = Default::default();
            self.json_chunks(
                "i.id",
                &[
                    "i.uuid",
                    "i.serie",
                    "i.folio",
                    "i.erp_id",
                    "i.customer_rfc",
                    "i.customer_name",
                    "i.currency",
                    "i.issued_on",
                    // The total; credits and allocations are subtracted below (summed apart: two look-ups per
                    // invoice in the scan cost more than reading both small tables once).
                    "i.total_micros",
                    "CASE WHEN i.sat_state = 'vigente' AND i.superseded_by IS NULL THEN 1 ELSE 0 END",
                ],
                "invoices i WHERE 1 = 1",
                |r: InvoiceRow| {
                    if let (Some(rfc), Some(name)) = (&r.5, r.6) {
                        match names.get_mut(rfc.as_str()) {
                            Some(n) if name < *n => *n = name,
                            Some(_) => {}
                            None => {
                                names.insert(rfc.clone(), name);
                            }
                        }
                    }
                    let open = r.9.unwrap_or(0);
                    if r.10 == 1 {
                        invoices.push(InvoiceIn {
                            id: r.0,
                            uuid: r.1,
                            serie: r.2,
                            folio: r.3,
                            erp_id: r.4,
                            customer_rfc: r.5,
                            currency: r.7.unwrap_or_default(),
                            issued_on: date(&r.8.unwrap_or_default()),
                            open,
                        });
                    }
                },
            )
            .await
            .context("loading open invoices")?;
            // Open balance: the total less vigente credit notes applied and live allocations.
            let (credited, allocated) = self.credited_and_paid().await?;
            for i in &mut invoices {
                i.open -= credited.get(&i.id).copied().unwrap_or(0)
                    + allocated.get(&i.id).copied().unwrap_or(0);
            }
            invoices.retain(|i| i.open > 0);
            let mut invoice_names: Vec<(String, String)> = names.into_iter().collect();
            invoice_names.sort_unstable();

            lap("invoices");
            anyhow::Ok((invoices, invoice_names))
        };
        let payments_part = async {
            let mut payments = Vec::with_capacity(payment_room);
            self.json_chunks(
                "p.id",
                &[
                    "p.kind",
                    "p.external_id",
                    "p.booked_on",
                    "p.currency",
                    "p.amount_micros",
                    "p.same_as_payment_id",
                    "p.payer_name",
                    "p.payer_rfc",
                    "p.payer_account",
                    "p.referencia_numerica",
                    "p.clave_rastreo",
                    "p.bank_reference",
                    "p.concepto",
                    "p.operation_number",
                    "p.customer_hint",
                    "p.remittance",
                    "COALESCE((SELECT SUM(a.amount_micros) FROM allocations a WHERE a.payment_id = p.id \
                     AND a.removed_at IS NULL), 0)",
                    "(SELECT COUNT(*) FROM allocations a WHERE a.payment_id = p.id AND a.removed_at IS NULL \
                     AND a.created_by = 'manual')",
                    "p.customer_id",
                ],
                "payments p WHERE p.amount_micros > 0 AND p.sat_state = 'vigente'",
                |r: PaymentRow| {
                    let remittance = r.16.unwrap_or_default();
                    payments.push(PaymentIn {
                        id: r.0,
                        kind: r.1.unwrap_or_default(),
                        external_id: r.2.unwrap_or_default(),
                        booked_on: date(&r.3.unwrap_or_default()),
                        currency: r.4.unwrap_or_default(),
                        amount: r.5.unwrap_or(0),
                        same_as: r.6,
                        payer_name: r.7,
                        payer_rfc: r.8,
                        payer_account: r.9,
                        referencia: r.10,
                        clave_rastreo: r.11,
                        bank_reference: r.12,
                        concepto: r.13,
                        operation_number: r.14,
                        customer_hint: r.15,
                        remittance: if remittance == "[]" || remittance.is_empty() {
                            vec![]
                        } else {
                            serde_json::from_str(&remittance).unwrap_or_default()
                        },
                        allocated: r.17.unwrap_or(0),
                        manual: r.18.unwrap_or(0) > 0,
                        customer_id: r.19,
                    });
                },
            )
            .await
            .context("loading payments")?;
            let rejected = sqlx::query(
                "SELECT payment_id, invoice_id FROM allocations WHERE removed_at IS NOT NULL AND removed_by LIKE 'manual%'",
            )
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| (get_i64(r, "payment_id"), get_i64(r, "invoice_id")))
            .collect();
            lap("payments");
            anyhow::Ok((payments, rejected))
        };
        // Once the payments are read, their payers are identified from the master on the cores the reading
        // leaves, until the invoices are read too (the engine keeps what the invoices cannot change).
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let invoices_part = async {
            let read = invoices_part.await;
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            read
        };
        let payers_part = async {
            let (payments, rejected) = payments_part.await?;
            let (mut master, customers, aliases) = master
                .await
                .context("building the customers' look-ups panicked")?;
            lap("customers' look-ups");
            let stop = stop.clone();
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
            let (master, payments) = tokio::task::spawn_blocking(move || {
                master.identify_early(&payments, threads, &stop);
                (master, payments)
            })
            .await
            .context("identifying payers panicked")?;
            lap("payers identified from the master");
            anyhow::Ok((payments, rejected, master, customers, aliases))
        };
        let (inv, pay) = tokio::join!(invoices_part, payers_part);
        let ((invoices, invoice_names), (payments, rejected, master, customers, aliases)) =
            (inv?, pay?);
        Ok((
            Input {
                invoices,
                customers,
                aliases,
                payments,
                invoice_names,
                rejected,
            },
            master,
        ))
    }

    /// Per invoice: what vigente credit notes applied, and what live allocations paid.
    pub(super) async fn credited_and_paid(
        &self,
    ) -> anyhow::Result<(
        rustc_hash::FxHashMap<i64, i64>,
        rustc_hash::FxHashMap<i64, i64>,
    )> {
        tokio::try_join!(
            self.sums_by_invoice(
                "SELECT ca.invoice_id, CAST(SUM(ca.amount_micros) AS BIGINT) FROM credit_applications ca \
                 JOIN credits cr ON cr.id = ca.credit_id WHERE cr.sat_state = 'vigente' GROUP BY ca.invoice_id"
            ),
            self.sums_by_invoice(
                "SELECT invoice_id, CAST(SUM(amount_micros) AS BIGINT) FROM allocations WHERE removed_at IS NULL \
                 GROUP BY invoice_id"
            ),
        )
    }

    /// `SELECT invoice_id, SUM(..) .. GROUP BY invoice_id` as a map, read as one JSON text.
    async fn sums_by_invoice(
        &self,
        select: &str,
    ) -> anyhow::Result<rustc_hash::FxHashMap<i64, i64>> {
        let sql = super::bulk::json_wrap(self.backend(), select, 2);
        let text: String = sqlx::query_scalar(&sql).fetch_one(self.pool()).await?;
        let pairs: Vec<(i64, i64)> = serde_json::from_str(&text).context("reading sums")?;
        Ok(pairs.into_iter().collect())
    }

    /// Reads `SELECT key, columns FROM table alias WHERE condition` in key order, in ranges of a few thousand keys,
    /// each range aggregated by the database into one JSON text: a million rows cross the driver as a few hundred
    /// messages instead of a million (each of which wakes a thread). Ranges are independent, so a few are read
    /// and parsed at once (the database produces the next while this side parses the last); `each` still sees
    /// the rows in key order. `key` is the table's integer primary key as `alias.column`.
    pub(super) async fn json_chunks<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        key: &str,
        columns: &[&str],
        from_where: &str,
        mut each: impl FnMut(T),
    ) -> anyhow::Result<()> {
        let names: Vec<String> = (0..=columns.len()).map(|i| format!("c{i}")).collect();
        let mut inner = format!("SELECT {key} AS c0");
        for (i, c) in columns.iter().enumerate() {
            inner.push_str(&format!(", {c} AS c{}", i + 1));
        }
        let backend = self.backend();
        let p = |n| super::bulk::placeholder(backend, n);
        inner.push_str(&format!(
            " FROM {from_where} AND {key} > {} AND {key} <= {}",
            p(1),
            p(2)
        ));
        let list = names.join(", ");
        let sql = match backend {
            super::Backend::Sqlite => format!(
                "SELECT json_group_array(json_array({list})) FROM ({inner} ORDER BY c0) t"
            ),
            super::Backend::Postgres => format!(
                "SELECT CAST(COALESCE(json_agg(json_build_array({list}) ORDER BY c0), '[]') AS TEXT) FROM ({inner}) t"
            ),
        };
        // The key range: `from_where` is `table alias WHERE ...`.
        let table = from_where.split_whitespace().next().unwrap_or_default();
        let column = key.rsplit('.').next().unwrap_or(key);
        let (lo, hi): (Option<i64>, Option<i64>) =
            sqlx::query_as(&format!("SELECT MIN({column}), MAX({column}) FROM {table}"))
                .fetch_one(self.pool())
                .await?;
        let (Some(lo), Some(hi)) = (lo, hi) else {
            return Ok(());
        };
        let sql = std::sync::Arc::new(sql);
        let mut pending = std::collections::VecDeque::new();
        let mut from = lo - 1;
        loop {
            while from < hi && pending.len() < JSON_IN_FLIGHT {
                let to = from.saturating_add(JSON_CHUNK).min(hi);
                let (pool, sql) = (self.pool().clone(), sql.clone());
                pending.push_back(tokio::spawn(async move {
                    let text: String = sqlx::query_scalar(&sql)
                        .bind(from)
                        .bind(to)
                        .fetch_one(&pool)
                        .await?;
                    let rows: Vec<T> =
                        serde_json::from_str(&text).context("reading a chunk of rows")?;
                    anyhow::Ok(rows)
                }));
                from = to;
            }
            let Some(next) = pending.pop_front() else {
                return Ok(());
            };
            next.await
                .context("a chunk reader panicked")??
                .into_iter()
                .for_each(&mut each);
        }
    }

    /// Runs the engine over everything undecided and writes its decision (unless `dry_run`).
    ///
    /// The write transaction begins as soon as the engine knows payers and same-money links, and writes them
    /// while the engine's allocation passes run (one core each); allocations and exceptions follow, and all of
    /// it commits at once.
    ///
    /// Runs that write are serialized across tasks, processes and instances by the lease `reconcile` (a run waits
    /// for the one before it): two runs that read the same ledger would both decide, and both write, the same
    /// allocations.
    pub async fn reconcile(&self, options: &Options, dry_run: bool) -> anyhow::Result<Summary> {
        if dry_run {
            return self.reconcile_held(options, true).await;
        }
        let holder = format!("{}-{}", std::process::id(), uuid::Uuid::now_v7().simple());
        let held = self.wait_for_lease("reconcile", &holder).await?;
        let run = self.reconcile_held(options, false).await;
        held.release().await;
        run
    }

    async fn reconcile_held(&self, options: &Options, dry_run: bool) -> anyhow::Result<Summary> {
        let t0 = Instant::now();
        let (input, master) = self.reconcile_input().await?;
        let load_ms = t0.elapsed().as_millis();
        let t1 = Instant::now();
        let options = options.clone();
        // In a dry run nobody receives: what is sent is dropped.
        let (early_tx, early_rx) = tokio::sync::mpsc::unbounded_channel::<Early>();
        let engine = tokio::task::spawn_blocking(move || {
            let counts = (input.invoices.len(), input.payments.len());
            let (mut links_sent, mut allocations_sent) = (false, 0usize);
            let decision = reconcile::decide_early(&input, &options, Some(master), &mut |d| {
                if !links_sent {
                    links_sent = true;
                    let _ =
                        early_tx.send(Early::LinksAndPayers(d.links.clone(), d.customers.clone()));
                }
                if d.allocations.len() > allocations_sent {
                    let _ = early_tx.send(Early::Allocations(
                        d.allocations[allocations_sent..].to_vec(),
                    ));
                    allocations_sent = d.allocations.len();
                }
            });
            (counts, decision)
        });
        let decided = async move {
            let (input_counts, decision) =
                engine.await.context("the reconciliation engine panicked")?;
            let mut s = Summary {
                invoices_open: input_counts.0,
                payments_examined: input_counts.1,
                allocations: decision.allocations.len(),
                payments_allocated: decision
                    .allocations
                    .iter()
                    .map(|a| a.payment_id)
                    .collect::<HashSet<_>>()
                    .len(),
                same_money_links: decision.links.len(),
                exceptions: decision.exceptions.len(),
                dry_run,
                load_ms,
                decide_ms: t1.elapsed().as_millis(),
                ..Summary::default()
            };
            for a in &decision.allocations {
                *s.by_method.entry(a.method.to_string()).or_default() += 1;
            }
            anyhow::Ok((decision, s))
        };
        let s = if dry_run {
            decided.await?.1
        } else {
            let mut s = self.write_decision(early_rx, decided).await?;
            s.write_ms = t1.elapsed().as_millis().saturating_sub(s.decide_ms);
            s
        };
        tracing::debug!(
            load_ms = s.load_ms as u64,
            decide_ms = s.decide_ms as u64,
            write_ms = s.write_ms as u64,
            "reconcile phases"
        );
        Ok(s)
    }

    /// Writes a decision in one transaction: what comes through `early` (links and payer changes, then allocations)
    /// as it comes, the rest when `decided` resolves. Returns the run's summary, with the allocations replaced.
    async fn write_decision(
        &self,
        early: tokio::sync::mpsc::UnboundedReceiver<Early>,
        decided: impl std::future::Future<Output = anyhow::Result<(Decision, Summary)>>,
    ) -> anyhow::Result<Summary> {
        if self.backend() != super::Backend::Sqlite {
            let tx = self.begin_write().await?;
            return self.write_run(tx, early, decided).await;
        }
        // SQLite checks each new allocation's and exception's parent rows (payment, invoice) one b-tree descent
        // at a time, from a cold page cache: about half of writing 180,000 allocations. Every id written comes
        // from rows this run read, and invoices and payments are never deleted, so the checks are switched off
        // for this one transaction, on a connection of its own, and back on before the connection is returned.
        let guard = self.write_lock.lock().await;
        let mut conn = self.writer().acquire().await?;
        sqlx::query("PRAGMA foreign_keys = OFF")
            .execute(&mut *conn)
            .await?;
        let res = async {
            let tx = WriteTx {
                tx: sqlx::Connection::begin(&mut *conn)
                    .await
                    .context("starting a transaction")?,
                _guard: None,
                uuidless_invoices: None,
                dict_ids: Default::default(),
            };
            self.write_run(tx, early, decided).await
        }
        .await;
        if sqlx::query("PRAGMA foreign_keys = ON")
            .execute(&mut *conn)
            .await
            .is_err()
        {
            // Never back in the pool without its checks.
            conn.detach();
        }
        drop(guard);
        res
    }

    async fn write_run(
        &self,
        mut tx: WriteTx<'_>,
        mut early: tokio::sync::mpsc::UnboundedReceiver<Early>,
        decided: impl std::future::Future<Output = anyhow::Result<(Decision, Summary)>>,
    ) -> anyhow::Result<Summary> {
        let now = self.now_text();
        let (mut replaced, mut written) = (0, 0);
        // The channel closes when the engine is done (or stopped; `decided` then says why).
        while let Some(part) = early.recv().await {
            match part {
                Early::LinksAndPayers(links, customers) => {
                    replaced = self.write_early(&mut tx, &links, &customers).await?;
                }
                Early::Allocations(a) => {
                    self.write_allocations(&mut tx, &a, &now).await?;
                    written += a.len();
                }
            }
        }
        let (d, mut s) = decided.await?;
        s.allocations_replaced = replaced;
        // What the engine decided after its last hand-over (nothing, as it hands over the end too).
        let rest = d.allocations.get(written..).unwrap_or_default();
        self.write_allocations(&mut tx, rest, &now).await?;
        tracing::debug!(
            written_during_passes = written,
            after = rest.len(),
            "reconcile allocations"
        );
        self.write_rest(tx, &d, &s, &now).await?;
        Ok(s)
    }

    /// The part of a decision final before the allocation passes: same-money links (and the removal of the
    /// engine's earlier allocations of those credits) and payer changes. Returns the allocations removed.
    async fn write_early(
        &self,
        tx: &mut WriteTx<'_>,
        links: &[crate::reconcile::SameMoney],
        customers: &[(i64, i64)],
    ) -> anyhow::Result<usize> {
        let now = self.now_text();
        let t = Instant::now();
        let lap = |what: &str| {
            tracing::debug!(what, ms = t.elapsed().as_millis() as u64, "reconcile write")
        };
        let backend = self.backend();
        if backend == super::Backend::Sqlite {
            // A run over a large ledger dirties more pages than the default cache holds; spilling them to the WAL
            // mid-transaction costs more than the memory (set back before the connection returns to the pool).
            sqlx::query("PRAGMA cache_size = -131072")
                .execute(&mut *tx.tx)
                .await?;
        }
        let ph = |n: usize| super::bulk::placeholder(backend, n);
        // `CASE col WHEN .. THEN .. END` over `rows` pairs, then `col IN (..)`: parameters numbered from `first`.
        let case_in = |col: &str, rows: usize, first: usize| -> (String, String) {
            let mut case = format!("CASE {col}");
            for i in 0..rows {
                case.push_str(&format!(
                    " WHEN {} THEN {}",
                    ph(first + 2 * i),
                    ph(first + 2 * i + 1)
                ));
            }
            case.push_str(" END");
            let list = super::bulk::placeholders(backend, first + 2 * rows, rows);
            (case, format!("{col} IN ({list})"))
        };
        let mut replaced = 0usize;
        // Same money: the link is set where still unset; the engine's earlier allocations of those credits are
        // removed; one audit entry each.
        let mut links: Vec<&crate::reconcile::SameMoney> = links.iter().collect();
        links.sort_by_key(|l| l.payment_id);
        if backend == super::Backend::Sqlite {
            // On SQLite the rows travel as JSON (three statements per few thousand links instead of per hundred).
            // The write lock is held, so the links still unset when read are the ones the update sets.
            for chunk in links.chunks(JSON_ROWS) {
                let ids: Vec<i64> = chunk.iter().map(|l| l.payment_id).collect();
                let unset: String = sqlx::query_scalar(
                    "SELECT json_group_array(id) FROM payments WHERE same_as_payment_id IS NULL \
                     AND id IN (SELECT j.value FROM json_each(?) AS j)",
                )
                .bind(serde_json::to_string(&ids)?)
                .fetch_one(&mut *tx.tx)
                .await?;
                let unset: HashSet<i64> = serde_json::from_str::<Vec<i64>>(&unset)?
                    .into_iter()
                    .collect();
                let done: Vec<(i64, i64, String, String)> = chunk
                    .iter()
                    .filter(|l| unset.contains(&l.payment_id))
                    .map(|l| {
                        (
                            l.payment_id,
                            l.same_as,
                            format!("reconcile: same money as payment {}", l.same_as),
                            serde_json::json!({"same_as": l.same_as, "explanation": l.explanation})
                                .to_string(),
                        )
                    })
                    .collect();
                if done.is_empty() {
                    continue;
                }
                let rows = serde_json::to_string(&done)?;
                sqlx::query(
                    "UPDATE payments SET same_as_payment_id = j.value ->> 1 FROM json_each(?) AS j \
                     WHERE payments.id = j.value ->> 0 AND payments.same_as_payment_id IS NULL",
                )
                .bind(rows.clone())
                .execute(&mut *tx.tx)
                .await?;
                replaced += sqlx::query(
                    "UPDATE allocations SET removed_at = ?, removed_by = j.value ->> 2 FROM json_each(?) AS j \
                     WHERE allocations.payment_id = j.value ->> 0 AND allocations.removed_at IS NULL \
                     AND allocations.created_by = 'reconcile'",
                )
                .bind(now.clone())
                .bind(rows.clone())
                .execute(&mut *tx.tx)
                .await?
                .rows_affected() as usize;
                sqlx::query(
                    "INSERT INTO audit_log (at, actor, action, entity, entity_id, detail) \
                     SELECT ?, 'reconcile', 'same_money', 'payment', CAST(j.value ->> 0 AS TEXT), j.value ->> 3 \
                     FROM json_each(?) AS j ORDER BY j.key",
                )
                .bind(now.clone())
                .bind(rows)
                .execute(&mut *tx.tx)
                .await?;
            }
        } else {
            for chunk in links.chunks(BATCH) {
                let (case, cond) = case_in("id", chunk.len(), 1);
                let sql = format!(
                    "UPDATE payments SET same_as_payment_id = {case} WHERE same_as_payment_id IS NULL AND {cond} RETURNING id"
                );
                let mut q = sqlx::query(&sql);
                for l in chunk {
                    q = q.bind(l.payment_id).bind(l.same_as);
                }
                for l in chunk {
                    q = q.bind(l.payment_id);
                }
                let set: HashSet<i64> = q
                    .fetch_all(&mut *tx.tx)
                    .await?
                    .iter()
                    .map(|r| r.try_get::<i64, _>(0))
                    .collect::<Result<_, _>>()?;
                let done: Vec<&&crate::reconcile::SameMoney> = chunk
                    .iter()
                    .filter(|l| set.contains(&l.payment_id))
                    .collect();
                if done.is_empty() {
                    continue;
                }
                let (case, cond) = case_in("payment_id", done.len(), 2);
                let sql = format!(
                    "UPDATE allocations SET removed_at = {}, removed_by = {case} \
                     WHERE removed_at IS NULL AND created_by = 'reconcile' AND {cond}",
                    ph(1)
                );
                let mut q = sqlx::query(&sql).bind(now.clone());
                for l in &done {
                    q = q
                        .bind(l.payment_id)
                        .bind(format!("reconcile: same money as payment {}", l.same_as));
                }
                for l in &done {
                    q = q.bind(l.payment_id);
                }
                replaced += q.execute(&mut *tx.tx).await?.rows_affected() as usize;
                let sql = super::bulk::insert_sql(
                    backend,
                    "audit_log",
                    "at, actor, action, entity, entity_id, detail",
                    done.len(),
                );
                let mut q = sqlx::query(&sql);
                for l in &done {
                    q = q
                        .bind(now.clone())
                        .bind("reconcile")
                        .bind("same_money")
                        .bind("payment")
                        .bind(l.payment_id.to_string())
                        .bind(
                            serde_json::json!({"same_as": l.same_as, "explanation": l.explanation})
                                .to_string(),
                        );
                }
                q.execute(&mut *tx.tx).await?;
            }
        }
        lap("same money");
        // Payer identified: batched updates of payments.customer_id where it changes. On SQLite the rows travel
        // as one JSON text per few thousand (one bound value instead of three per row, and a join on the key
        // instead of a `CASE` searched row by row).
        // In key order: each row's page is visited once, in file order.
        let mut payers = customers.to_vec();
        payers.sort_unstable();
        if backend == super::Backend::Sqlite {
            for chunk in payers.chunks(JSON_ROWS) {
                sqlx::query(
                    "UPDATE payments SET customer_id = j.value ->> 1 FROM json_each(?) AS j \
                     WHERE payments.id = j.value ->> 0",
                )
                .bind(serde_json::to_string(chunk)?)
                .execute(&mut *tx.tx)
                .await?;
            }
        } else {
            for chunk in payers.chunks(BATCH) {
                let (case, cond) = case_in("id", chunk.len(), 1);
                let sql = format!("UPDATE payments SET customer_id = {case} WHERE {cond}");
                let mut q = sqlx::query(&sql);
                for (p, c) in chunk {
                    q = q.bind(*p).bind(*c);
                }
                for (p, _) in chunk {
                    q = q.bind(*p);
                }
                q.execute(&mut *tx.tx).await?;
            }
        }
        lap("customers");
        Ok(replaced)
    }

    /// The rest of a decision: allocations, exceptions, the run's audit entry; then the commit.
    /// Inserts allocations the engine decided (in their order: ids follow it).
    async fn write_allocations(
        &self,
        tx: &mut WriteTx<'_>,
        allocations: &[crate::reconcile::NewAllocation],
        now: &str,
    ) -> anyhow::Result<()> {
        if allocations.is_empty() {
            return Ok(());
        }
        let backend = self.backend();
        const ALLOCATION_COLUMNS: &str =
            "payment_id, invoice_id, amount_micros, currency, method, confidence_pct, \
             explanation, created_by, created_at";
        if backend == super::Backend::Sqlite {
            let json_of = |chunk: &[crate::reconcile::NewAllocation]| {
                let rows: Vec<_> = chunk
                    .iter()
                    .map(|a| {
                        (
                            a.payment_id,
                            a.invoice_id,
                            a.amount,
                            &a.currency,
                            a.method,
                            a.confidence,
                            &a.explanation,
                        )
                    })
                    .collect();
                serde_json::to_string(&rows)
            };
            let sql = format!(
                "INSERT INTO allocations ({ALLOCATION_COLUMNS}) \
                 SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4, \
                 j.value ->> 5, j.value ->> 6, 'reconcile', ? FROM json_each(?) AS j ORDER BY j.key"
            );
            // Each chunk's JSON is built while SQLite inserts the one before (the statement goes to the
            // connection's thread on the first poll; the next chunk is serialized on this one meanwhile).
            let mut chunks = allocations.chunks(JSON_ROWS);
            let mut next = chunks.next().map(json_of).transpose()?;
            while let Some(json) = next.take() {
                let insert = sqlx::query(&sql)
                    .bind(now.to_string())
                    .bind(json)
                    .execute(&mut *tx.tx);
                let (done, following) =
                    tokio::join!(insert, async { chunks.next().map(json_of).transpose() });
                done.context("writing allocations")?;
                next = following?;
            }
        } else {
            for chunk in allocations.chunks(BATCH) {
                let sql = super::bulk::insert_sql(
                    backend,
                    "allocations",
                    ALLOCATION_COLUMNS,
                    chunk.len(),
                );
                let mut q = sqlx::query(&sql);
                for a in chunk {
                    q = q
                        .bind(a.payment_id)
                        .bind(a.invoice_id)
                        .bind(a.amount)
                        .bind(a.currency.clone())
                        .bind(a.method)
                        .bind(i64::from(a.confidence))
                        .bind(a.explanation.clone())
                        .bind("reconcile")
                        .bind(now.to_string());
                }
                q.execute(&mut *tx.tx)
                    .await
                    .context("writing allocations")?;
            }
        }
        Ok(())
    }

    async fn write_rest(
        &self,
        mut tx: WriteTx<'_>,
        d: &Decision,
        summary: &Summary,
        now: &str,
    ) -> anyhow::Result<()> {
        let existing: HashMap<i64, (String, String)> =
            sqlx::query("SELECT payment_id, reason, candidates FROM exceptions")
                .fetch_all(self.pool())
                .await?
                .iter()
                .map(|r| {
                    (
                        get_i64(r, "payment_id"),
                        (get_str(r, "reason"), get_str(r, "candidates")),
                    )
                })
                .collect();
        let t = Instant::now();
        let lap = |what: &str| {
            tracing::debug!(what, ms = t.elapsed().as_millis() as u64, "reconcile write")
        };
        let backend = self.backend();
        let now = now.to_string();
        // Exceptions: drop the ones now decided, write the new or changed ones.
        let wanted: HashMap<i64, (String, String)> = d
            .exceptions
            .iter()
            .map(|e| (e.payment_id, (e.reason.clone(), e.candidates.to_string())))
            .collect();
        let mut gone: Vec<i64> = existing
            .keys()
            .copied()
            .filter(|k| !wanted.contains_key(k))
            .collect();
        gone.sort_unstable();
        for chunk in gone.chunks(BATCH * 3) {
            let sql = format!(
                "DELETE FROM exceptions WHERE payment_id IN ({})",
                super::bulk::placeholders(backend, 1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            q.execute(&mut *tx.tx).await?;
        }
        let mut upserts: Vec<(&i64, &(String, String))> = wanted
            .iter()
            .filter(|(k, v)| existing.get(*k) != Some(*v))
            .collect();
        upserts.sort_by_key(|(k, _)| **k);
        for chunk in upserts.chunks(BATCH) {
            let mut sql = super::bulk::insert_sql(
                backend,
                "exceptions",
                "payment_id, reason, candidates, updated_at",
                chunk.len(),
            );
            sql.push_str(
                " ON CONFLICT (payment_id) DO UPDATE SET reason = excluded.reason, candidates = excluded.candidates, \
                 updated_at = excluded.updated_at",
            );
            let mut q = sqlx::query(&sql);
            for (id, (reason, cands)) in chunk {
                q = q
                    .bind(**id)
                    .bind(reason.clone())
                    .bind(cands.clone())
                    .bind(now.clone());
            }
            q.execute(&mut *tx.tx).await?;
        }
        if !d.allocations.is_empty()
            || !d.links.is_empty()
            || !gone.is_empty()
            || !upserts.is_empty()
        {
            self.audit(
                &mut tx,
                "reconcile",
                "reconcile",
                "ledger",
                "",
                serde_json::json!({
                    "allocations": d.allocations.len(),
                    "by_method": summary.by_method,
                    "same_money_links": d.links.len(),
                    "allocations_replaced": summary.allocations_replaced,
                    "exceptions": d.exceptions.len(),
                }),
            )
            .await?;
        }
        lap("exceptions");
        if backend == super::Backend::Sqlite {
            // Back to the pool's size (dirty pages stay until the commit writes them).
            sqlx::query(super::SQLITE_CACHE_PRAGMA)
                .execute(&mut *tx.tx)
                .await?;
        }
        tx.tx
            .commit()
            .await
            .context("committing the reconciliation")?;
        lap("committed");
        Ok(())
    }

    /// The exceptions report: payments the engine could not decide, with reason and ranked candidates.
    pub async fn report_exceptions(&self) -> anyhow::Result<super::Table> {
        let rows = sqlx::query(
            "SELECT e.payment_id, p.booked_on, p.currency, p.amount_micros, p.payer_name, e.reason, e.candidates \
             FROM exceptions e JOIN payments p ON p.id = e.payment_id ORDER BY p.booked_on, e.payment_id",
        )
        .fetch_all(self.pool())
        .await?;
        let rows = rows
            .iter()
            .map(|r| {
                let cur = get_str(r, "currency");
                vec![
                    get_i64(r, "payment_id").to_string(),
                    get_str(r, "booked_on"),
                    cur.clone(),
                    super::money(get_i64(r, "amount_micros"), &cur),
                    get_str(r, "payer_name"),
                    get_str(r, "reason"),
                    get_str(r, "candidates"),
                ]
            })
            .collect();
        Ok(super::Table {
            columns: EXCEPTION_COLUMNS.to_vec(),
            rows,
        })
    }

    /// Finds an invoice by UUID, `SERIE-FOLIO` or folio (unique).
    pub async fn find_invoice_ref(&self, r: &str) -> anyhow::Result<Option<i64>> {
        let r = r.trim();
        if let Some(row) = sqlx::query("SELECT id FROM invoices WHERE uuid = $1")
            .bind(r.to_lowercase())
            .fetch_optional(self.pool())
            .await?
        {
            return Ok(Some(row.try_get(0)?));
        }
        let rows = sqlx::query(
            "SELECT id FROM invoices WHERE (COALESCE(serie, '') || '-' || COALESCE(folio, '')) = $1 \
             OR (COALESCE(serie, '') || COALESCE(folio, '')) = $1 OR (folio = $1 AND COALESCE(serie, '') = '')",
        )
        .bind(r.to_uppercase())
        .fetch_all(self.pool())
        .await?;
        if rows.len() == 1 {
            return Ok(Some(rows[0].try_get(0)?));
        }
        if rows.len() > 1 {
            anyhow::bail!(
                "invoice {r} is ambiguous ({} invoices); give its UUID",
                rows.len()
            );
        }
        let rows = sqlx::query("SELECT id FROM invoices WHERE folio = $1")
            .bind(r)
            .fetch_all(self.pool())
            .await?;
        match rows.len() {
            0 => Ok(None),
            1 => Ok(Some(rows[0].try_get(0)?)),
            n => anyhow::bail!(
                "invoice {r} is ambiguous ({n} invoices); give its UUID or SERIE-FOLIO"
            ),
        }
    }

    /// A person's decision: `payment` pays these invoices (amount `None` = as much as both allow). Teaches the
    /// engine the payer's account and name when they were not known for the invoice's customer.
    pub async fn manual_match(
        &self,
        payment_id: i64,
        lines: &[(i64, Option<i64>)],
        actor: &str,
    ) -> anyhow::Result<ManualMatch> {
        let mut tx = self.begin_write().await?;
        let p = sqlx::query(
            "SELECT p.currency, p.amount_micros, p.payer_name, p.payer_account, p.sat_state, \
             CAST(COALESCE((SELECT SUM(a.amount_micros) FROM allocations a WHERE a.payment_id = p.id \
               AND a.removed_at IS NULL), 0) AS BIGINT) AS allocated FROM payments p WHERE p.id = $1",
        )
        .bind(payment_id)
        .fetch_optional(&mut *tx.tx)
        .await?
        .ok_or_else(|| anyhow::anyhow!("payment {payment_id}: no such payment"))?;
        let currency = get_str(&p, "currency");
        let amount = get_i64(&p, "amount_micros");
        anyhow::ensure!(amount > 0, "payment {payment_id} is not money received");
        let mut left = amount - get_i64(&p, "allocated");
        let now = self.now_text();
        let mut out = ManualMatch {
            allocation_ids: vec![],
            aliases_learned: vec![],
        };
        let mut customers: Vec<String> = Vec::new();
        for (invoice_id, want) in lines {
            let inv = sqlx::query(
                "SELECT i.uuid, i.currency, i.customer_rfc, i.customer_name, i.sat_state, i.superseded_by, \
                 CAST(i.total_micros - COALESCE((SELECT SUM(ca.amount_micros) FROM credit_applications ca \
                   JOIN credits cr ON cr.id = ca.credit_id WHERE ca.invoice_id = i.id AND cr.sat_state = 'vigente'), 0) \
                   - COALESCE((SELECT SUM(a.amount_micros) FROM allocations a WHERE a.invoice_id = i.id \
                   AND a.removed_at IS NULL), 0) AS BIGINT) AS open_micros FROM invoices i WHERE i.id = $1",
            )
            .bind(*invoice_id)
            .fetch_optional(&mut *tx.tx)
            .await?
            .ok_or_else(|| anyhow::anyhow!("invoice {invoice_id}: no such invoice"))?;
            let label = opt_str(&inv, "uuid").unwrap_or_else(|| invoice_id.to_string());
            let inv_cur = get_str(&inv, "currency");
            anyhow::ensure!(
                inv_cur == currency,
                "invoice {label} is in {inv_cur}, payment {payment_id} in {currency}"
            );
            anyhow::ensure!(
                get_str(&inv, "sat_state") != "cancelado"
                    && opt_str(&inv, "superseded_by").is_none(),
                "invoice {label} is cancelled"
            );
            let open = get_i64(&inv, "open_micros");
            let amt = want.unwrap_or_else(|| open.min(left));
            anyhow::ensure!(
                amt > 0,
                "nothing left to apply to invoice {label} (balance {}, payment unallocated {})",
                super::money(open, &currency),
                super::money(left, &currency)
            );
            anyhow::ensure!(
                amt <= left,
                "payment {payment_id} has only {} unallocated, {} asked",
                super::money(left, &currency),
                super::money(amt, &currency)
            );
            anyhow::ensure!(
                amt <= open,
                "invoice {label} owes {}, {} asked",
                super::money(open, &currency),
                super::money(amt, &currency)
            );
            left -= amt;
            let id: i64 = sqlx::query(
                "INSERT INTO allocations (payment_id, invoice_id, amount_micros, currency, method, confidence_pct, \
                 explanation, created_by, created_at) VALUES ($1, $2, $3, $4, 'manual', 100, $5, 'manual', $6) RETURNING id",
            )
            .bind(payment_id)
            .bind(*invoice_id)
            .bind(amt)
            .bind(&currency)
            .bind(format!("matched by {actor}"))
            .bind(&now)
            .fetch_one(&mut *tx.tx)
            .await?
            .try_get(0)?;
            self.audit(
                &mut tx,
                actor,
                "match",
                "allocation",
                &id.to_string(),
                serde_json::json!({"payment_id": payment_id, "invoice": label, "amount": super::money(amt, &currency)}),
            )
            .await?;
            out.allocation_ids.push(id);
            if let Some(rfc) = opt_str(&inv, "customer_rfc") {
                if !customers.contains(&rfc) {
                    customers.push(rfc.clone());
                }
            }
        }
        sqlx::query("DELETE FROM exceptions WHERE payment_id = $1")
            .bind(payment_id)
            .execute(&mut *tx.tx)
            .await?;
        // Learning: only when the invoices belong to one customer.
        if let [rfc] = customers.as_slice() {
            let cid = self.customer_for_rfc(&mut tx, rfc, payment_id).await?;
            let mut learn: Vec<(&str, String)> = Vec::new();
            if let Some(acct) = opt_str(&p, "payer_account").map(|a| super::normalize_account(&a)) {
                if !acct.is_empty() {
                    learn.push(("account", acct));
                }
            }
            if let Some(name) = opt_str(&p, "payer_name").filter(|n| !n.trim().is_empty()) {
                learn.push(("name", name.trim().to_string()));
            }
            for (kind, value) in learn {
                let n = sqlx::query(
                    "INSERT INTO customer_aliases (customer_id, kind, value, source, created_at) \
                     VALUES ($1, $2, $3, 'manual', $4) ON CONFLICT (kind, value, customer_id) DO NOTHING",
                )
                .bind(cid)
                .bind(kind)
                .bind(&value)
                .bind(&now)
                .execute(&mut *tx.tx)
                .await?
                .rows_affected();
                if n > 0 {
                    self.audit(
                        &mut tx,
                        actor,
                        "learn_alias",
                        "customer",
                        rfc,
                        serde_json::json!({"kind": kind, "value": value, "from_payment": payment_id}),
                    )
                    .await?;
                    out.aliases_learned.push(format!("{kind} {value} → {rfc}"));
                }
            }
            sqlx::query("UPDATE payments SET customer_id = $1 WHERE id = $2")
                .bind(cid)
                .bind(payment_id)
                .execute(&mut *tx.tx)
                .await?;
        }
        tx.tx.commit().await?;
        Ok(out)
    }

    /// The master's customer for an RFC; creates a minimal one (named as on its invoices) when the master lacks
    /// it, so a learned alias has a customer to belong to. A later customer import completes it.
    async fn customer_for_rfc(
        &self,
        tx: &mut WriteTx<'_>,
        rfc: &str,
        payment_id: i64,
    ) -> anyhow::Result<i64> {
        if let Some(r) = sqlx::query("SELECT id FROM customers WHERE rfc = $1 ORDER BY id LIMIT 1")
            .bind(rfc)
            .fetch_optional(&mut *tx.tx)
            .await?
        {
            return Ok(r.try_get(0)?);
        }
        let name: String = sqlx::query(
            "SELECT COALESCE(MIN(customer_name), $1) FROM invoices WHERE customer_rfc = $1",
        )
        .bind(rfc)
        .fetch_one(&mut *tx.tx)
        .await?
        .try_get(0)?;
        let now = self.now_text();
        let id: i64 = sqlx::query(
            "INSERT INTO customers (customer_key, rfc, name, content_hash, created_at, updated_at) \
             VALUES ($1, $1, $2, '', $3, $3) RETURNING id",
        )
        .bind(rfc)
        .bind(&name)
        .bind(&now)
        .fetch_one(&mut *tx.tx)
        .await?
        .try_get(0)?;
        self.audit(
            tx,
            "reconcile",
            "create",
            "customer",
            rfc,
            serde_json::json!({"name": name, "reason": format!("manual match of payment {payment_id}")}),
        )
        .await?;
        Ok(id)
    }

    /// A person removes an allocation: balances are restored and the engine never proposes the pair again.
    pub async fn unmatch(&self, allocation_id: i64, actor: &str) -> anyhow::Result<()> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT payment_id, invoice_id, amount_micros, currency, method, removed_at FROM allocations WHERE id = $1",
        )
        .bind(allocation_id)
        .fetch_optional(&mut *tx.tx)
        .await?
        .ok_or_else(|| anyhow::anyhow!("allocation {allocation_id}: no such allocation"))?;
        anyhow::ensure!(
            opt_str(&row, "removed_at").is_none(),
            "allocation {allocation_id} was already removed"
        );
        sqlx::query("UPDATE allocations SET removed_at = $1, removed_by = $2 WHERE id = $3")
            .bind(self.now_text())
            .bind(format!("{MANUAL_REMOVAL}: {actor}"))
            .bind(allocation_id)
            .execute(&mut *tx.tx)
            .await?;
        let cur = get_str(&row, "currency");
        self.audit(
            &mut tx,
            actor,
            "unmatch",
            "allocation",
            &allocation_id.to_string(),
            serde_json::json!({
                "payment_id": get_i64(&row, "payment_id"),
                "invoice_id": get_i64(&row, "invoice_id"),
                "amount": super::money(get_i64(&row, "amount_micros"), &cur),
                "method": get_str(&row, "method"),
            }),
        )
        .await?;
        tx.tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::date;
    use chrono::NaiveDate;

    #[test]
    fn stored_dates_read_as_before() {
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        assert_eq!(date("2026-11-23"), d(2026, 11, 23));
        assert_eq!(date("2024-02-29"), d(2024, 2, 29));
        // Not a date, or not this form: what the format-string parse gave (the default date).
        for bad in [
            "2023-02-29",
            "2026-13-01",
            "2026/11/23",
            "",
            "２０２６-11-23",
            "2026-11-23T00",
        ] {
            assert_eq!(date(bad), NaiveDate::default(), "{bad}");
        }
    }
}
