//! Invoices as sources state them: a stamped CFDI inserted straight away, an ERP invoice (or the CFDI of one the
//! ERP sent first) merged into the row that exists, and the differences between the two recorded for a person.

use super::bind::{bind_invoice, INVOICE_COLUMNS};
use super::row::RowExt;
use super::{ts, Store, WriteTx};
use cuadra_sdk::{to_micros, InvoiceRecord};

impl Store {
    /// Stores an invoice record; returns whether the ledger changed.
    pub(super) async fn upsert_invoice(
        &self,
        tx: &mut WriteTx<'_>,
        source: &str,
        raw_id: i64,
        i: &InvoiceRecord,
    ) -> anyhow::Result<bool> {
        let now = self.now_text();
        let issued_on = i
            .issued_at
            .with_timezone(&self.timezone())
            .date_naive()
            .to_string();
        let from_erp = i.version == "erp";
        // A stamped CFDI when no ERP-only invoice exists: insert straight away, look up only on conflict.
        let fast = !from_erp && i.uuid.is_some() && !uuidless_invoices(tx).await?;
        // An ERP invoice, or a CFDI the ERP already told us about: merge into the existing row.
        let existing = if fast {
            None
        } else {
            find_invoice(tx, i).await?
        };
        if let Some((id, has_uuid)) = existing {
            self.compare_with_erp(tx, id, raw_id, i).await?;
            if from_erp {
                let res = sqlx::query(
                    "UPDATE invoices SET due_on = COALESCE($1, due_on), due_source = CASE WHEN $1 IS NULL THEN due_source ELSE 'erp' END, \
                     erp_id = COALESCE($2, erp_id), erp_residual_micros = $3, updated_at = $4 \
                     WHERE id = $5 AND (due_on IS DISTINCT FROM COALESCE($1, due_on) OR erp_id IS DISTINCT FROM COALESCE($2, erp_id) \
                     OR erp_residual_micros IS DISTINCT FROM $3)",
                )
                .bind(i.due_at.map(|d| d.to_string()))
                .bind(i.erp_id.clone())
                .bind(i.erp_residual.map(to_micros).transpose()?)
                .bind(&now)
                .bind(id)
                .execute(&mut *tx.tx)
                .await?;
                return Ok(res.rows_affected() > 0);
            }
            if !has_uuid {
                // The CFDI of an invoice the ERP sent first: the SAT document is the authority on amounts.
                sqlx::query(
                    "UPDATE invoices SET uuid=$1, issuer_rfc=$2, customer_rfc=COALESCE($3, customer_rfc), \
                     customer_name=COALESCE($4, customer_name), issued_at=$5, issued_on=$6, currency=$7, total_micros=$8, \
                     subtotal_micros=$9, exchange_rate=$10, payment_method=$11, payment_form=$12, version=$13, raw_id=$14, \
                     updated_at=$15 WHERE id=$16",
                )
                .bind(i.uuid.as_ref().map(|u| u.to_string()))
                .bind(i.issuer_rfc.as_ref().map(|r| r.to_string()))
                .bind(i.customer_rfc.as_ref().map(|r| r.to_string()))
                .bind(i.customer_name.clone())
                .bind(ts(i.issued_at))
                .bind(&issued_on)
                .bind(i.total.currency().to_string())
                .bind(i.total.to_micros()?)
                .bind(i.subtotal.map(to_micros).transpose()?)
                .bind(i.exchange_rate.map(|x| x.to_string()))
                .bind(i.payment_method.map(|m| format!("{m:?}").to_uppercase()))
                .bind(i.payment_form.clone())
                .bind(&i.version)
                .bind(raw_id)
                .bind(&now)
                .bind(id)
                .execute(&mut *tx.tx)
                .await?;
                self.audit(
                    tx,
                    source,
                    "merge",
                    "invoice",
                    &i.uuid.as_ref().map(|u| u.to_string()).unwrap_or_default(),
                    serde_json::json!({"invoice_id": id}),
                )
                .await?;
                return Ok(true);
            }
            return Ok(false);
        }
        if i.uuid.is_none() {
            tx.uuidless_invoices = Some(true);
        }
        let sql = self.dialect().insert("invoices", INVOICE_COLUMNS, 1)
            + " ON CONFLICT (uuid) DO NOTHING RETURNING id";
        let row = bind_invoice(sqlx::query(&sql), i, issued_on, raw_id, &now)?
            .fetch_optional(&mut *tx.tx)
            .await?;
        if row.is_none() && fast {
            // The UUID is known already: the same merge checks as the slow path.
            if let Some((id, _)) = find_invoice(tx, i).await? {
                self.compare_with_erp(tx, id, raw_id, i).await?;
            }
        }
        Ok(row.is_some())
    }
}

