//! The steps of one `pull`: download a due package, send a planned request, poll pending requests. Each updates
//! the rows of [`SatState`] so that the returned checkpoint records what was asked and what came back; only
//! FIEL/authentication problems abort a pull, other failures are recorded on the row with a retry time.

use crate::checkpoint::{self, PackageRow, PackageState, RequestRow, RowState, SatState};
use crate::client::{ClientError, SatClient};
use crate::envelope::{Query, RequestType};
use crate::plan;
use chrono::{DateTime, Duration, Utc};
use cuadra_sdk::{ConnectorError, Delivery};

/// Requests accepted by the SAT and not finished, at most (a long backfill is fed gradually).
pub const MAX_IN_FLIGHT: usize = 8;
/// Polls per pull, at most.
pub const MAX_POLLS_PER_PULL: usize = 5;
/// A request still unfinished this long after it was sent is asked again (sat.md §6: up to 72 h seen).
pub const PENDING_DEADLINE_HOURS: i64 = 72;
/// Failed attempts at one package before it is treated as lost and the window asked again.
pub const MAX_PACKAGE_ATTEMPTS: u32 = 8;
/// Re-sends of one window before it is given up.
pub const MAX_SENDS: u32 = 6;

/// Delivery kind of a package.
pub fn delivery_kind(t: RequestType) -> &'static str {
    match t {
        RequestType::Cfdi => "sat-package-cfdi",
        RequestType::Metadata => "sat-package-metadata",
    }
}

fn poll_delay(polls: u32) -> Duration {
    Duration::seconds((60_i64 << polls.min(5)).min(1800))
}

fn retry_delay(failures: u32) -> Duration {
    Duration::seconds((30_i64 << failures.min(7)).min(3600))
}

/// Maps the service-wide codes that mean the FIEL or the signature is unusable (sat.md §8).
fn fatal_code(code: u32, message: &str) -> Option<ConnectorError> {
    let what = match code {
        300 => "the SAT says the user is not valid (300)",
        302 => "the SAT says the signature is malformed (302)",
        303 => "the SAT says the signature does not match the requesting RFC (303)",
        304 => "the SAT says the FIEL certificate is revoked or expired (304)",
        305 => "the SAT says the FIEL certificate is not valid (305): is it a FIEL of this RFC and current?",
        _ => return None,
    };
    Some(ConnectorError::Config(format!("{what}: {message}")))
}

pub(crate) fn client_error(e: ClientError) -> ConnectorError {
    match e {
        ClientError::AuthRejected { .. } | ClientError::Fiel(_) => {
            ConnectorError::Config(e.to_string())
        }
        ClientError::Transient { .. } => ConnectorError::Retryable(e.to_string()),
        ClientError::Rejected { .. } | ClientError::Malformed(_) => {
            ConnectorError::Retryable(e.to_string())
        }
    }
}

/// Whether something can be done right now (download, send or poll due).
pub fn immediate_work(state: &SatState, now: DateTime<Utc>) -> bool {
    let in_flight = in_flight(state);
    state.requests.iter().any(|r| {
        (plan::due_for_send(r, now) && in_flight < MAX_IN_FLIGHT)
            || (r.state == RowState::Pending && !matches!(r.next_action_at, Some(t) if t > now))
            || (r.state == RowState::Downloading && r.packages.iter().any(|p| package_due(p, now)))
    })
}

fn in_flight(state: &SatState) -> usize {
    state
        .requests
        .iter()
        .filter(|r| matches!(r.state, RowState::Pending | RowState::Downloading))
        .count()
}

fn package_due(p: &PackageRow, now: DateTime<Utc>) -> bool {
    p.state == PackageState::Pending && !matches!(p.next_try_at, Some(t) if t > now)
}

