//! Planning of query windows: the daily sliding window of recent days, the one-time backfill split into calendar
//! months, and SAT's rules on periods (local time, `FechaInicial < FechaFinal`, not older than 6 years at
//! midnight — sat.md §5.3). Planning is deterministic: the same day and settings always give the same keys.

use crate::checkpoint::{Origin, RequestRow, RowState, SatState};
use crate::envelope::{Direction, QueryParams, RequestType};
use crate::settings::SatSettings;
use chrono::{
    DateTime, Datelike, Duration, FixedOffset, Months, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    Utc,
};

/// Mexico City has been UTC-6 all year since October 2022; SAT compares query dates with local issue times.
pub fn sat_offset() -> FixedOffset {
    FixedOffset::west_opt(6 * 3600).unwrap_or(Utc.fix())
}

/// Today's civil date in SAT local time.
pub fn today(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&sat_offset()).date_naive()
}

/// The oldest `FechaInicial` the service accepts: today − 6 years at 00:00 (local).
pub fn oldest_allowed(now: DateTime<Utc>) -> NaiveDate {
    let t = today(now);
    t.checked_sub_months(Months::new(72)).unwrap_or(t)
}

/// The kinds of request planned for each window: metadata first (cheap, shows cancellations), then CFDI.
fn kinds(settings: &SatSettings) -> Vec<(Direction, RequestType)> {
    let mut v = vec![
        (Direction::Emitidos, RequestType::Metadata),
        (Direction::Emitidos, RequestType::Cfdi),
    ];
    if settings.recibidos {
        v.push((Direction::Recibidos, RequestType::Metadata));
        v.push((Direction::Recibidos, RequestType::Cfdi));
    }
    v
}

fn add_window(
    state: &mut SatState,
    origin: Origin,
    from: NaiveDate,
    to: NaiveDate,
    settings: &SatSettings,
    now: DateTime<Utc>,
) {
    for (dir, kind) in kinds(settings) {
        let row = RequestRow::new(origin, dir, kind, from, to, now);
        if !state.requests.iter().any(|r| r.key == row.key) {
            state.requests.push(row);
        }
    }
}

/// Adds the rows due today. Returns how many were added.
pub fn plan(state: &mut SatState, settings: &SatSettings, now: DateTime<Utc>) -> usize {
    let before = state.requests.len();
    let today = today(now);
    let yesterday = today.pred_opt().unwrap_or(today);
    let window = i64::from(settings.window_days.max(1));
    let oldest = oldest_allowed(now);

    // Daily sliding window ending yesterday; after a long outage it reaches back to where coverage stopped.
    if !matches!(state.daily_covered_to, Some(c) if c >= yesterday) {
        let mut from = today - Duration::days(window);
        if let Some(c) = state.daily_covered_to {
            let resume = c.succ_opt().unwrap_or(c);
            from = from.min(resume);
        }
        let from = from.max(oldest);
        add_window(state, Origin::Daily, from, yesterday, settings, now);
        if state.backfill_to.is_none() {
            // The backfill ends where the first daily window starts.
            state.backfill_to = Some(from.pred_opt().unwrap_or(from));
        }
        state.daily_covered_to = Some(yesterday);
    }

    if let (Some(wanted), Some(end)) = (settings.backfill_from, state.backfill_to) {
        let wanted = wanted.max(oldest);
        let stop = match state.backfill_from {
            None => Some(end),
            Some(done_from) if wanted < done_from => done_from.pred_opt(),
            Some(_) => None,
        };
        if let Some(stop) = stop {
            if wanted <= stop {
                let mut from = wanted;
                while from <= stop {
                    let next_month = NaiveDate::from_ymd_opt(from.year(), from.month(), 1)
                        .and_then(|d| d.checked_add_months(Months::new(1)))
                        .unwrap_or(stop);
                    let to = next_month.pred_opt().unwrap_or(stop).min(stop);
                    add_window(state, Origin::Backfill, from, to, settings, now);
                    match to.succ_opt() {
                        Some(n) => from = n,
                        None => break,
                    }
                }
            }
            state.backfill_from = Some(state.backfill_from.map_or(wanted, |d| d.min(wanted)));
        }
    }
    state.requests.len() - before
}

/// Drops finished rows not touched for 35 days so the checkpoint stays small.
pub fn prune(state: &mut SatState, now: DateTime<Utc>) {
    let horizon = now - Duration::days(35);
    state
        .requests
        .retain(|r| !(r.state.is_terminal() && r.updated_at < horizon));
}

/// The query parameters of a row: `[from 00:00:00 − variant s, to 23:59:59]`, status `Todos` except received
/// CFDI (`Vigente`, the only one allowed).
pub fn params(row: &RequestRow) -> QueryParams {
    let start =
        NaiveDateTime::new(row.from, NaiveTime::MIN) - Duration::seconds(i64::from(row.variant));
    let end = NaiveDateTime::new(
        row.to,
        NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN),
    );
    let status = if row.direction == Direction::Recibidos && row.request_type == RequestType::Cfdi {
        "Vigente"
    } else {
        "Todos"
    };
    QueryParams {
        direction: row.direction,
        start,
        end,
        request_type: row.request_type,
        document_status: Some(status.into()),
        document_type: None,
        complemento: None,
        rfc_a_cuenta_terceros: None,
        counterparts: Vec::new(),
    }
}

/// Splits a row's period in two new rows (after 5003, too many results). `None` when it is a single day.
pub fn split(row: &RequestRow, now: DateTime<Utc>) -> Option<(RequestRow, RequestRow)> {
    let days = (row.to - row.from).num_days();
    if days < 1 {
        return None;
    }
    let mid = row.from + Duration::days(days / 2);
    let a = RequestRow::new(
        Origin::Split,
        row.direction,
        row.request_type,
        row.from,
        mid,
        now,
    );
    let b = RequestRow::new(
        Origin::Split,
        row.direction,
        row.request_type,
        mid.succ_opt()?,
        row.to,
        now,
    );
    Some((a, b))
}

/// Whether a row waits to be sent now.
pub fn due_for_send(row: &RequestRow, now: DateTime<Utc>) -> bool {
    row.state == RowState::Planned && !matches!(row.next_action_at, Some(t) if t > now)
}
