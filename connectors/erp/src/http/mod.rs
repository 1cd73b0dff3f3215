//! The generic HTTP connector (`kind = "http"`): [`HttpSink`] posts outbound events signed per Standard
//! Webhooks, [`HttpSource`] pulls customers and invoices from a JSON endpoint, [`HttpWebhook`] takes
//! ERP-pushed changes. The JSON shapes are documented in [`shape`].

pub mod shape;
mod sink;
mod source;
mod webhook;

pub use sink::{event_body, HttpSink};
pub use source::{HttpCheckpoint, HttpSource};
pub use webhook::HttpWebhook;

/// The inbound event mapper, for the fuzz entry point.
#[cfg(feature = "fuzzing")]
pub fn map_event_for_fuzz(body: &[u8]) -> Result<Option<cuadra_sdk::Delivery>, String> {
    webhook::map_event("fuzz", body)
}