/// Downloads the first due package. A failure is recorded on the package; fatal codes abort the pull.
pub(crate) async fn download_step(
    client: &SatClient,
    state: &mut SatState,
    now: DateTime<Utc>,
) -> Result<Option<Delivery>, ConnectorError> {
    let Some((ri, pi)) = state.requests.iter().enumerate().find_map(|(ri, r)| {
        if r.state != RowState::Downloading {
            return None;
        }
        r.packages
            .iter()
            .position(|p| package_due(p, now))
            .map(|pi| (ri, pi))
    }) else {
        return Ok(None);
    };
    let (package_id, kind) = match state
        .requests
        .get(ri)
        .and_then(|r| r.packages.get(pi).map(|p| (p, r)))
    {
        Some((p, r)) => (p.id.clone(), r.request_type),
        None => return Ok(None),
    };
    let result = client.download(now, &package_id).await;
    let Some(row) = state.requests.get_mut(ri) else {
        return Ok(None);
    };
    row.updated_at = now;
    let mut delivery = None;
    if let Some(pkg) = row.packages.get_mut(pi) {
        pkg.attempts += 1;
        match result {
            Ok(r) if r.code == 5000 && !r.package.is_empty() => {
                pkg.state = PackageState::Done;
                pkg.bytes = Some(r.package.len() as u64);
                pkg.sha256 = Some(cuadra_sdk::sha256_hex(&r.package));
                pkg.last_error = None;
                tracing::info!(bytes = r.package.len(), "Downloaded a SAT package.");
                delivery = Some(Delivery {
                    kind: delivery_kind(kind).into(),
                    external_id: package_id.clone(),
                    raw: r.package,
                    records: vec![],
                });
            }
            Ok(r) => {
                if let Some(e) = fatal_code(r.code, &r.message) {
                    return Err(e);
                }
                pkg.last_error = Some(format!("{} {}", r.code, r.message));
                if matches!(r.code, 5004 | 5007 | 5008) {
                    tracing::warn!(
                        code = r.code,
                        "A SAT package is no longer available; the period will be asked again."
                    );
                    pkg.state = PackageState::Lost;
                } else {
                    pkg.next_try_at = Some(now + retry_delay(pkg.attempts));
                }
            }
            Err(e @ (ClientError::AuthRejected { .. } | ClientError::Fiel(_))) => {
                return Err(client_error(e))
            }
            Err(e) => {
                tracing::warn!(error = %e, "Downloading a SAT package failed; will retry.");
                pkg.last_error = Some(e.to_string());
                pkg.next_try_at = Some(now + retry_delay(pkg.attempts));
            }
        }
        if pkg.state == PackageState::Pending && pkg.attempts >= MAX_PACKAGE_ATTEMPTS {
            pkg.state = PackageState::Lost;
        }
    }
    settle_downloads(row, now);
    Ok(delivery)
}

/// Moves a downloading row on once no package is pending.
fn settle_downloads(row: &mut RequestRow, now: DateTime<Utc>) {
    if row
        .packages
        .iter()
        .any(|p| p.state == PackageState::Pending)
    {
        return;
    }
    if row.packages.iter().any(|p| p.state == PackageState::Lost) {
        replan_or_fail(row, now, None, "packages were lost");
    } else {
        row.state = RowState::Done;
        row.next_action_at = None;
    }
}

fn replan_or_fail(
    row: &mut RequestRow,
    now: DateTime<Utc>,
    not_before: Option<DateTime<Utc>>,
    why: &str,
) {
    if row.sends >= MAX_SENDS {
        row.state = RowState::Failed;
        row.last_message = Some(format!("given up after {} requests: {why}", row.sends));
        row.next_action_at = None;
        row.updated_at = now;
        tracing::warn!(key = %row.key, "Gave up on a SAT request window.");
    } else {
        row.replan(now, not_before);
    }
}

/// Sends the first due planned request (metadata and recent windows first).
pub(crate) async fn send_step(
    client: &SatClient,
    state: &mut SatState,
    now: DateTime<Utc>,
) -> Result<bool, ConnectorError> {
    if in_flight(state) >= MAX_IN_FLIGHT {
        return Ok(false);
    }
    let pick = state
        .requests
        .iter()
        .enumerate()
        .filter(|(_, r)| plan::due_for_send(r, now))
        .min_by_key(|(i, r)| {
            (
                r.origin != checkpoint::Origin::Daily,
                r.request_type == RequestType::Cfdi,
                *i,
            )
        })
        .map(|(i, _)| i);
    let Some(i) = pick else { return Ok(false) };
    let Some(row) = state.requests.get_mut(i) else {
        return Ok(false);
    };
    let query = Query::Range(plan::params(row));
    row.sends += 1;
    row.updated_at = now;
    let result = client.query(now, &query).await;
    match result {
        Ok(r) => {
            row.last_code = Some(r.code);
            row.last_message = Some(r.message.clone());
            if let Some(e) = fatal_code(r.code, &r.message) {
                return Err(e);
            }
            match (r.code, r.request_id) {
                (5000, Some(id)) => {
                    tracing::info!(key = %row.key, "The SAT accepted a download request.");
                    row.state = RowState::Pending;
                    row.request_id = Some(id);
                    row.sent_at = Some(now);
                    row.polls = 0;
                    row.failures = 0;
                    row.next_action_at = Some(now + poll_delay(0));
                }
                (5005, _) => {
                    tracing::info!(key = %row.key, "The SAT already holds an active request with these criteria (sent by a run whose checkpoint was lost); asking again with the period moved by one second.");
                    replan_or_fail(row, now, None, "duplicate request (5005)");
                }
                (5002, _) => {
                    tracing::info!(key = %row.key, "The SAT limit for these criteria is reached (5002); asking again with the period moved by one second.");
                    replan_or_fail(row, now, None, "request limit reached (5002)");
                }
                (5001 | 301 | 5012, _) => {
                    tracing::warn!(key = %row.key, code = r.code, "The SAT refused a download request.");
                    row.state = RowState::Failed;
                    row.next_action_at = None;
                }
                _ => {
                    row.failures += 1;
                    row.next_action_at = Some(now + retry_delay(row.failures));
                }
            }
        }
        Err(e @ (ClientError::AuthRejected { .. } | ClientError::Fiel(_))) => {
            return Err(client_error(e))
        }
        Err(e) => {
            tracing::warn!(error = %e, "Sending a SAT request failed; will retry.");
            row.failures += 1;
            row.last_message = Some(e.to_string());
            row.next_action_at = Some(now + retry_delay(row.failures));
        }
    }
    Ok(true)
}

