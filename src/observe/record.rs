//! One journal record: the request as received (header values and body cut
//! at a limit, so a record's size is bounded), and what became of it (the
//! rule and the responses, filled in as they happen), serialised as JSON.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::sip::{Request, Transport};

/// Longest header value (and Request-URI, From, To, Call-ID) kept, bytes.
pub const VALUE_LIMIT: usize = 1024;
/// Longest body kept, bytes.
pub const BODY_LIMIT: usize = 4096;
/// Most responses kept per record.
const MAX_RESPONSES: usize = 32;
/// What a record's outcome may add to its size (rule, responses).
const OUTCOME_ALLOWANCE: usize = 512 + MAX_RESPONSES * 64;

/// One response sent to a journalled request.
#[derive(Debug, Clone, Serialize)]
pub struct ResponseRecord {
    pub status: u16,
    pub reason: String,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
}

/// One request and what became of it.
#[derive(Debug)]
pub struct Record {
    pub id: u64,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    pub transport: &'static str,
    pub source: String,
    pub method: String,
    pub request_uri: String,
    pub call_id: String,
    pub from: String,
    pub to: String,
    /// Every header field as received, in order (values cut at
    /// [`VALUE_LIMIT`]).
    pub headers: Vec<(String, String)>,
    /// The body as text (cut at [`BODY_LIMIT`]).
    pub body: String,
    /// Whether any value or the body was cut.
    pub cut: bool,
    outcome: Mutex<Outcome>,
    /// Bytes this record holds, roughly (what the journal's byte bound counts).
    size: usize,
}

#[derive(Debug, Default)]
struct Outcome {
    rule: Option<String>,
    responses: Vec<ResponseRecord>,
}

/// Cuts values as they are copied and remembers whether it had to.
struct Cutter {
    cut: bool,
    bytes: usize,
}

impl Cutter {
    fn text(&mut self, value: &str, limit: usize) -> String {
        let kept = if value.len() > limit {
            self.cut = true;
            let mut end = limit;
            while !value.is_char_boundary(end) {
                end -= 1;
            }
            &value[..end]
        } else {
            value
        };
        self.bytes += kept.len();
        kept.to_owned()
    }

    fn body(&mut self, body: &[u8]) -> String {
        let kept = if body.len() > BODY_LIMIT {
            self.cut = true;
            &body[..BODY_LIMIT]
        } else {
            body
        };
        let text = String::from_utf8_lossy(kept).into_owned();
        self.bytes += text.len();
        text
    }
}

impl Record {
    /// The record of `request`, with its values cut.
    pub fn of(id: u64, request: &Request, source: SocketAddr, transport: Transport) -> Self {
        let mut cutter = Cutter {
            cut: false,
            bytes: 0,
        };
        let headers: Vec<(String, String)> = request
            .message()
            .header_fields()
            .map(|(_, name, value)| {
                (
                    cutter.text(name, VALUE_LIMIT),
                    cutter.text(value, VALUE_LIMIT),
                )
            })
            .collect();
        let record = Self {
            id,
            time_ms: now_ms(),
            transport: transport.name(),
            source: source.to_string(),
            method: cutter.text(request.method(), VALUE_LIMIT),
            request_uri: cutter.text(request.uri(), VALUE_LIMIT),
            call_id: cutter.text(request.call_id(), VALUE_LIMIT),
            from: cutter.text(request.from_value(), VALUE_LIMIT),
            to: cutter.text(request.to_value(), VALUE_LIMIT),
            body: cutter.body(request.message().body()),
            size: 0,
            cut: false,
            headers,
            outcome: Mutex::default(),
        };
        let size = cutter.bytes
            + record.headers.len() * 2 * std::mem::size_of::<String>()
            + std::mem::size_of::<Self>()
            + OUTCOME_ALLOWANCE;
        Self {
            size,
            cut: cutter.cut,
            ..record
        }
    }

    /// Bytes this record counts against the journal's bound.
    pub fn size(&self) -> usize {
        self.size
    }

    pub fn rule(&self) -> Option<String> {
        self.lock().rule.clone()
    }

