//! What each admin route answers, and the small response builders they
//! share. Handlers take only what they read, so they test without a daemon.

use bytes::Bytes;
use http_body_util::Full;
use std::sync::Arc;

use hyper::header::{
    ALLOW, CACHE_CONTROL, CONNECTION, CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE,
};
use hyper::{Response, StatusCode};
use serde::Serialize;

use super::OpenConnections;
use super::auth::Verdict;
use super::query;
use crate::engine::registrar::Registrar;
use crate::observe::{
    Journal, JournalFilter, Metrics, OPENMETRICS, Observer, PROMETHEUS_TEXT, Record,
};
use crate::transaction::TransactionLayer;

/// Every admin response.
pub(super) type Reply = Response<Full<Bytes>>;

const PLAIN: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

/// `GET /requests[?method=&rule=&call_id=&scope=&direction=&status=&since=&after=&limit=]`
/// (and `GET /requests/unmatched`, the requests no rule took): a page of
/// the journal, oldest first. The page is taken under the journal's lock
/// (shared records, no copies) and serialised on a blocking thread, so
/// neither the SIP path nor the runtime's threads wait for a big answer.
pub(super) async fn requests(
    observer: Arc<Observer>,
    query: Option<&str>,
    unmatched: bool,
) -> Reply {
    let filter = match query::journal_filter(query) {
        Ok(filter) => JournalFilter {
            unmatched,
            ..filter
        },
        Err(error) => return problem(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    let page = observer.journal.page(&filter);
    let encode = move || {
        let records: Vec<&Record> = page.iter().map(|r| &**r).collect();
        serde_json::to_vec(&records)
    };
    match tokio::task::spawn_blocking(encode).await {
        Ok(Ok(body)) => reply(StatusCode::OK, JSON, Bytes::from(body)),
        Ok(Err(error)) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode JSON: {error}\n"),
        ),
        Err(error) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode JSON: {error}\n"),
        ),
    }
}

/// 503 when the connection's class has no free slot; the connection closes.
pub(super) fn no_slot() -> Reply {
    let mut response = text(
        StatusCode::SERVICE_UNAVAILABLE,
        "too many admin connections of this kind\n",
    );
    let headers = response.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// `DELETE /requests`: empties the journal.
pub(super) fn clear(journal: &Journal) -> Reply {
    journal.clear();
    no_content()
}

/// What `/metrics` reads at scrape time besides the counters.
pub(super) struct Scrape<'a> {
    pub(super) layer: &'a TransactionLayer,
    pub(super) connections: &'a OpenConnections,
    pub(super) sequence_keys_evicted: u64,
    pub(super) udp_withheld: u64,
    /// The scraper asked for OpenMetrics (its `Accept` header).
    pub(super) openmetrics: bool,
}

/// `GET /metrics`: the gauges read now, then the exposition, in the
/// Prometheus text format or, when asked for, OpenMetrics.
pub(super) fn metrics(metrics: &Metrics, scrape: &Scrape<'_>) -> Reply {
    refresh(metrics, scrape.layer, scrape.connections);
    metrics.set_bound_reached("sequence_keys", scrape.sequence_keys_evicted);
    metrics.set_bound_reached("unverified_udp", scrape.udp_withheld);
    if scrape.openmetrics {
        reply(
            StatusCode::OK,
            OPENMETRICS,
            Bytes::from(metrics.encode_openmetrics()),
        )
    } else {
        reply(
            StatusCode::OK,
            PROMETHEUS_TEXT,
            Bytes::from(metrics.encode()),
        )
    }
}

/// Sets what is read rather than counted: transactions and dialogs in
/// flight, the retransmission total, open connections per transport.
/// The caller serialises scrapes (the retransmission counter is raised by
/// the difference from the engine's total).
pub(super) fn refresh(metrics: &Metrics, layer: &TransactionLayer, connections: &OpenConnections) {
    metrics
        .transactions
        .set(gauge(layer.transactions_in_progress()));
    metrics.dialogs.set(gauge(layer.dialogs()));
    let total = layer.retransmissions();
    let counted = metrics.retransmissions.get();
    if total > counted {
        metrics.retransmissions.inc_by(total - counted);
    }
    for (transport, open) in connections.per_transport() {
        metrics.set_connections(transport, gauge(open));
    }
    for bound in crate::transaction::Bound::ALL {
        metrics.set_bound_reached(bound.name(), layer.bound_reached(bound));
    }
}

