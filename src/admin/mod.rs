//! The admin HTTP listener: the request journal, Prometheus metrics,
//! health and the registrar's bindings, and the test-lab control (rules at
//! run time, scopes, resets, waits), over HTTP/1.1 (hyper). The routes and
//! their answers are described in docs/admin-api.openapi.json.
//!
//! | route | methods | answer |
//! |---|---|---|
//! | `/requests` | GET, HEAD, DELETE | a page of the journal as a JSON array, oldest first (filters: `method rule call_id scope direction status since after limit`); DELETE empties it |
//! | `/requests/count`, `/requests/wait`, `/requests/unmatched` | GET, HEAD | how many pass the filters; the first that does, waiting for it (408 after `timeout_ms`); those no rule took, with their near misses |
//! | `/rules`, `/rules/{name}` | GET, POST; GET, PUT, DELETE | the live rule set; add, replace, delete API rules |
//! | `/dialogs`, `/dialogs/{call_id}` | GET; DELETE | live dialogs; end one with BYE |
//! | `/scopes/{scope}` | DELETE | the scope's API rules, records and dialogs |
//! | `/reset`, `/reset/{sequences,counters,registrations,dialogs}` | POST | reset state |
//! | `/reload` | POST | reload the config file (`?keep_api_rules=false`) |
//! | `/metrics` | GET, HEAD | Prometheus text, or OpenMetrics when asked for |
//! | `/health` | GET, HEAD | 200 `ok` once the listeners are bound, else 503; never needs the token |
//! | `/registrations` | GET, HEAD | the registrar's live bindings as JSON |
//!
//! Bounded: at most [`slots::TOTAL`] connections (more are closed at once),
//! of which unauthenticated ones (`/health` pollers) hold at most
//! [`slots::PUBLIC`] (see `slots.rs`); request heads of at most
//! [`MAX_HEAD`] bytes read within [`HEADER_READ_TIMEOUT`] (which also ends
//! idle keep-alive connections); bodies only for `/rules`, at most
//! [`body::MAX_BODY`] bytes within [`body::BODY_READ_TIMEOUT`]; at most
//! [`verify::MAX_WAITERS`] waits; and a connection lives at most
//! [`CONNECTION_LIFETIME`] (longer while a wait it runs lasts). Journal
//! pages are serialised on a blocking thread, after the journal's lock is
//! released. A connection's error ends that connection only.

mod auth;
pub mod body;
mod connections;
mod dialogs;
mod handlers;
mod lab_routes;
mod query;
mod routes;
mod since;
pub mod slots;
pub mod verify;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use auth::Verdict;
pub use connections::OpenConnections;
pub use lab_routes::ReloadRequest;

use crate::engine::Engine;
use crate::lab::Lab;
use crate::observe::Observer;
use handlers::Reply;
use routes::Route;
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

/// What the admin routes read and change.
#[derive(Debug)]
pub struct AdminState {
    pub observer: Arc<Observer>,
    pub engine: Arc<Engine>,
    /// The live rule set's writer and the resets.
    pub lab: Arc<Lab>,
    /// When set, every route but `/health` needs `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Open connections of the running stream listeners.
    pub connections: Arc<OpenConnections>,
    /// Where `POST /reload` asks the daemon to reload (`None`: it cannot).
    pub reloads: Option<tokio::sync::mpsc::Sender<ReloadRequest>>,
}

/// The state and what serialises scrapes.
#[derive(Debug)]
struct Shared {
    state: Arc<AdminState>,
    /// `/metrics` refreshes counters from totals: one scrape at a time.
    scrape: Mutex<()>,
    /// Waits running (`GET /requests/wait`).
    waiters: Arc<tokio::sync::Semaphore>,
    /// The listener stops: waits end.
    stop: CancellationToken,
}

