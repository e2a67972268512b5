//! One journal record: a request as received (or as the daemon sent it),
//! its values and body cut at a limit, and what became of it, filled in as
//! it happens: the rule and scope, near misses when no rule took it, the
//! responses sent with their headers and bodies, retransmissions absorbed,
//! and for a request of ours its outcome. Serialised the same way for
//! `GET /requests` and for the journal file.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::ser::SerializeStruct;

use super::auth::{AUTH_ALLOWANCE, AuthRecord};
use super::cut::{Cutter, VALUE_LIMIT};
use super::sent::{ResponseRecord, SentOutcome, split};
use crate::rules::NearMiss;
use crate::sip::{HeaderName, Message, Transport};

/// Most responses kept per record.
pub const MAX_RESPONSES: usize = 32;
/// What a record's outcome may add to its size beyond its responses
/// (rule, near misses, outcome).
const OUTCOME_ALLOWANCE: usize = 1024;
/// Most media events (digits, the end of the media) kept per record; their
/// bytes count against the journal's bound as they are added.
pub const MAX_MEDIA_EVENTS: usize = 32;

/// Which way a request went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From a peer to the daemon.
    Received,
    /// From the daemon (BYE, UPDATE, auto-reply MESSAGE).
    Sent,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Sent => "sent",
        }
    }
}

/// Where a message went from and to.
#[derive(Debug, Clone, Copy)]
pub struct Endpoints {
    pub transport: Transport,
    pub source: SocketAddr,
    pub destination: SocketAddr,
}

/// One request and what became of it.
#[derive(Debug)]
pub struct Record {
    pub id: u64,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    pub direction: Direction,
    pub transport: &'static str,
    pub source: String,
    pub destination: String,
    pub method: String,
    pub request_uri: String,
    pub call_id: String,
    pub from: String,
    pub to: String,
    /// Every header field as received, in order (values cut at
    /// [`VALUE_LIMIT`]).
    pub headers: Vec<(String, String)>,
    /// The body as text (cut at the body limit).
    pub body: String,
    /// Whether any value or the body was cut.
    pub cut: bool,
    /// The test the request belongs to (`[server] scope_header`, …).
    pub scope: Option<String>,
    /// Why a malformed request was refused (the 400's reason), if it was.
    pub error: Option<String>,
    /// When it arrived (or left), for the responses' `after_ms`.
    pub(super) at: Instant,
    outcome: Mutex<Outcome>,
    /// Bytes this record holds, roughly (what the journal's byte bound
    /// counts); grows with each response, under the journal's lock.
    size: AtomicUsize,
    /// Its line went to the journal file.
    pub(super) written: AtomicBool,
    /// A call's media runs: the line waits for its end.
    pub(super) media_held: AtomicBool,
}

#[derive(Debug, Default)]
struct Outcome {
    rule: Option<String>,
    /// Who the credentials named and the verdict, when a rule asked.
    auth: Option<AuthRecord>,
    near_misses: Vec<NearMiss>,
    retransmissions: u32,
    responses: Vec<ResponseRecord>,
    sent: Option<SentOutcome>,
    /// What the call's media saw (an INVITE's record only).
    media: Vec<serde_json::Value>,
}

impl Record {
    /// The record of `message` (a request, valid or not) between
    /// `endpoints`, with its values cut.
    pub fn of(
        message: &Message,
        direction: Direction,
        endpoints: Endpoints,
        scope: Option<&str>,
        error: Option<&str>,
    ) -> Self {
        let mut cutter = Cutter::default();
        let mut header = |name| {
            let value = message.header(name).unwrap_or("");
            cutter.text(value, VALUE_LIMIT)
        };
        let (call_id, from, to) = (
            header(HeaderName::CallId),
            header(HeaderName::From),
            header(HeaderName::To),
        );
        let headers = cutter.fields(
            message
                .header_fields()
                .map(|(_, name, value)| (name, value)),
        );
        Self::build(
            Parts {
                method: cutter.text(message.method().unwrap_or(""), VALUE_LIMIT),
                request_uri: cutter.text(message.request_uri(), VALUE_LIMIT),
                call_id,
                from,
                to,
                headers,
                body: cutter.body(message.body()),
                scope: scope.map(|s| cutter.text(s, VALUE_LIMIT)),
                error: error.map(|e| cutter.text(e, VALUE_LIMIT)),
            },
            direction,
            endpoints,
            cutter,
        )
    }

