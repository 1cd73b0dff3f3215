//! What is kept for a person in `report conflicts` besides a document stored twice with other bytes: a payment
//! delivered again with another amount, a verified webhook that could not be stored (kind `rejected`), and a
//! statement whose entries do not add up to its closing balance (kind `statement-balance`). The first version of
//! a payment stays the truth; nothing here changes money. See docs/cash-in.md, "Conflicts".

use super::row::RowExt;
use super::{Store, WriteTx};
use anyhow::Context;
use cuadra_sdk::{from_micros, Currency, Delivery, Money, PaymentRecord};

/// The raw inbox kind under which the bodies of rejected webhooks are kept (never a source's own kind, so that a
/// later delivery of the same bytes, once storable, is not taken for one already stored).
pub const REJECTED_KIND: &str = "rejected";

/// Something wrong with a file as a whole that a person must look at (a statement that does not add up), for
/// [`Store::record_file_conflicts`].
#[derive(Debug, Clone)]
pub struct FileConflict {
    /// The warning's kind (`statement-balance`).
    pub kind: String,
    /// What names it for good: the file's name and the line of the statement's closing balance.
    pub external_id: String,
    /// The warning as printed (file, line, field, the three figures and the difference).
    pub detail: String,
}

impl Store {
    /// After a payment of delivery `d` (raw `raw_id`) was not inserted because its identity is stored already:
    /// when the stored one has another amount or currency, records a conflict (the stored payment stays) and
    /// returns true. The same amount is the same payment delivered again (another event, a retry whose body
    /// differs only in delivery bookkeeping) and is not a conflict.
    pub(super) async fn payment_conflict(
        &self,
        tx: &mut WriteTx<'_>,
        source: &str,
        d: &Delivery,
        raw_id: i64,
        p: &PaymentRecord,
    ) -> anyhow::Result<bool> {
        let Some(row) = sqlx::query(
            "SELECT raw_id, currency, amount_micros FROM payments WHERE kind = $1 AND external_id = $2",
        )
        .bind(p.kind.as_str().to_string())
        .bind(p.external_id.clone())
        .fetch_optional(&mut *tx.tx)
        .await
        .context("reading a stored payment")?
        else {
            return Ok(false);
        };
        let (kept, currency, micros) = (
            row.int("raw_id")?,
            row.text("currency")?,
            row.int("amount_micros")?,
        );
        let new_micros = p.amount.to_micros()?;
        let new_currency = p.amount.currency().to_string();
        if micros == new_micros && currency == new_currency {
            return Ok(false);
        }
        let kept_money = match Currency::parse(&currency) {
            Ok(c) => Money::from_micros(micros, c).to_string(),
            Err(_) => format!("{} {currency}", from_micros(micros)),
        };
        let detail = format!(
            "same payment, other amount: the first version is kept ({kept_money}, raw {kept}); delivery {} \
             (raw {raw_id}) says {}; compare them with `cuadra raw {kept}` and `cuadra raw {raw_id}`",
            d.external_id, p.amount,
        );
        sqlx::query(
            "INSERT INTO conflicts (kind, external_id, kept_raw_id, conflicting_raw_id, detail, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kept_raw_id, conflicting_raw_id) DO NOTHING",
        )
        .bind(&d.kind)
        .bind(&p.external_id)
        .bind(kept)
        .bind(raw_id)
        .bind(detail)
        .bind(self.now_text())
        .execute(&mut *tx.tx)
        .await
        .context("recording a payment conflict")?;
        self.audit(
            tx,
            source,
            "conflict",
            "payment",
            &p.external_id,
            serde_json::json!({"kept_raw_id": kept, "conflicting_raw_id": raw_id}),
        )
        .await?;
        Ok(true)
    }

    /// Keeps a verified webhook that could not be stored: its body in the raw inbox (kind [`REJECTED_KIND`],
    /// source `connector`; never its headers, which carry signatures and credentials) and a `rejected` row in
    /// `report conflicts` with the reason. The same body rejected again adds nothing. Returns the raw id.
    pub async fn record_rejected(
        &self,
        connector: &str,
        external_id: &str,
        body: &[u8],
        reason: &str,
    ) -> anyhow::Result<i64> {
        let d = Delivery {
            kind: REJECTED_KIND.to_string(),
            external_id: external_id.to_string(),
            raw: body.to_vec(),
            records: Vec::new(),
        };
        let mut tx = self.begin_write().await?;
        self.ingest_in(&mut tx, connector, std::slice::from_ref(&d))
            .await?;
        let raw_id = sqlx::query(
            "SELECT id FROM raw_inbox WHERE kind = $1 AND external_id = $2 AND sha256 = $3 ORDER BY id LIMIT 1",
        )
        .bind(REJECTED_KIND)
        .bind(external_id)
        .bind(d.sha256_hex())
        .fetch_one(&mut *tx.tx)
        .await
        .context("reading a rejected delivery back")?
        .int("id")?;
        let detail = format!(
            "webhook of {connector} refused with 400: {reason}; nothing stored in the ledger; the body is raw \
             {raw_id} (`cuadra raw {raw_id}`)"
        );
        sqlx::query(
            "INSERT INTO conflicts (kind, external_id, kept_raw_id, conflicting_raw_id, detail, created_at) \
             VALUES ($1, $2, NULL, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(REJECTED_KIND)
        .bind(external_id)
        .bind(raw_id)
        .bind(detail)
        .bind(self.now_text())
        .execute(&mut *tx.tx)
        .await
        .context("recording a rejected delivery")?;
        tx.commit().await?;
        Ok(raw_id)
    }

    /// Records what is wrong with files as conflict rows without raw deliveries (one per kind and name: a file
    /// imported again adds none). Returns how many rows were new.
    pub async fn record_file_conflicts(&self, found: &[FileConflict]) -> anyhow::Result<u64> {
        if found.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let mut new = 0;
        for c in found {
            new += sqlx::query(
                "INSERT INTO conflicts (kind, external_id, kept_raw_id, conflicting_raw_id, detail, created_at) \
                 VALUES ($1, $2, NULL, NULL, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(&c.kind)
            .bind(&c.external_id)
            .bind(&c.detail)
            .bind(self.now_text())
            .execute(&mut *tx.tx)
            .await
            .context("recording what is wrong with a file")?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(new)
    }
}
