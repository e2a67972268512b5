//! What the admin listener shows: the request journal and the metrics. The
//! engine, contexts, the transaction layer (requests it sends) and the
//! daemon feed an [`Observer`]; nothing is collected when the admin
//! listener is off.

mod auth;
mod cut;
mod exposition;
mod filter;
mod journal;
mod journal_file;
mod media;
mod metrics;
mod record;
mod sent;

use std::sync::atomic::{AtomicBool, Ordering};

pub use auth::{AUTH_VALUE_LIMIT, AuthRecord};
pub use cut::{BODY_LIMIT, MAX_FIELDS, VALUE_LIMIT};
pub use exposition::{OPENMETRICS, PROMETHEUS_TEXT, wants_openmetrics};
pub use filter::JournalFilter;
pub use journal::{DEFAULT_PAGE, Journal, JournalSettings, MAX_PAGE};
pub use metrics::{MAX_RESPONSE_SERIES, Metrics, OTHER_RULE};
pub use record::{Direction, Endpoints, MAX_MEDIA_EVENTS, MAX_RESPONSES, Record};
pub use sent::{ResponseRecord, SentOutcome};

use crate::rules::NearMiss;
use crate::sip::{Cause, Message, Request};
use crate::transaction::{ClientOutcome, SentLog, SentResponse};
use crate::transport::Flow;

/// Credentials refused, as the journal and the metrics see it.
#[derive(Debug, Clone, Copy)]
pub struct AuthRefusal<'a> {
    /// The username the credentials named, if any.
    pub user: Option<&'a str>,
    pub realm: &'a str,
    /// Why (`auth::FailReason`'s names); `None`: no credentials came.
    pub reason: Option<&'static str>,
    /// The challenge says `stale=true`.
    pub stale: bool,
    /// 401, 407 or 403.
    pub status: u16,
}

/// The journal and the metrics of one daemon.
#[derive(Debug)]
pub struct Observer {
    pub journal: Journal,
    pub metrics: Metrics,
    ready: AtomicBool,
}

impl Observer {
    /// A journal as `journal` says (its file, if any, gets every record
    /// as a JSON line) and fresh metrics.
    pub fn new(journal: JournalSettings) -> std::io::Result<Self> {
        let metrics = Metrics::new();
        let file_dropped = metrics.drop_counter("journal file behind");
        Ok(Self {
            journal: Journal::new(journal, file_dropped)?,
            metrics,
            ready: AtomicBool::new(false),
        })
    }

    /// Listeners are bound (`GET /health` answers 200 from now on).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// A request the transaction layer took as new (retransmissions are
    /// not); returns its journal id.
    pub fn request(&self, request: &Request, endpoints: Endpoints, scope: Option<&str>) -> u64 {
        self.metrics.request(request.method(), endpoints.transport);
        let record = Record::of(
            request.message(),
            Direction::Received,
            endpoints,
            scope,
            None,
        );
        self.journal.add(record)
    }

    /// A request that failed validation, with why (the 400's reason);
    /// returns its journal id.
    pub fn malformed(&self, message: &Message, error: &str, flow: &Flow) -> u64 {
        let endpoints = Endpoints {
            transport: flow.transport,
            source: flow.peer,
            destination: flow.local,
        };
        let record = Record::of(message, Direction::Received, endpoints, None, Some(error));
        self.journal.add(record)
    }

    /// The rule (or "fallback", "protocol", a dialog's rule) that answers.
    pub fn rule(&self, id: u64, rule: &str) {
        self.journal.set_rule(id, rule);
    }

    /// Request `id` authenticated as `user` in `realm`.
    pub fn authenticated(&self, id: Option<u64>, user: &str, realm: &str) {
        self.metrics.auth.success();
        if let Some(id) = id {
            let record = AuthRecord::new(Some(user), realm, "valid");
            self.journal.set_auth(id, record);
        }
    }

    /// Request `id` was refused for its credentials (`reason` `None`: it
    /// had none) and answered `status` (a challenge, stale or not, or 403).
    pub fn auth_refused(&self, id: Option<u64>, refusal: &AuthRefusal<'_>) {
        if let Some(reason) = refusal.reason {
            self.metrics.auth.failure(reason);
        }
        if refusal.status != 403 {
            self.metrics.auth.challenge(refusal.status, refusal.stale);
        }
        if let Some(id) = id {
            let result = refusal.reason.unwrap_or("absent");
            let record = AuthRecord::new(refusal.user, refusal.realm, result);
            self.journal.set_auth(id, record);
        }
    }

    /// The rules that came closest to taking a request no rule took.
    pub fn near_misses(&self, id: u64, misses: Vec<NearMiss>) {
        self.journal.set_near_misses(id, misses);
    }

    /// A response was sent to `id`'s request on behalf of `rule`.
    pub fn response(&self, id: u64, rule: &str, sent: &SentResponse<'_>) {
        self.metrics.response(rule, sent.status);
        self.journal
            .add_response(id, rule, sent.status, sent.reason, sent.bytes);
        if sent.status >= 200 {
            self.journal.finish(id);
        }
    }

    /// A retransmission of `id`'s request was absorbed.
    pub fn retransmission(&self, id: u64) {
        self.journal.count_retransmission(id);
    }

    /// Nothing more will be sent for `id`'s request.
    pub fn finish(&self, id: u64) {
        self.journal.finish(id);
    }

    /// An event (progress, accepted, rejected, failed, …) with its cause.
    pub fn event(&self, kind: &'static str, cause: Option<Cause>) {
        self.metrics.event(kind, cause);
    }
}

impl SentLog for Observer {
    fn sent(&self, request: &[u8], flow: &Flow, rule: &str, scope: Option<&str>) -> u64 {
        let endpoints = Endpoints {
            transport: flow.transport,
            source: flow.local,
            destination: flow.peer,
        };
        let record = Record::of_sent(request, endpoints, scope);
        let method = record.method.clone();
        self.metrics.sent(&method, flow.transport);
        let id = self.journal.add(record);
        self.journal.set_rule(id, rule);
        id
    }

    fn outcome(&self, id: u64, outcome: &ClientOutcome) {
        self.journal.set_outcome(id, outcome);
        self.journal.finish(id);
    }
}
