//! The traits a connector's sides implement (`Source`, `Sink`, `WebhookHandler`, `FileImporter`) and their
//! errors. How a kind builds them from its table is [`crate::kind`].

use crate::ids::IdempotencyKey;
use crate::records::Delivery;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

/// Opaque connector state, stored by the daemon in the same transaction as the records of the batch it came with.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint(pub serde_json::Value);

/// What a source run yields: deliveries plus the checkpoint that follows them. `more` asks the daemon to call
/// again right away (paging).
#[derive(Debug, Default)]
pub struct Batch {
    pub deliveries: Vec<Delivery>,
    pub checkpoint: Checkpoint,
    pub more: bool,
}

/// Facts about the company a connector may need; never the ledger itself.
#[derive(Debug, Clone, Default)]
pub struct CompanyContext {
    pub rfcs: Vec<String>,
    /// The company's own receiving accounts (CLABEs, account numbers), including customers' virtual CLABEs.
    pub own_accounts: HashSet<String>,
    pub now: DateTime<Utc>,
}

/// How a failure should be treated by whoever schedules the work. Connectors classify; only the daemon decides
/// when to retry.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("temporary failure: {0}")]
    Retryable(String),
    #[error("rate limited: {message}")]
    RateLimited {
        retry_after: Option<Duration>,
        message: String,
    },
    #[error("{0}")]
    Permanent(String),
    #[error("configuration: {0}")]
    Config(String),
}

impl ConnectorError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ConnectorError::Retryable(_) | ConnectorError::RateLimited { .. }
        )
    }
}

/// A connector that pulls from an outside system on a schedule.
#[async_trait]
pub trait Source: Send + Sync {
    /// Runs once from `checkpoint` (None on the first run).
    async fn pull(
        &self,
        ctx: &CompanyContext,
        checkpoint: Option<Checkpoint>,
    ) -> Result<Batch, ConnectorError>;
}

/// A message taken from the outbox for delivery.
#[derive(Debug, Clone)]
pub struct OutboundMessage {
    pub key: IdempotencyKey,
    /// `invoice.updated`, `allocation.created`, `allocation.removed`, `reminder.sent`, ...
    pub event_type: String,
    /// Messages with the same ordering key are delivered in order (the invoice UUID).
    pub ordering_key: String,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub attempt: u32,
}

/// What a receiver said about a delivery.
#[derive(Debug, Clone, Default)]
pub struct Receipt {
    /// The receiver's own id for what it created (e.g. an Odoo `account.payment` id), kept for reversals.
    pub remote_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("temporary failure: {0}")]
    Retryable(String),
    #[error("rate limited: {message}")]
    RateLimited {
        retry_after: Option<Duration>,
        message: String,
    },
    #[error("permanent failure: {0}")]
    Permanent(String),
}

/// A connector that receives outbox messages (ERP push, outbound events, notification channels).
#[async_trait]
pub trait Sink: Send + Sync {
    async fn deliver(&self, msg: &OutboundMessage) -> Result<Receipt, SinkError>;
}

/// An incoming HTTP request for `/webhooks/{connector}` before verification. Header names are lower-case.
pub struct WebhookRequest<'a> {
    pub headers: &'a BTreeMap<String, String>,
    pub body: &'a [u8],
    pub received_at: DateTime<Utc>,
    /// The TCP peer's address, from the socket (never from a header a client could set); `None` where there is no
    /// socket (tests, fuzzing). STP's IP allow-list reads it.
    pub peer: Option<IpAddr>,
    /// The request URL's query string, without `?`. Mercado Pago signs its `data.id` parameter.
    pub query: Option<&'a str>,
}

impl<'a> WebhookRequest<'a> {
    /// A request with no peer address and no query string.
    pub fn new(
        headers: &'a BTreeMap<String, String>,
        body: &'a [u8],
        received_at: DateTime<Utc>,
    ) -> Self {
        WebhookRequest {
            headers,
            body,
            received_at,
            peer: None,
            query: None,
        }
    }

    pub fn with_peer(mut self, peer: IpAddr) -> Self {
        self.peer = Some(peer);
        self
    }

    pub fn with_query(mut self, query: &'a str) -> Self {
        self.query = Some(query);
        self
    }
}

/// A request whose authenticity was checked. Only `verify` implementations build it, so an unverified body cannot
/// reach a parser.
pub struct VerifiedRequest {
    body: Vec<u8>,
    headers: BTreeMap<String, String>,
    received_at: DateTime<Utc>,
    peer: Option<IpAddr>,
    query: Option<String>,
}

impl VerifiedRequest {
    /// For use by `WebhookHandler::verify` implementations only, after the check succeeded.
    pub fn after_verification(req: &WebhookRequest<'_>) -> Self {
        VerifiedRequest {
            body: req.body.to_vec(),
            headers: req.headers.clone(),
            received_at: req.received_at,
            peer: req.peer,
            query: req.query.map(str::to_string),
        }
    }
    pub fn body(&self) -> &[u8] {
        &self.body
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
    pub fn received_at(&self) -> DateTime<Utc> {
        self.received_at
    }
    pub fn peer(&self) -> Option<IpAddr> {
        self.peer
    }
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }
}

