//! Asserting what the daemon saw without sleeping: `GET /requests/count`
//! (how many journal records pass a filter) and `GET /requests/wait` (the
//! first record that passes it, as soon as there is one, or 408 after
//! `timeout_ms`). At most [`MAX_WAITERS`] waits run at once (503 beyond),
//! each at most [`MAX_WAIT_MS`], and every wait ends when the listener
//! stops.

use std::sync::Arc;

use hyper::StatusCode;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::handlers::{Reply, json_with, problem};
use super::query;
use crate::observe::Observer;

/// Waits running at once.
pub const MAX_WAITERS: usize = 32;
/// Longest wait, ms.
pub const MAX_WAIT_MS: u64 = 30_000;
/// A wait's length when the query names none, ms.
pub const DEFAULT_WAIT_MS: u64 = 5_000;

#[derive(Debug, Serialize)]
struct Count {
    count: usize,
}

/// `GET /requests/count?…` (the filters of `/requests`).
pub(super) fn count(observer: &Observer, query: Option<&str>) -> Reply {
    match query::journal_filter(query) {
        Ok(filter) => json_with(
            StatusCode::OK,
            &Count {
                count: observer.journal.count(&filter),
            },
        ),
        Err(error) => problem(StatusCode::BAD_REQUEST, &error.to_string()),
    }
}

/// `GET /requests/wait?…&timeout_ms=`: the oldest record that passes the
/// filters (200), once one exists, or 408 when none came in time.
pub(super) async fn wait(
    observer: &Observer,
    waiters: &Arc<Semaphore>,
    stop: &CancellationToken,
    query: Option<&str>,
) -> Reply {
    let (filter, extras) = match query::journal_query(query, &["timeout_ms"]) {
        Ok(parsed) => parsed,
        Err(error) => return problem(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    let timeout = match query::timeout_ms(extras[0].as_deref(), DEFAULT_WAIT_MS, MAX_WAIT_MS) {
        Ok(timeout) => timeout,
        Err(error) => return problem(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    let Ok(_waiting) = waiters.clone().try_acquire_owned() else {
        observer.metrics.bound_reached("waiters");
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("{MAX_WAITERS} waits are running already"),
        );
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(timeout);
    tokio::select! {
        found = observer.journal.wait(&filter, deadline) => match found {
            Some(record) => json_with(StatusCode::OK, &*record),
            None => problem(
                StatusCode::REQUEST_TIMEOUT,
                &format!("no matching request within {timeout} ms"),
            ),
        },
        () = stop.cancelled() => problem(StatusCode::SERVICE_UNAVAILABLE, "the admin listener is stopping"),
    }
}
