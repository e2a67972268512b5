//! The admin HTTP listener: the request journal, Prometheus metrics, health
//! and the registrar's bindings, over HTTP/1.1 (hyper).
//!
//! | route | methods | answer |
//! |---|---|---|
//! | `/requests` | GET, HEAD | a page of the journal as a JSON array, oldest first; `?method=&rule=&call_id=&since=&after=&limit=` |
//! | `/requests` | DELETE | empties the journal: 204 |
//! | `/metrics` | GET, HEAD | Prometheus text (gauges read at scrape time) |
//! | `/health` | GET, HEAD | 200 `ok` once the listeners are bound, else 503; never needs the token |
//! | `/registrations` | GET, HEAD | the registrar's live bindings as JSON |
//!
//! Bounded: at most [`slots::TOTAL`] connections (more are closed at once),
//! of which unauthenticated ones (`/health` pollers) hold at most
//! [`slots::PUBLIC`] (see `slots.rs`); request heads of at most
//! [`MAX_HEAD`] bytes read within [`HEADER_READ_TIMEOUT`] (which also ends
//! idle keep-alive connections), request bodies never read, and a
//! connection lives at most [`CONNECTION_LIFETIME`]. Journal pages are
//! serialised on a blocking thread, after the journal's lock is released.
//! A connection's error ends that connection only.

mod auth;
mod connections;
mod handlers;
mod query;
pub mod slots;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use auth::Verdict;
pub use connections::OpenConnections;

use crate::engine::Engine;
use crate::observe::Observer;
use handlers::Reply;
use slots::{Class, ConnectionSlot, Slots};

/// A request head must arrive within this (from the connection's start,
/// or from the end of the previous response on a keep-alive connection).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head, bytes (hyper answers 431 beyond it).
pub const MAX_HEAD: usize = 16 * 1024;
/// A keep-alive connection is closed (gracefully) after this.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// How long an in-flight response may take once shutdown is asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Pause after a failed accept (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What the admin routes read.
#[derive(Debug)]
pub struct AdminState {
    pub observer: Arc<Observer>,
    pub engine: Arc<Engine>,
    /// When set, every route but `/health` needs `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Open connections of the running stream listeners.
    pub connections: Arc<OpenConnections>,
}

/// The state and what serialises scrapes.
#[derive(Debug)]
struct Shared {
    state: Arc<AdminState>,
    /// `/metrics` refreshes counters from totals: one scrape at a time.
    scrape: Mutex<()>,
}

/// Serves the admin routes on `listener` until `cancel` fires, then lets
/// open connections finish their response (bounded) and returns.
pub async fn serve(listener: TcpListener, state: Arc<AdminState>, cancel: CancellationToken) {
    let shared = Arc::new(Shared {
        state,
        scrape: Mutex::new(()),
    });
    let slots = Arc::new(Slots::new());
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match slots.accept() {
                    Some(slot) => {
                        let shared = shared.clone();
                        connections.spawn(connection(stream, peer, shared, cancel.clone(), slot));
                    }
                    None => debug!(%peer, "admin connection refused: {} already open", slots::TOTAL),
                },
                Err(error) => {
                    crate::warn_limited!(%error, "admin listener cannot accept");
                    tokio::select! {
                        () = cancel.cancelled() => break,
                        () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                    }
                }
            },
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// One HTTP/1.1 connection, until the client closes it, it fails, its
/// lifetime ends or the listener stops.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    slot: ConnectionSlot,
) {
    let _ = stream.set_nodelay(true);
    let slot = Arc::new(slot);
    let service = service_fn(move |request: Request<Incoming>| {
        let (shared, slot) = (shared.clone(), slot.clone());
        async move { Ok::<_, Infallible>(route(&shared, &slot, &request).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => return finished(peer, result),
        () = cancel.cancelled() => {}
        () = tokio::time::sleep(CONNECTION_LIFETIME) => {}
    }
    connection.as_mut().graceful_shutdown();
    match tokio::time::timeout(SHUTDOWN_GRACE, connection).await {
        Ok(result) => finished(peer, result),
        Err(_) => debug!(%peer, "admin connection dropped after the shutdown grace"),
    }
}

fn finished(peer: SocketAddr, result: Result<(), hyper::Error>) {
    if let Err(error) = result {
        debug!(%peer, %error, "admin connection ended");
    }
}

/// The routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Requests,
    Metrics,
    Health,
    Registrations,
}

impl Route {
    fn of(path: &str) -> Option<Self> {
        match path {
            "/requests" => Some(Self::Requests),
            "/metrics" => Some(Self::Metrics),
            "/health" => Some(Self::Health),
            "/registrations" => Some(Self::Registrations),
            _ => None,
        }
    }

    /// The `Allow` header of the route.
    const fn allow(self) -> &'static str {
        match self {
            Self::Requests => "GET, HEAD, DELETE",
            Self::Metrics | Self::Health | Self::Registrations => "GET, HEAD",
        }
    }
}

/// Authorizes, routes and answers one request (its body is never read).
async fn route(shared: &Shared, slot: &ConnectionSlot, request: &Request<Incoming>) -> Reply {
    let state = &shared.state;
    let route = Route::of(request.uri().path());
    let verdict = match route {
        Some(Route::Health) => None,
        _ => Some(auth::check(state.token.as_deref(), request.headers())),
    };
    let class = match verdict {
        Some(Verdict::Allowed) => Class::Authorized,
        _ => Class::Public,
    };
    if !slot.admit(class) {
        return handlers::no_slot();
    }
    if let Some(verdict) = verdict.filter(|v| *v != Verdict::Allowed) {
        return handlers::unauthorized(verdict);
    }
    let Some(route) = route else {
        return handlers::not_found();
    };
    let method = request.method();
    let read = method == Method::GET || method == Method::HEAD;
    match (route, read) {
        (Route::Requests, true) => {
            handlers::requests(state.observer.clone(), request.uri().query()).await
        }
        (Route::Requests, false) if method == Method::DELETE => {
            handlers::clear(&state.observer.journal)
        }
        (Route::Metrics, true) => {
            let _one_at_a_time = shared
                .scrape
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            handlers::metrics(
                &state.observer.metrics,
                state.engine.transactions(),
                &state.connections,
                state.engine.sequence_keys_evicted(),
                state.engine.udp_withheld(),
            )
        }
        (Route::Health, true) => handlers::health(&state.observer),
        (Route::Registrations, true) => handlers::registrations(state.engine.registrar()),
        (route, _) => handlers::method_not_allowed(route.allow()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_exact() {
        assert_eq!(Route::of("/requests"), Some(Route::Requests));
        assert_eq!(Route::of("/metrics"), Some(Route::Metrics));
        assert_eq!(Route::of("/health"), Some(Route::Health));
        assert_eq!(Route::of("/registrations"), Some(Route::Registrations));
        for other in ["/", "", "/requests/", "/Requests", "/metrics/x", "/healthz"] {
            assert_eq!(Route::of(other), None, "{other}");
        }
    }

    #[test]
    fn allow_lists_the_methods() {
        assert_eq!(Route::Requests.allow(), "GET, HEAD, DELETE");
        assert_eq!(Route::Metrics.allow(), "GET, HEAD");
    }
}