impl Store {
    /// When an ERP invoice and a CFDI are merged into one row, differences in what both state (total, currency,
    /// customer) are recorded as a conflict for a person: the CFDI stays the authority on amounts, the ERP on the
    /// due date, and nothing else is resolved silently.
    pub(super) async fn compare_with_erp(
        &self,
        tx: &mut WriteTx<'_>,
        id: i64,
        raw_id: i64,
        i: &InvoiceRecord,
    ) -> anyhow::Result<()> {
        let Some(row) = sqlx::query(
            "SELECT total_micros, currency, customer_rfc, version, raw_id FROM invoices WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *tx.tx)
        .await?
        else {
            return Ok(());
        };
        let version = row.text("version")?;
        if (version == "erp") == (i.version == "erp") {
            return Ok(());
        }
        let mut diffs = Vec::new();
        let total = row.int("total_micros")?;
        let currency = row.text("currency")?;
        if total != i.total.to_micros()? || currency != i.total.currency().as_str() {
            diffs.push(format!(
                "total {} {} vs {} {}",
                super::money(total, &currency),
                currency,
                i.total.display_amount(),
                i.total.currency()
            ));
        }
        let rfc = row.opt_text("customer_rfc")?;
        if let (Some(a), Some(b)) = (rfc, i.customer_rfc.as_ref()) {
            if a != b.as_str() {
                diffs.push(format!("customer {a} vs {b}"));
            }
        }
        if diffs.is_empty() {
            return Ok(());
        }
        let kept = row.opt_int("raw_id")?;
        sqlx::query(
            "INSERT INTO conflicts (kind, external_id, kept_raw_id, conflicting_raw_id, detail, created_at) \
             VALUES ('erp-invoice', $1, $2, $3, $4, $5) ON CONFLICT (kept_raw_id, conflicting_raw_id) DO NOTHING",
        )
        .bind(
            i.uuid
                .as_ref()
                .map(|u| u.to_string())
                .or_else(|| i.erp_id.clone())
                .unwrap_or_default(),
        )
        .bind(kept.unwrap_or(0))
        .bind(raw_id)
        .bind(format!("the ERP and the CFDI disagree: {} (the CFDI's amounts are kept)", diffs.join("; ")))
        .bind(self.now_text())
        .execute(&mut *tx.tx)
        .await?;
        Ok(())
    }
}

/// Whether invoices without a UUID (ERP-only) exist; looked up once per transaction.
pub(super) async fn uuidless_invoices(tx: &mut WriteTx<'_>) -> anyhow::Result<bool> {
    if let Some(v) = tx.uuidless_invoices {
        return Ok(v);
    }
    let n: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM (SELECT 1 FROM invoices WHERE uuid IS NULL LIMIT 1) x",
    )
    .fetch_one(&mut *tx.tx)
    .await?
    .int("n")?;
    tx.uuidless_invoices = Some(n > 0);
    Ok(n > 0)
}

pub(super) async fn find_invoice(
    tx: &mut WriteTx<'_>,
    i: &InvoiceRecord,
) -> anyhow::Result<Option<(i64, bool)>> {
    if let Some(u) = &i.uuid {
        if let Some(r) = sqlx::query("SELECT id FROM invoices WHERE uuid = $1")
            .bind(u.as_str())
            .fetch_optional(&mut *tx.tx)
            .await?
        {
            return Ok(Some((r.int("id")?, true)));
        }
    }
    if let Some(e) = &i.erp_id {
        if let Some(r) = sqlx::query("SELECT id, uuid FROM invoices WHERE erp_id = $1")
            .bind(e)
            .fetch_optional(&mut *tx.tx)
            .await?
        {
            let uuid = r.opt_text("uuid")?;
            if i.uuid.is_none() || uuid.is_none() {
                return Ok(Some((r.int("id")?, uuid.is_some())));
            }
        }
    }
    // A CFDI merges by serie/folio only into an ERP row that has no UUID yet; skip the look-up when none exist.
    if i.version != "erp" && !uuidless_invoices(tx).await? {
        return Ok(None);
    }
    if let Some(folio) = &i.folio {
        let rows = sqlx::query(
            "SELECT id, uuid, version FROM invoices WHERE folio = $1 AND COALESCE(serie, '') = $2 \
             AND COALESCE(customer_rfc, '') = COALESCE($3, COALESCE(customer_rfc, ''))",
        )
        .bind(folio)
        .bind(i.serie.clone().unwrap_or_default())
        .bind(i.customer_rfc.as_ref().map(|r| r.to_string()))
        .fetch_all(&mut *tx.tx)
        .await?;
        // Merge by serie/folio only across sources (ERP ↔ SAT), and only when unambiguous.
        if rows.len() == 1 {
            let uuid = rows[0].opt_text("uuid")?;
            let version = rows[0].text("version")?;
            let other_side = (version == "erp") != (i.version == "erp");
            if other_side && (uuid.is_none() || i.uuid.is_none()) {
                return Ok(Some((rows[0].int("id")?, uuid.is_some())));
            }
        }
    }
    Ok(None)
}