/// Polls the pending requests whose next poll is due (at most [`MAX_POLLS_PER_PULL`]).
pub(crate) async fn poll_step(
    client: &SatClient,
    state: &mut SatState,
    now: DateTime<Utc>,
) -> Result<bool, ConnectorError> {
    let due: Vec<usize> = state
        .requests
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            r.state == RowState::Pending && !matches!(r.next_action_at, Some(t) if t > now)
        })
        .map(|(i, _)| i)
        .take(MAX_POLLS_PER_PULL)
        .collect();
    let mut splits = Vec::new();
    for i in &due {
        let Some(row) = state.requests.get_mut(*i) else {
            continue;
        };
        let Some(id) = row.request_id.clone() else {
            row.replan(now, None);
            continue;
        };
        let result = client.verify(now, &id).await;
        row.updated_at = now;
        let r = match result {
            Ok(r) => r,
            Err(e @ (ClientError::AuthRejected { .. } | ClientError::Fiel(_))) => {
                return Err(client_error(e))
            }
            Err(e) => {
                tracing::warn!(error = %e, "Verifying a SAT request failed; will retry.");
                row.failures += 1;
                row.last_message = Some(e.to_string());
                row.next_action_at = Some(now + retry_delay(row.failures));
                continue;
            }
        };
        if let Some(e) = fatal_code(r.code, &r.message) {
            return Err(e);
        }
        row.polls += 1;
        row.last_code = Some(if r.code == 5000 { r.state_code } else { r.code });
        row.last_message = Some(r.message.clone());
        if r.code == 5004 {
            replan_or_fail(row, now, None, "the SAT does not know the request (5004)");
            continue;
        }
        if r.code != 5000 {
            row.failures += 1;
            row.next_action_at = Some(now + retry_delay(row.failures));
            continue;
        }
        row.cfdi_count = Some(r.cfdi_count);
        match r.state {
            1 | 2 => {
                let expired = matches!(row.sent_at, Some(s) if now - s > Duration::hours(PENDING_DEADLINE_HOURS));
                if expired {
                    replan_or_fail(row, now, None, "the SAT did not finish within 72 hours");
                } else {
                    row.next_action_at = Some(now + poll_delay(row.polls));
                }
            }
            3 => {
                row.packages = r
                    .packages
                    .iter()
                    .map(|p| PackageRow {
                        id: p.clone(),
                        state: PackageState::Pending,
                        attempts: 0,
                        next_try_at: None,
                        last_error: None,
                        bytes: None,
                        sha256: None,
                    })
                    .collect();
                row.next_action_at = None;
                if row.packages.is_empty() {
                    row.state = RowState::NoData;
                } else {
                    tracing::info!(packages = row.packages.len(), "A SAT request finished.");
                    row.state = RowState::Downloading;
                }
            }
            5 => match r.state_code {
                5004 => {
                    row.state = RowState::NoData;
                    row.next_action_at = None;
                }
                5003 => match plan::split(row, now) {
                    Some((a, b)) => {
                        row.state = RowState::Split;
                        row.next_action_at = None;
                        splits.push(a);
                        splits.push(b);
                    }
                    None => {
                        row.state = RowState::Failed;
                        row.next_action_at = None;
                    }
                },
                5011 => {
                    let tomorrow = now + Duration::hours(24);
                    replan_or_fail(row, now, Some(tomorrow), "daily limit reached (5011)");
                }
                5002 | 5005 => replan_or_fail(row, now, None, "rejected as repeated criteria"),
                _ => {
                    row.state = RowState::Failed;
                    row.next_action_at = None;
                }
            },
            4 | 6 => replan_or_fail(row, now, None, "the SAT request failed or expired"),
            _ => {
                row.failures += 1;
                row.next_action_at = Some(now + retry_delay(row.failures));
            }
        }
    }
    for s in splits {
        if !state.requests.iter().any(|r| r.key == s.key) {
            state.requests.push(s);
        }
    }
    Ok(!due.is_empty())
}
