//! The durable state of the SAT connector, stored by the daemon as the SDK `Checkpoint` (JSON) in the same
//! transaction as the packages delivered with it. Shape (all keys always present unless marked optional):
//!
//! ```json
//! { "version": 1,
//!   "daily_covered_to": "2025-06-09",            // last day covered by a planned daily window (optional)
//!   "backfill_from": "2025-01-01", "backfill_to": "2025-06-02",   // range already split into windows (optional)
//!   "clock_skew_secs": 2,                          // service clock minus ours at the last call (optional)
//!   "requests": [ {
//!     "key": "daily/emitidos/metadata/2025-06-03/2025-06-09",   // deterministic plan key
//!     "origin": "daily" | "backfill" | "split",
//!     "direction": "emitidos" | "recibidos", "request_type": "cfdi" | "metadata",
//!     "from": "2025-06-03", "to": "2025-06-09",   // local dates, inclusive
//!     "variant": 0,          // seconds FechaInicial is moved back to make the criteria new (5002/5005/expiry)
//!     "state": "planned" | "pending" | "downloading" | "done" | "no_data" | "failed" | "split",
//!     "request_id": "…", "sends": 1, "polls": 3, "failures": 0,
//!     "next_action_at": "2025-06-10T12:05:00Z",   // next send, poll or retry (optional)
//!     "sent_at": "…", "updated_at": "…",
//!     "last_code": 5000, "last_message": "Solicitud Aceptada", "cfdi_count": 12,
//!     "packages": [ { "id": "…_01", "state": "pending" | "done" | "lost", "attempts": 0,
//!                     "next_try_at": null, "last_error": null, "bytes": 5120, "sha256": "…" } ] } ] }
//! ```

use crate::envelope::{Direction, RequestType};
use chrono::{DateTime, NaiveDate, Utc};
use cuadra_sdk::{Checkpoint, ConnectorError};
use serde::{Deserialize, Serialize};

pub const VERSION: u32 = 1;

/// Whole connector state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SatState {
    pub version: u32,
    #[serde(default)]
    pub daily_covered_to: Option<NaiveDate>,
    #[serde(default)]
    pub backfill_from: Option<NaiveDate>,
    #[serde(default)]
    pub backfill_to: Option<NaiveDate>,
    #[serde(default)]
    pub clock_skew_secs: Option<i64>,
    #[serde(default)]
    pub requests: Vec<RequestRow>,
}