    pub fn responses(&self) -> Vec<ResponseRecord> {
        self.lock().responses.clone()
    }

    pub(super) fn set_rule(&self, rule: &str) {
        self.lock().rule = Some(rule.chars().take(VALUE_LIMIT).collect());
    }

    pub(super) fn add_response(&self, response: ResponseRecord) {
        let mut outcome = self.lock();
        if outcome.responses.len() < MAX_RESPONSES {
            outcome.responses.push(response);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Outcome> {
        self.outcome
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The request alone, as the journal file's `request` line has it
    /// (rule and responses follow in lines of their own).
    pub fn as_received(&self) -> AsReceived<'_> {
        AsReceived(self)
    }

    fn serialize_fields<S: Serializer>(
        &self,
        serializer: S,
        with_outcome: bool,
    ) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("Record", 14)?;
        out.serialize_field("id", &self.id)?;
        out.serialize_field("time_ms", &self.time_ms)?;
        out.serialize_field("transport", self.transport)?;
        out.serialize_field("source", &self.source)?;
        out.serialize_field("method", &self.method)?;
        out.serialize_field("request_uri", &self.request_uri)?;
        out.serialize_field("call_id", &self.call_id)?;
        out.serialize_field("from", &self.from)?;
        out.serialize_field("to", &self.to)?;
        out.serialize_field("headers", &self.headers)?;
        out.serialize_field("body", &self.body)?;
        out.serialize_field("cut", &self.cut)?;
        if with_outcome {
            let outcome = self.lock();
            out.serialize_field("rule", &outcome.rule)?;
            out.serialize_field("responses", &outcome.responses)?;
        } else {
            out.serialize_field("rule", &None::<String>)?;
            out.serialize_field("responses", &[] as &[ResponseRecord])?;
        }
        out.end()
    }
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.serialize_fields(serializer, true)
    }
}

/// See [`Record::as_received`].
pub struct AsReceived<'a>(&'a Record);

impl Serialize for AsReceived<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_fields(serializer, false)
    }
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::{Limits, parse_datagram};

    fn request(extra: &str, body: &str) -> Request {
        let text = format!(
            "MESSAGE sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: c\r\nCSeq: 1 MESSAGE\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let message = parse_datagram(text.as_bytes(), &Limits::default()).expect("parses");
        Request::validate(message).expect("valid")
    }

    fn source() -> SocketAddr {
        "192.0.2.1:5060".parse().expect("addr")
    }

    #[test]
    fn values_and_bodies_are_cut_and_the_size_follows() {
        let small = Record::of(1, &request("", "hi"), source(), Transport::Udp);
        assert!(!small.cut);
        assert_eq!(small.body, "hi");
        let long_value = format!("X-Long: {}é\r\n", "v".repeat(VALUE_LIMIT - 1));
        let big = Record::of(
            2,
            &request(&long_value, &"b".repeat(3 * BODY_LIMIT)),
            source(),
            Transport::Udp,
        );
        assert!(big.cut);
        assert_eq!(big.body.len(), BODY_LIMIT);
        let (_, value) = big
            .headers
            .iter()
            .find(|(name, _)| name == "X-Long")
            .expect("header kept");
        assert_eq!(value.len(), VALUE_LIMIT - 1, "cut at a char boundary");
        assert!(big.size() > small.size() + BODY_LIMIT);
        assert!(big.size() < 64 * 1024, "bounded: {}", big.size());
    }

    #[test]
    fn the_outcome_is_bounded_and_serialised() {
        let record = Record::of(7, &request("", ""), source(), Transport::Tcp);
        record.set_rule("echo");
        for status in 0..100 {
            record.add_response(ResponseRecord {
                status,
                reason: String::new(),
                time_ms: 0,
            });
        }
        assert_eq!(record.responses().len(), MAX_RESPONSES);
        let full = serde_json::to_value(&record).expect("json");
        assert_eq!(full["rule"], "echo");
        assert_eq!(full["transport"], "tcp");
        let received = serde_json::to_value(record.as_received()).expect("json");
        assert!(received["rule"].is_null());
        assert_eq!(received["responses"], serde_json::json!([]));
        assert_eq!(received["id"], 7);
    }
}