    /// The record of a request the daemon wrote (`bytes`, its own and
    /// well-formed) and sent between `endpoints`.
    pub fn of_sent(bytes: &[u8], endpoints: Endpoints, scope: Option<&str>) -> Self {
        let mut cutter = Cutter::default();
        let (start, fields, body) = split(bytes);
        let mut words = start.split(' ');
        let (method, request_uri) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        let field = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map_or("", |(_, v)| *v)
        };
        let parts = Parts {
            method: cutter.text(method, VALUE_LIMIT),
            request_uri: cutter.text(request_uri, VALUE_LIMIT),
            call_id: cutter.text(field("Call-ID"), VALUE_LIMIT),
            from: cutter.text(field("From"), VALUE_LIMIT),
            to: cutter.text(field("To"), VALUE_LIMIT),
            headers: cutter.fields(fields.iter().copied()),
            body: cutter.body(body),
            scope: scope.map(|s| cutter.text(s, VALUE_LIMIT)),
            error: None,
        };
        Self::build(parts, Direction::Sent, endpoints, cutter)
    }

    fn build(parts: Parts, direction: Direction, endpoints: Endpoints, cutter: Cutter) -> Self {
        Self {
            id: 0,
            time_ms: now_ms(),
            direction,
            transport: endpoints.transport.name(),
            source: endpoints.source.to_string(),
            destination: endpoints.destination.to_string(),
            method: parts.method,
            request_uri: parts.request_uri,
            call_id: parts.call_id,
            from: parts.from,
            to: parts.to,
            headers: parts.headers,
            body: parts.body,
            cut: cutter.cut,
            scope: parts.scope,
            error: parts.error,
            at: Instant::now(),
            outcome: Mutex::default(),
            size: AtomicUsize::new(
                cutter.bytes + std::mem::size_of::<Self>() + OUTCOME_ALLOWANCE + AUTH_ALLOWANCE,
            ),
            written: AtomicBool::new(false),
            media_held: AtomicBool::new(false),
        }
    }

    /// Bytes this record counts against the journal's bound.
    pub fn size(&self) -> usize {
        self.size.load(Ordering::Acquire)
    }

    pub fn rule(&self) -> Option<String> {
        self.lock().rule.clone()
    }

    pub fn responses(&self) -> Vec<ResponseRecord> {
        self.lock().responses.clone()
    }

    /// Whether a response with `status` was sent (or, for a request of
    /// ours, came back as its final response).
    pub fn has_status(&self, status: u16) -> bool {
        let outcome = self.lock();
        outcome.responses.iter().any(|r| r.status == status)
            || outcome.sent.as_ref().and_then(|s| s.status) == Some(status)
    }

    pub(super) fn set_rule(&self, rule: &str) {
        self.lock().rule = Some(rule.chars().take(VALUE_LIMIT).collect());
    }

    /// The rule, unless one is already named.
    pub(super) fn default_rule(&self, rule: &str) {
        let mut outcome = self.lock();
        if outcome.rule.is_none() {
            outcome.rule = Some(rule.to_owned());
        }
    }

    pub fn auth(&self) -> Option<AuthRecord> {
        self.lock().auth.clone()
    }

    pub(super) fn set_auth(&self, auth: AuthRecord) {
        self.lock().auth = Some(auth);
    }

    pub(super) fn set_near_misses(&self, misses: Vec<NearMiss>) {
        self.lock().near_misses = misses;
    }

    pub(super) fn count_retransmission(&self) {
        let mut outcome = self.lock();
        outcome.retransmissions = outcome.retransmissions.saturating_add(1);
    }

    /// Keeps `response` unless [`MAX_RESPONSES`] are kept; returns the
    /// bytes it added (the caller holds the journal's lock).
    pub(super) fn add_response(&self, response: ResponseRecord) -> usize {
        let mut outcome = self.lock();
        if outcome.responses.len() >= MAX_RESPONSES {
            return 0;
        }
        let added = response.size;
        outcome.responses.push(response);
        self.size.fetch_add(added, Ordering::AcqRel);
        added
    }

    /// The media events kept.
    pub fn media(&self) -> Vec<serde_json::Value> {
        self.lock().media.clone()
    }

    /// Keeps a media event unless [`MAX_MEDIA_EVENTS`] are kept; returns
    /// the bytes it added (the caller holds the journal's lock).
    pub(super) fn add_media(&self, event: serde_json::Value) -> usize {
        let mut outcome = self.lock();
        if outcome.media.len() >= MAX_MEDIA_EVENTS {
            return 0;
        }
        let added = 64 + event.to_string().len();
        outcome.media.push(event);
        self.size.fetch_add(added, Ordering::AcqRel);
        added
    }

    pub(super) fn set_sent_outcome(&self, sent: SentOutcome) {
        self.lock().sent = Some(sent);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Outcome> {
        self.outcome
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A record's values, cut.
struct Parts {
    method: String,
    request_uri: String,
    call_id: String,
    from: String,
    to: String,
    headers: Vec<(String, String)>,
    body: String,
    scope: Option<String>,
    error: Option<String>,
}

impl Serialize for Record {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("Record", 22)?;
        out.serialize_field("id", &self.id)?;
        out.serialize_field("time_ms", &self.time_ms)?;
        out.serialize_field("direction", self.direction.as_str())?;
        out.serialize_field("transport", self.transport)?;
        out.serialize_field("source", &self.source)?;
        out.serialize_field("destination", &self.destination)?;
        out.serialize_field("method", &self.method)?;
        out.serialize_field("request_uri", &self.request_uri)?;
        out.serialize_field("call_id", &self.call_id)?;
        out.serialize_field("from", &self.from)?;
        out.serialize_field("to", &self.to)?;
        out.serialize_field("headers", &self.headers)?;
        out.serialize_field("body", &self.body)?;
        out.serialize_field("cut", &self.cut)?;
        out.serialize_field("scope", &self.scope)?;
        out.serialize_field("error", &self.error)?;
        let outcome = self.lock();
        out.serialize_field("rule", &outcome.rule)?;
        out.serialize_field("auth", &outcome.auth)?;
        out.serialize_field("near_misses", &outcome.near_misses)?;
        out.serialize_field("retransmissions", &outcome.retransmissions)?;
        out.serialize_field("responses", &outcome.responses)?;
        out.serialize_field("outcome", &outcome.sent)?;
        out.serialize_field("media", &outcome.media)?;
        out.end()
    }
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