impl Default for SatState {
    fn default() -> Self {
        SatState {
            version: VERSION,
            daily_covered_to: None,
            backfill_from: None,
            backfill_to: None,
            clock_skew_secs: None,
            requests: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Daily,
    Backfill,
    Split,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowState {
    /// Not sent yet (or to be sent again with a new variant).
    Planned,
    /// Accepted by the SAT; being polled.
    Pending,
    /// Finished; packages being downloaded.
    Downloading,
    Done,
    /// The SAT found nothing for the period (5004).
    NoData,
    /// Given up; `last_message` says why.
    Failed,
    /// Too many results (5003): replaced by two half windows.
    Split,
}

impl RowState {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RowState::Done | RowState::NoData | RowState::Failed | RowState::Split
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PackageState {
    Pending,
    Done,
    /// Unknown, expired or over the download limit; the window is requested again.
    Lost,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageRow {
    pub id: String,
    pub state: PackageState,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub next_try_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub bytes: Option<u64>,
    #[serde(default)]
    pub sha256: Option<String>,
}

/// One planned query and everything known about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRow {
    pub key: String,
    pub origin: Origin,
    pub direction: Direction,
    pub request_type: RequestType,
    pub from: NaiveDate,
    pub to: NaiveDate,
    #[serde(default)]
    pub variant: u32,
    pub state: RowState,
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub sends: u32,
    #[serde(default)]
    pub polls: u32,
    #[serde(default)]
    pub failures: u32,
    #[serde(default)]
    pub next_action_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub sent_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub last_code: Option<u32>,
    #[serde(default)]
    pub last_message: Option<String>,
    #[serde(default)]
    pub cfdi_count: Option<u64>,
    #[serde(default)]
    pub packages: Vec<PackageRow>,
}

impl RequestRow {
    pub fn new(
        origin: Origin,
        direction: Direction,
        request_type: RequestType,
        from: NaiveDate,
        to: NaiveDate,
        now: DateTime<Utc>,
    ) -> Self {
        let tag = match origin {
            Origin::Daily => "daily",
            Origin::Backfill => "backfill",
            Origin::Split => "split",
        };
        let dir = match direction {
            Direction::Emitidos => "emitidos",
            Direction::Recibidos => "recibidos",
        };
        let key = format!(
            "{tag}/{dir}/{}/{from}/{to}",
            request_type_name(request_type)
        );
        RequestRow {
            key,
            origin,
            direction,
            request_type,
            from,
            to,
            variant: 0,
            state: RowState::Planned,
            request_id: None,
            sends: 0,
            polls: 0,
            failures: 0,
            next_action_at: None,
            sent_at: None,
            updated_at: now,
            last_code: None,
            last_message: None,
            cfdi_count: None,
            packages: Vec::new(),
        }
    }

    /// Forgets the sent request and plans it again with criteria the SAT sees as new.
    pub fn replan(&mut self, now: DateTime<Utc>, not_before: Option<DateTime<Utc>>) {
        self.variant += 1;
        self.state = RowState::Planned;
        self.request_id = None;
        self.polls = 0;
        self.packages.retain(|p| p.state == PackageState::Done);
        self.next_action_at = not_before;
        self.updated_at = now;
    }
}

pub fn request_type_name(t: RequestType) -> &'static str {
    match t {
        RequestType::Cfdi => "cfdi",
        RequestType::Metadata => "metadata",
    }
}

/// Reads the state from a checkpoint (`None` = first run).
pub fn load(cp: Option<&Checkpoint>) -> Result<SatState, ConnectorError> {
    match cp {
        None => Ok(SatState::default()),
        Some(c) if c.0.is_null() => Ok(SatState::default()),
        Some(c) => serde_json::from_value(c.0.clone()).map_err(|e| {
            ConnectorError::Permanent(format!("the stored SAT checkpoint cannot be read: {e}"))
        }),
    }
}

pub fn store(state: &SatState) -> Checkpoint {
    Checkpoint(serde_json::to_value(state).unwrap_or(serde_json::Value::Null))
}

/// One line of `cuadra sync sat` progress.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestStatus {
    pub key: String,
    pub direction: Direction,
    pub request_type: RequestType,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub state: RowState,
    pub request_id: Option<String>,
    pub sends: u32,
    pub polls: u32,
    pub next_action_at: Option<DateTime<Utc>>,
    pub packages_total: usize,
    pub packages_done: usize,
    pub cfdi_count: Option<u64>,
    pub last_code: Option<u32>,
    pub last_message: Option<String>,
}

/// The requests recorded in a checkpoint, for progress display. An unreadable checkpoint shows nothing.
pub fn describe(checkpoint: &Checkpoint) -> Vec<RequestStatus> {
    let Ok(state) = load(Some(checkpoint)) else {
        return Vec::new();
    };
    state
        .requests
        .iter()
        .map(|r| RequestStatus {
            key: r.key.clone(),
            direction: r.direction,
            request_type: r.request_type,
            from: r.from,
            to: r.to,
            state: r.state,
            request_id: r.request_id.clone(),
            sends: r.sends,
            polls: r.polls,
            next_action_at: r.next_action_at,
            packages_total: r.packages.len(),
            packages_done: r
                .packages
                .iter()
                .filter(|p| p.state == PackageState::Done)
                .count(),
            cfdi_count: r.cfdi_count,
            last_code: r.last_code,
            last_message: r.last_message.clone(),
        })
        .collect()
}
