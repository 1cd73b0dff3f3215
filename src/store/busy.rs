//! The one place where a SQLite write waits for another process: starting a write transaction that meets
//! SQLITE_BUSY (5), one of its extended codes (BUSY_SNAPSHOT 517, BUSY_RECOVERY 261, BUSY_TIMEOUT 773) or
//! "database is locked" after the connection's `busy_timeout` is tried again with a bounded, jittered backoff.
//! Inside one process writes already take turns (`Store::begin_write`); this covers the CLI beside the daemon.
//! The rule is in `docs/storage.md` ("One writer discipline").

use std::time::{Duration, Instant};

/// How long, in all, a write keeps trying after the first busy error (on top of the busy timeout that error
/// usually comes after).
const BUDGET: Duration = Duration::from_secs(5);
const FIRST: Duration = Duration::from_millis(20);
const MOST: Duration = Duration::from_millis(500);

/// Whether `e` says another connection holds SQLite's write lock (worth trying again), as opposed to a real
/// failure.
pub(crate) fn is_busy(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            let code_busy = db
                .code()
                .and_then(|c| c.parse::<i64>().ok())
                // The primary result code is the low byte of an extended one.
                .is_some_and(|c| c & 0xff == 5);
            code_busy || db.message().contains("database is locked")
        }
        _ => false,
    }
}

/// Whether an error anywhere in `e`'s chain is [`is_busy`] (for callers above the store, such as the inbox, that
/// tell a transient failure from a bad file).
pub fn is_transient(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<sqlx::Error>())
        .any(is_busy)
}

/// The backoff of one write: call [`Backoff::again`] with each error; it sleeps and says true while the error is
/// busy and the budget lasts.
pub(crate) struct Backoff {
    /// When the first busy error came.
    since: Option<Instant>,
    next: Duration,
    tries: u32,
}

impl Backoff {
    pub(crate) fn new() -> Backoff {
        Backoff {
            since: None,
            next: FIRST,
            tries: 0,
        }
    }

    pub(crate) async fn again(&mut self, e: &sqlx::Error) -> bool {
        if !is_busy(e) || self.since.get_or_insert_with(Instant::now).elapsed() >= BUDGET {
            return false;
        }
        self.tries += 1;
        // Full jitter: two processes that met the lock together do not try again together.
        let wait = self.next.mul_f64(0.5 + jitter() / 2.0);
        self.next = (self.next * 2).min(MOST);
        tracing::debug!(
            attempt = self.tries,
            wait_ms = wait.as_millis() as u64,
            "the database is locked by another process; trying again"
        );
        tokio::time::sleep(wait).await;
        true
    }
}

/// A number in [0, 1) that differs between calls and processes (no random crate needed for a backoff).
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}