impl fmt::Debug for VerifiedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifiedRequest({} bytes)", self.body.len())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// 401: signature, credentials or timestamp tolerance failed.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// 400: verified but not understood.
    #[error("malformed: {0}")]
    Malformed(String),
    /// 502/503: a confirming call to the provider failed; the sender will retry.
    #[error("temporary failure: {0}")]
    Retryable(String),
}

/// What to answer and what to store for one verified webhook.
#[derive(Debug, Default)]
pub struct WebhookOutcome {
    /// The delivery to store (its `external_id` is the event id used for deduplication); `None` for events that
    /// are acknowledged but carry nothing for the ledger.
    pub delivery: Option<Delivery>,
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// A connector that receives webhooks at `/webhooks/{name}`.
#[async_trait]
pub trait WebhookHandler: Send + Sync {
    /// Checks authenticity (signature and timestamp tolerance, or credentials). Nothing may be stored before this.
    fn verify(&self, req: &WebhookRequest<'_>) -> Result<VerifiedRequest, WebhookError>;
    /// Parses a verified request; may call the provider to confirm (Openpay).
    async fn handle(
        &self,
        ctx: &CompanyContext,
        req: &VerifiedRequest,
    ) -> Result<WebhookOutcome, WebhookError>;
}

/// Where in an input a problem is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    pub file: Option<String>,
    /// Entry inside a package (zip member).
    pub entry: Option<String>,
    pub line: Option<u64>,
    pub column: Option<u64>,
    pub field: Option<String>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(x) = &self.file {
            parts.push(x.clone());
        }
        if let Some(x) = &self.entry {
            parts.push(format!("entry {x}"));
        }
        if let Some(x) = self.line {
            parts.push(format!("line {x}"));
        }
        if let Some(x) = self.column {
            parts.push(format!("column {x}"));
        }
        if let Some(x) = &self.field {
            parts.push(format!("field {x}"));
        }
        f.write_str(&parts.join(", "))
    }
}

/// A problem with one piece of input; the rest of the input goes on.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{location}: {message}")]
pub struct InputError {
    pub location: Location,
    pub message: String,
}

impl InputError {
    pub fn new(location: Location, message: impl Into<String>) -> Self {
        InputError {
            location,
            message: message.into(),
        }
    }
}

/// Something about a file that did not stop its import but that a person should read: printed in the summary,
/// and also kept in `report conflicts` when `for_person` (a statement whose entries do not add up).
#[derive(Debug, Clone)]
pub struct FileWarning {
    /// Where, and what (the message without the kind).
    pub error: InputError,
    /// A stable name for summaries and conflict rows (`statement-balance`, ...).
    pub kind: &'static str,
    /// Whether it is kept as a conflict for a person rather than only printed.
    pub for_person: bool,
}

impl fmt::Display for FileWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.error, self.kind)
    }
}

/// Options a user gives when importing files.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `auto` or a named format.
    pub format: Option<String>,
    /// The configured account a statement belongs to.
    pub account: Option<String>,
}

/// Reads files of one family (CFDI and SAT packages, bank statements, customer masters) for `cuadra import` and
/// the inbox folder. Each delivery is handed to `out` as soon as it is read, so packages need not fit in memory;
/// a bad entry is handed to `bad` and reading goes on.
pub trait FileImporter: Send + Sync {
    /// The family name (`cfdi`, `statement`, `customers`).
    fn family(&self) -> &'static str;
    /// Whether this importer recognises the file (by name and first bytes).
    fn sniff(&self, file_name: &str, head: &[u8]) -> bool;
    fn read(
        &self,
        path: &Path,
        opts: &ImportOptions,
        out: &mut dyn FnMut(Delivery) -> Result<(), InputError>,
        bad: &mut dyn FnMut(InputError),
    ) -> Result<(), InputError>;
    /// [`FileImporter::read`] that also hands over what did not stop the import but a person should see (a
    /// statement whose entries do not add up to its closing balance, a field cut to the configured length), located
    /// like errors. Families without warnings keep the default, which reads and reports none.
    fn read_reporting(
        &self,
        path: &Path,
        opts: &ImportOptions,
        out: &mut dyn FnMut(Delivery) -> Result<(), InputError>,
        bad: &mut dyn FnMut(InputError),
        warn: &mut dyn FnMut(FileWarning),
    ) -> Result<(), InputError> {
        let _ = warn;
        self.read(path, opts, out, bad)
    }
    /// Reads a file a source delivered (a SAT package), already in memory; `name` says where it came from in
    /// messages. Families that cannot are refused with an error.
    fn read_bytes(
        &self,
        name: &str,
        bytes: &[u8],
        opts: &ImportOptions,
        out: &mut dyn FnMut(Delivery) -> Result<(), InputError>,
        bad: &mut dyn FnMut(InputError),
    ) -> Result<(), InputError> {
        let _ = (bytes, opts, out, bad);
        Err(InputError::new(
            Location {
                file: Some(name.to_string()),
                ..Default::default()
            },
            format!("the {} family cannot read delivered bytes", self.family()),
        ))
    }
}
