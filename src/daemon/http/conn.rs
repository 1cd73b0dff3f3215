//! The HTTP connections, served by hand rather than by `axum::serve` so that a crowd of idle sockets cannot starve
//! real requests: at most `http.max_connections` at once (past it, the oldest connection that has sent nothing, or
//! else the one idle longest, is closed for the newcomer), `http.header_read_timeout_secs` to send a request's
//! headers, `http.idle_timeout_secs` without a byte and without a request in flight, and
//! `http.request_timeout_secs` for one request (408 after it).

use crate::config::HttpSettings;
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, Semaphore};

#[derive(Clone, Copy)]
struct Limits {
    max: usize,
    header_read: Duration,
    idle: Duration,
    request: Duration,
}

/// What the accept loop knows of one live connection.
struct ConnState {
    read_any: AtomicBool,
    in_flight: AtomicUsize,
    /// Milliseconds since [`epoch`] of the last byte read or written.
    last_active: AtomicU64,
    close: Notify,
}

type Live = Arc<Mutex<BTreeMap<u64, Arc<ConnState>>>>;

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    epoch().elapsed().as_millis() as u64
}

pub(super) async fn serve(
    router: Router,
    listener: TcpListener,
    settings: &HttpSettings,
    mut stop: watch::Receiver<bool>,
) {
    let limits = Limits {
        max: settings.max_connections,
        header_read: Duration::from_secs(settings.header_read_timeout_secs),
        idle: Duration::from_secs(settings.idle_timeout_secs),
        request: Duration::from_secs(settings.request_timeout_secs),
    };
    let permits = Arc::new(Semaphore::new(limits.max));
    let live: Live = Arc::default();
    let service = TowerToHyperService::new(router);
    let mut next_id = 0u64;
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => None,
            accepted = listener.accept() => Some(accepted),
        };
        let (stream, peer) = match accepted {
            None => break,
            Some(Ok(a)) => a,
            Some(Err(e)) => {
                // Out of file descriptors, most likely: wait for some to be given back.
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                make_room(&live);
                match tokio::time::timeout(limits.header_read, permits.clone().acquire_owned())
                    .await
                {
                    Ok(Ok(p)) => p,
                    _ => {
                        metrics::counter!("cuadra_http_connections_closed_total", "reason" => "refused")
                            .increment(1);
                        continue;
                    }
                }
            }
        };
        next_id += 1;
        let id = next_id;
        let state = Arc::new(ConnState {
            read_any: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            last_active: AtomicU64::new(now_ms()),
            close: Notify::new(),
        });
        live.lock()
            .expect("live connections")
            .insert(id, state.clone());
        let live = live.clone();
        let service = service.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            connection(stream, peer, state, service, limits, stop).await;
            live.lock().expect("live connections").remove(&id);
            drop(permit);
        });
    }
    // Wait for the connections to finish (idle ones close at once on the stop signal).
    let _ = permits.acquire_many(limits.max as u32).await;
}

/// Closes one connection to make room: the oldest that has sent nothing, or else the one idle longest.
fn make_room(live: &Live) {
    let live = live.lock().expect("live connections");
    let idle = live
        .values()
        .filter(|c| c.in_flight.load(Ordering::Acquire) == 0);
    let victim = idle
        .clone()
        .find(|c| !c.read_any.load(Ordering::Acquire))
        .or_else(|| idle.min_by_key(|c| c.last_active.load(Ordering::Acquire)));
    if let Some(v) = victim {
        metrics::counter!("cuadra_http_connections_closed_total", "reason" => "evicted")
            .increment(1);
        v.close.notify_one();
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    state: Arc<ConnState>,
    service: TowerToHyperService<Router>,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let io = TokioIo::new(Tracked {
        inner: stream,
        state: state.clone(),
    });
    let svc_state = state.clone();
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let state = svc_state.clone();
        let fut = hyper::service::Service::call(&service, req);
        async move {
            state.in_flight.fetch_add(1, Ordering::AcqRel);
            let _done = InFlight(state);
            let resp = match tokio::time::timeout(limits.request, fut).await {
                Ok(Ok(r)) => r,
                Ok(Err(never)) => match never {},
                Err(_) => {
                    tracing::warn!(%peer, "a request took longer than http.request_timeout_secs");
                    (StatusCode::REQUEST_TIMEOUT, "the request took too long\n").into_response()
                }
            };
            Ok::<_, std::convert::Infallible>(resp)
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .keep_alive(true)
        .serve_connection(io, svc);
    tokio::pin!(conn);
    let mut tick = tokio::time::interval((limits.idle / 4).max(Duration::from_millis(250)));
    let mut stopping = false;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "connection ended");
                }
                return;
            }
            _ = state.close.notified() => return,
            _ = stop.wait_for(|s| *s), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tick.tick() => {
                let quiet = now_ms().saturating_sub(state.last_active.load(Ordering::Acquire));
                if state.in_flight.load(Ordering::Acquire) == 0 && quiet >= limits.idle.as_millis() as u64 {
                    metrics::counter!("cuadra_http_connections_closed_total", "reason" => "idle").increment(1);
                    return;
                }
            }
        }
    }
}

struct InFlight(Arc<ConnState>);
impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.last_active.store(now_ms(), Ordering::Release);
    }
}

/// The socket, noting when it last carried a byte and whether it ever sent one.
struct Tracked {
    inner: TcpStream,
    state: Arc<ConnState>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.state.read_any.store(true, Ordering::Release);
            self.state.last_active.store(now_ms(), Ordering::Release);
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.state.last_active.store(now_ms(), Ordering::Release);
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