fn gauge(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// `GET /health`: 200 once the listeners are bound, 503 before.
pub(super) fn health(observer: &Observer) -> Reply {
    if observer.is_ready() {
        text(StatusCode::OK, "ok\n")
    } else {
        text(StatusCode::SERVICE_UNAVAILABLE, "starting\n")
    }
}

/// One live registrar binding.
#[derive(Debug, Serialize)]
struct Registration {
    aor: String,
    contact: String,
    /// Seconds left.
    expires: u64,
}

/// `GET /registrations`: the live bindings, by address-of-record.
pub(super) fn registrations(registrar: &Registrar) -> Reply {
    let list: Vec<Registration> = registrar
        .list()
        .into_iter()
        .map(|(aor, contact, expires)| Registration {
            aor,
            contact,
            expires,
        })
        .collect();
    json(&list)
}

/// 401 with the challenge RFC 6750 §3 asks for.
pub(super) fn unauthorized(verdict: Verdict) -> Reply {
    let challenge = match verdict {
        Verdict::Invalid => "Bearer error=\"invalid_token\"",
        Verdict::Allowed | Verdict::Missing => "Bearer",
    };
    let mut response = text(StatusCode::UNAUTHORIZED, "a bearer token is required\n");
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    response
}

pub(super) fn not_found() -> Reply {
    text(
        StatusCode::NOT_FOUND,
        format!(
            "no such route (routes: {})\n",
            super::routes::Route::PATHS.join(", ")
        ),
    )
}

/// 204, no body.
pub(super) fn no_content() -> Reply {
    reply(StatusCode::NO_CONTENT, PLAIN, Bytes::new())
}

/// An error as JSON: `{"error": "…"}`.
pub(super) fn problem(status: StatusCode, message: &str) -> Reply {
    json_with(status, &serde_json::json!({ "error": message }))
}

/// `value` as JSON, with `status`.
pub(super) fn json_with<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Reply {
    match serde_json::to_vec(value) {
        Ok(body) => reply(status, JSON, Bytes::from(body)),
        Err(error) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode JSON: {error}\n"),
        ),
    }
}

/// 405 listing the methods the route takes.
pub(super) fn method_not_allowed(allow: &'static str) -> Reply {
    let mut response = text(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("allowed: {allow}\n"),
    );
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

fn json<T: Serialize + ?Sized>(value: &T) -> Reply {
    json_with(StatusCode::OK, value)
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Reply {
    reply(status, PLAIN, body.into())
}

fn reply(status: StatusCode, content_type: &'static str, body: Bytes) -> Reply {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;

    use super::*;
    use crate::observe::JournalSettings;

    fn body(reply: Reply) -> String {
        let bytes = futures_util::FutureExt::now_or_never(reply.into_body().collect())
            .map(|collected| collected.map(|c| c.to_bytes()));
        match bytes {
            Some(Ok(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
            _ => String::new(),
        }
    }

    #[test]
    fn health_follows_readiness() {
        let observer = observer();
        let reply = health(&observer);
        assert_eq!(reply.status(), StatusCode::SERVICE_UNAVAILABLE);
        observer.set_ready(true);
        let reply = health(&observer);
        assert_eq!(reply.status(), StatusCode::OK);
        assert_eq!(body(reply), "ok\n");
    }

    fn observer() -> Arc<Observer> {
        Arc::new(Observer::new(JournalSettings::in_memory(4)).expect("observer without a file"))
    }

    #[tokio::test]
    async fn an_empty_journal_is_an_empty_array() {
        let observer = observer();
        let reply = requests(observer.clone(), None, false).await;
        assert_eq!(reply.status(), StatusCode::OK);
        assert_eq!(
            reply.headers().get(CONTENT_TYPE).map(HeaderValue::as_bytes),
            Some(JSON.as_bytes())
        );
        assert_eq!(body(reply), "[]");
        let reply = clear(&observer.journal);
        assert_eq!(reply.status(), StatusCode::NO_CONTENT);
    }

    #[tokio::test]
    async fn a_bad_query_is_a_400_that_says_why() {
        let reply = requests(observer(), Some("since=soon"), false).await;
        assert_eq!(reply.status(), StatusCode::BAD_REQUEST);
        assert!(body(reply).contains("`since`"));
    }

    #[test]
    fn refusals_carry_their_headers() {
        let reply = unauthorized(Verdict::Missing);
        assert_eq!(reply.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(reply.headers()[WWW_AUTHENTICATE], "Bearer");
        let reply = unauthorized(Verdict::Invalid);
        assert_eq!(
            reply.headers()[WWW_AUTHENTICATE],
            "Bearer error=\"invalid_token\""
        );
        let reply = method_not_allowed("GET, HEAD, DELETE");
        assert_eq!(reply.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(reply.headers()[ALLOW], "GET, HEAD, DELETE");
        assert_eq!(not_found().status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn a_scrape_reads_the_layer_and_sums_connections_per_transport() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};

        use crate::sip::Transport;

        let layer = TransactionLayer::new();
        let open = |n| Arc::new(AtomicUsize::new(n));
        let first_tcp = open(2);
        let connections = OpenConnections::new(vec![
            (Transport::Tcp, first_tcp.clone()),
            (Transport::Ws, open(1)),
            (Transport::Tcp, open(3)),
        ]);
        let observed = Metrics::new();
        let scrape = Scrape {
            layer: &layer,
            connections: &connections,
            sequence_keys_evicted: 0,
            udp_withheld: 0,
            openmetrics: false,
        };
        let text = body(metrics(&observed, &scrape));
        for line in [
            "sip_autoresponder_connections{transport=\"tcp\"} 5",
            "sip_autoresponder_connections{transport=\"ws\"} 1",
            "sip_autoresponder_transactions_in_progress 0",
            "sip_autoresponder_dialogs 0",
            "sip_autoresponder_retransmissions_total 0",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
        }
        assert!(
            !text.contains("transport=\"udp\""),
            "no listener, no series:\n{text}"
        );
        first_tcp.store(0, Ordering::Relaxed);
        let text = body(metrics(&observed, &scrape));
        assert!(
            text.lines()
                .any(|l| l == "sip_autoresponder_connections{transport=\"tcp\"} 3"),
            "{text}"
        );
    }

    #[test]
    fn registrations_are_a_json_list() {
        let reply = registrations(&Registrar::default());
        assert_eq!(reply.status(), StatusCode::OK);
        assert_eq!(body(reply), "[]");
    }
}