/// Serves the admin routes on `listener` until `cancel` fires, then lets
/// open connections finish their response (bounded) and returns.
pub async fn serve(listener: TcpListener, state: Arc<AdminState>, cancel: CancellationToken) {
    let shared = Arc::new(Shared {
        state,
        scrape: Mutex::new(()),
        waiters: Arc::new(tokio::sync::Semaphore::new(verify::MAX_WAITERS)),
        stop: cancel.clone(),
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
        async move { Ok::<_, Infallible>(route(&shared, &slot, request).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    let grace = tokio::select! {
        result = connection.as_mut() => return finished(peer, result),
        () = cancel.cancelled() => SHUTDOWN_GRACE,
        // A wait under way may take its whole time.
        () = tokio::time::sleep(CONNECTION_LIFETIME) => SHUTDOWN_GRACE + Duration::from_millis(verify::MAX_WAIT_MS),
    };
    connection.as_mut().graceful_shutdown();
    match tokio::time::timeout(grace, connection).await {
        Ok(result) => finished(peer, result),
        Err(_) => debug!(%peer, "admin connection dropped after the shutdown grace"),
    }
}

fn finished(peer: SocketAddr, result: Result<(), hyper::Error>) {
    if let Err(error) = result {
        debug!(%peer, %error, "admin connection ended");
    }
}

/// Authorizes, routes and answers one request.
async fn route(shared: &Shared, slot: &ConnectionSlot, request: Request<Incoming>) -> Reply {
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
    let method = request.method().clone();
    if method == Method::GET || method == Method::HEAD {
        read_route(shared, &route, &request).await
    } else {
        write_route(shared, route, &method, request).await
    }
}

/// GET and HEAD.
async fn read_route(shared: &Shared, route: &Route, request: &Request<Incoming>) -> Reply {
    let state = &shared.state;
    let query = request.uri().query();
    match route {
        Route::Requests => handlers::requests(state.observer.clone(), query, false).await,
        Route::Unmatched => handlers::requests(state.observer.clone(), query, true).await,
        Route::RequestCount => verify::count(&state.observer, query),
        Route::RequestWait => {
            verify::wait(&state.observer, &shared.waiters, &shared.stop, query).await
        }
        Route::Metrics => {
            let _one_at_a_time = shared
                .scrape
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            state.observer.metrics.set_media(state.engine.media());
            let accept = request.headers().get(hyper::header::ACCEPT);
            let scrape = handlers::Scrape {
                layer: state.engine.transactions(),
                connections: &state.connections,
                sequence_keys_evicted: state.engine.sequence_keys_evicted(),
                udp_withheld: state.engine.udp_withheld(),
                openmetrics: accept
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(crate::observe::wants_openmetrics),
            };
            handlers::metrics(&state.observer.metrics, &scrape)
        }
        Route::Health => handlers::health(&state.observer),
        Route::Registrations => handlers::registrations(state.engine.registrar()),
        Route::Rules => lab_routes::list(&state.lab, None),
        Route::Rule(name) => lab_routes::list(&state.lab, Some(name)),
        Route::Dialogs => dialogs::list(state.engine.transactions(), query),
        Route::BadPath => bad_path(),
        route => handlers::method_not_allowed(route.allow()),
    }
}

/// POST, PUT and DELETE.
async fn write_route(
    shared: &Shared,
    route: Route,
    method: &Method,
    request: Request<Incoming>,
) -> Reply {
    let state = &shared.state;
    let query = request.uri().query().map(str::to_owned);
    let query = query.as_deref();
    match (route, method) {
        (Route::Requests, &Method::DELETE) => handlers::clear(&state.observer.journal),
        (Route::Rules, &Method::POST) => {
            let content_type = content_type(&request);
            match body::read(request).await {
                Ok(body) => lab_routes::add(&state.lab, query, content_type.as_deref(), &body),
                Err(error) => body_refused(&error),
            }
        }
        (Route::Rule(name), &Method::PUT) => {
            let content_type = content_type(&request);
            match body::read(request).await {
                Ok(body) => lab_routes::replace(&state.lab, &name, content_type.as_deref(), &body),
                Err(error) => body_refused(&error),
            }
        }
        (Route::Rule(name), &Method::DELETE) => lab_routes::delete(&state.lab, &name),
        (Route::Dialog(call_id), &Method::DELETE) => {
            dialogs::end(state.engine.transactions(), &call_id)
        }
        (Route::Scope(scope), &Method::DELETE) => lab_routes::delete_scope(&state.lab, &scope),
        (Route::Reset(target), &Method::POST) => match query::none(query) {
            Ok(()) => lab_routes::reset(&state.lab, target),
            Err(error) => handlers::problem(StatusCode::BAD_REQUEST, &error.to_string()),
        },
        (Route::Reload, &Method::POST) => lab_routes::reload(state.reloads.as_ref(), query).await,
        (Route::BadPath, _) => bad_path(),
        (route, _) => handlers::method_not_allowed(route.allow()),
    }
}

fn content_type(request: &Request<Incoming>) -> Option<String> {
    request
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn body_refused(error: &body::BodyError) -> Reply {
    let status = match error {
        body::BodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        body::BodyError::Timeout => StatusCode::REQUEST_TIMEOUT,
        body::BodyError::Failed(_) | body::BodyError::NotText => StatusCode::BAD_REQUEST,
    };
    handlers::problem(status, &error.to_string())
}

fn bad_path() -> Reply {
    handlers::problem(
        StatusCode::BAD_REQUEST,
        "a path segment is not percent-encoded UTF-8",
    )
}
