//! `OdooSource`: one page of customers (`res.partner` with `customer_rank > 0`) and one page of posted customer
//! invoices and credit notes (`account.move`, `out_invoice`/`out_refund`) per call, each ordered by
//! `(write_date, id)` and resumed after the last pair seen (keyset paging, so rows written in the same second are
//! neither skipped nor repeated). `more` is set while either page came back full. When a model's page is not
//! full (its run is over) the checkpoint keeps its last `write_date` with id 0, so the next run reads that second
//! again: a row written later within the same second (Odoo stamps to the second) is not missed; the rows read
//! twice are byte-identical and deduplicated by the daemon's raw inbox.

use super::map::{self, MOVE_FIELDS, PARTNER_FIELDS, UUID_FIELD};
use super::rpc::OdooClient;
use async_trait::async_trait;
use cuadra_sdk::{Batch, Checkpoint, CompanyContext, ConnectorError, Delivery, Rfc, Source};
use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// Where a model's pull stands: the last `(write_date, id)` delivered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub write_date: String,
    pub id: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OdooCheckpoint {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partners: Option<Cursor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moves: Option<Cursor>,
}

pub struct OdooSource {
    client: Arc<OdooClient>,
    page_size: u32,
    has_uuid: OnceCell<bool>,
}

impl std::fmt::Debug for OdooSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OdooSource")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Stamp {
    id: i64,
    #[serde(default)]
    write_date: crate::json::OrFalse<String>,
}

#[derive(Deserialize)]
struct VatRow {
    id: i64,
    #[serde(default)]
    vat: crate::json::OrFalse<String>,
}

fn after(cursor: &Option<Cursor>) -> Vec<serde_json::Value> {
    match cursor {
        None => Vec::new(),
        Some(c) => vec![
            json!("|"),
            json!(["write_date", ">", c.write_date]),
            json!("&"),
            json!(["write_date", "=", c.write_date]),
            json!(["id", ">", c.id]),
        ],
    }
}

impl OdooSource {
    pub fn new(client: Arc<OdooClient>, page_size: u32) -> OdooSource {
        OdooSource {
            client,
            page_size: page_size.max(1),
            has_uuid: OnceCell::new(),
        }
    }

    async fn page(
        &self,
        model: &str,
        mut domain: Vec<serde_json::Value>,
        cursor: &Option<Cursor>,
        fields: &[&str],
    ) -> Result<(Vec<Box<RawValue>>, Option<Cursor>), ConnectorError> {
        domain.extend(after(cursor));
        let rows: Vec<Box<RawValue>> = self
            .client
            .exec(
                model,
                "search_read",
                &json!([domain]),
                &json!({"fields": fields, "order": "write_date asc, id asc", "limit": self.page_size}),
            )
            .await?;
        let mut last = cursor.clone();
        let full = rows.len() >= self.page_size as usize;
        for r in &rows {
            let stamp: Stamp = serde_json::from_str(r.get()).map_err(|e| {
                ConnectorError::Permanent(format!("{model}.search_read: row without id: {e}"))
            })?;
            if let Some(w) = stamp.write_date.0 {
                last = Some(Cursor {
                    write_date: w,
                    id: stamp.id,
                });
            }
        }
        if !full {
            last = last.map(|c| Cursor { id: 0, ..c });
        }
        Ok((rows, last))
    }

    async fn partner_rfcs(
        &self,
        moves: &[Box<RawValue>],
    ) -> Result<HashMap<i64, Rfc>, ConnectorError> {
        let mut ids: Vec<i64> = moves
            .iter()
            .filter_map(|r| serde_json::from_str::<map::Move>(r.get()).ok())
            .filter_map(|m| m.partner_id.0.map(|p| p.0))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<VatRow> = self
            .client
            .exec(
                "res.partner",
                "read",
                &json!([ids]),
                &json!({"fields": ["vat"]}),
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                r.vat
                    .0
                    .and_then(|v| map::rfc_from_vat(&v))
                    .map(|v| (r.id, v))
            })
            .collect())
    }
}

fn read_checkpoint(cp: Option<Checkpoint>) -> Result<OdooCheckpoint, ConnectorError> {
    match cp {
        None | Some(Checkpoint(serde_json::Value::Null)) => Ok(OdooCheckpoint::default()),
        Some(Checkpoint(v)) => serde_json::from_value(v).map_err(|e| {
            ConnectorError::Config(format!("stored checkpoint is not an Odoo checkpoint: {e}"))
        }),
    }
}

#[async_trait]
impl Source for OdooSource {
    #[tracing::instrument(skip_all, fields(connector = "odoo"))]
    async fn pull(
        &self,
        _ctx: &CompanyContext,
        checkpoint: Option<Checkpoint>,
    ) -> Result<Batch, ConnectorError> {
        let cp = read_checkpoint(checkpoint)?;
        let has_uuid = *self
            .has_uuid
            .get_or_try_init(|| async {
                let names = self.client.field_names("account.move").await?;
                Ok::<bool, ConnectorError>(names.iter().any(|n| n == UUID_FIELD))
            })
            .await?;
        let (partners, partner_cursor) = self
            .page(
                "res.partner",
                vec![json!(["customer_rank", ">", 0])],
                &cp.partners,
                PARTNER_FIELDS,
            )
            .await?;
        let mut move_fields = MOVE_FIELDS.to_vec();
        if has_uuid {
            move_fields.push(UUID_FIELD);
        }
        let move_domain = vec![
            json!(["move_type", "in", ["out_invoice", "out_refund"]]),
            json!(["state", "=", "posted"]),
        ];
        let (moves, move_cursor) = self
            .page("account.move", move_domain, &cp.moves, &move_fields)
            .await?;
        let rfcs = self.partner_rfcs(&moves).await?;
        let lookup = |id: i64| rfcs.get(&id).cloned();
        let full = |n: usize| n >= self.page_size as usize;
        let more = full(partners.len()) || full(moves.len());
        let mut deliveries: Vec<Delivery> = Vec::with_capacity(partners.len() + moves.len());
        for raw in &partners {
            deliveries.push(map::partner(raw).unwrap_or_else(|e| unparsed("res.partner", raw, &e)));
        }
        for raw in &moves {
            deliveries.push(
                map::account_move(raw, &lookup)
                    .unwrap_or_else(|e| unparsed("account.move", raw, &e)),
            );
        }
        let next = OdooCheckpoint {
            partners: partner_cursor,
            moves: move_cursor,
        };
        let value = serde_json::to_value(&next)
            .map_err(|e| ConnectorError::Permanent(format!("checkpoint: {e}")))?;
        Ok(Batch {
            deliveries,
            checkpoint: Checkpoint(value),
            more,
        })
    }
}

/// A row that does not map is delivered raw (for the audit) with no records, and logged once.
fn unparsed(model: &str, raw: &RawValue, problem: &str) -> Delivery {
    tracing::warn!("Odoo {model} row skipped: {problem}");
    Delivery {
        kind: map::DELIVERY_KIND.into(),
        external_id: format!(
            "{model}:unparsed:{}",
            cuadra_sdk::sha256_hex(raw.get().as_bytes())
        ),
        raw: raw.get().as_bytes().to_vec(),
        records: Vec::new(),
    }
}
