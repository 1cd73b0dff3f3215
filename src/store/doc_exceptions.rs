//! Exceptions the documents raise for a person (origin `documents`): a REP line paying more than its invoice
//! owes, a substitute CFDI (04) whose amount differs from the invoice it replaces. A reconcile run keeps to its own
//! (origin `reconcile`) and never deletes or rewrites these; a person's `cuadra match` of the payment clears them,
//! and so does the cancellation of the REP that raised them.

use super::{Store, WriteTx};

/// `exceptions.origin` of the exceptions the document links raise.
pub(in crate::store) const DOCUMENTS: &str = "documents";

impl Store {
    /// Raises (or keeps) the documents' exception of a payment: an existing one of the same origin is left as it
    /// is (the first words stay, a re-run changes nothing), an engine's exception of the payment is replaced.
    /// Audited when written.
    pub(in crate::store) async fn raise_document_exception(
        &self,
        tx: &mut WriteTx<'_>,
        payment_id: i64,
        reason: &str,
        candidates: serde_json::Value,
    ) -> anyhow::Result<()> {
        let written = sqlx::query(
            "INSERT INTO exceptions (payment_id, reason, candidates, updated_at, origin) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (payment_id) DO UPDATE SET reason = excluded.reason, \
             candidates = excluded.candidates, updated_at = excluded.updated_at, origin = excluded.origin \
             WHERE exceptions.origin <> excluded.origin",
        )
        .bind(payment_id)
        .bind(reason)
        .bind(candidates.to_string())
        .bind(self.now_text())
        .bind(DOCUMENTS)
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
        if written > 0 {
            self.audit(
                tx,
                "documents",
                "exception",
                "payment",
                &payment_id.to_string(),
                serde_json::json!({"reason": reason}),
            )
            .await?;
        }
        Ok(())
    }
}
