//! `HttpWebhook`: ERP-pushed changes at `/webhooks/NAME`, verified with Standard Webhooks (`webhook_secret`,
//! timestamp tolerance) before anything is parsed. The body is an event
//! `{"id": "...", "type": "customer.updated" | "invoice.updated" | ..., "timestamp": "...", "data": {...}}` whose
//! `data` is one customer or invoice in the shapes of [`super::shape`], or a whole page
//! (`{"customers": [...], "invoices": [...]}`) for `type` `batch`. Other types are acknowledged and stored
//! nowhere. The delivery's `external_id` is the `webhook-id`, so a repeat is recognised.

use super::shape;
use async_trait::async_trait;
use cuadra_sdk::standard_webhooks::{SigningKey, HEADER_ID};
use cuadra_sdk::{
    CompanyContext, Delivery, VerifiedRequest, WebhookError, WebhookHandler, WebhookOutcome,
    WebhookRequest,
};
use serde::Deserialize;
use serde_json::value::RawValue;

pub struct HttpWebhook {
    key: SigningKey,
    tolerance_secs: u64,
}

impl std::fmt::Debug for HttpWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpWebhook")
            .field("tolerance_secs", &self.tolerance_secs)
            .finish_non_exhaustive()
    }
}

impl HttpWebhook {
    pub fn new(key: SigningKey, tolerance_secs: u64) -> HttpWebhook {
        HttpWebhook {
            key,
            tolerance_secs,
        }
    }
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    event_type: String,
    data: Box<RawValue>,
}

/// Maps a verified body to the records it carries; `id` is the `webhook-id`. Public for the fuzz target.
pub fn map_event(id: &str, body: &[u8]) -> Result<Option<Delivery>, String> {
    let ev: Event = serde_json::from_slice(body).map_err(|e| format!("event: {e}"))?;
    let records = if ev.event_type.starts_with("customer.") {
        shape::customer(&ev.data)?.delivery.records
    } else if ev.event_type.starts_with("invoice.") {
        shape::invoice(&ev.data)?.delivery.records
    } else if ev.event_type == "batch" {
        let page = shape::map_page(ev.data.get().as_bytes())?;
        if let Some(p) = page.problems.first() {
            return Err(p.clone());
        }
        page.deliveries
            .into_iter()
            .flat_map(|d| d.records)
            .collect()
    } else {
        return Ok(None);
    };
    Ok(Some(Delivery {
        kind: shape::DELIVERY_KIND.into(),
        external_id: format!("webhook:{id}"),
        raw: body.to_vec(),
        records,
    }))
}

#[async_trait]
impl WebhookHandler for HttpWebhook {
    fn verify(&self, req: &WebhookRequest<'_>) -> Result<VerifiedRequest, WebhookError> {
        self.key
            .verify(
                req.headers,
                req.body,
                req.received_at.timestamp(),
                self.tolerance_secs,
            )
            .map_err(|e| WebhookError::Unauthorized(e.to_string()))?;
        Ok(VerifiedRequest::after_verification(req))
    }

    async fn handle(
        &self,
        _ctx: &CompanyContext,
        req: &VerifiedRequest,
    ) -> Result<WebhookOutcome, WebhookError> {
        let id = req.header(HEADER_ID).unwrap_or_default();
        let delivery = map_event(id, req.body()).map_err(WebhookError::Malformed)?;
        Ok(WebhookOutcome {
            delivery,
            status: 200,
            content_type: None,
            body: Vec::new(),
        })
    }
}
