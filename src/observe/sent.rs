//! What the journal keeps of messages the daemon wrote itself: each
//! response sent to a journalled request (status, headers and body, when,
//! and how long after the request), and the outcome of a request the
//! daemon originated. Both are read back from the bytes that went out,
//! split without a parser (they are the daemon's own, well-formed).

use std::time::Instant;

use serde::Serialize;

use super::cut::{Cutter, VALUE_LIMIT};
use super::record::now_ms;
use crate::transaction::ClientOutcome;

/// One response sent to a journalled request.
#[derive(Debug, Clone, Serialize)]
pub struct ResponseRecord {
    pub status: u16,
    pub reason: String,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// Milliseconds after the request arrived.
    pub after_ms: u64,
    /// Every header field, in order (values cut at [`VALUE_LIMIT`]).
    pub headers: Vec<(String, String)>,
    /// The body as text (cut at [`BODY_LIMIT`]).
    pub body: String,
    /// Whether a value or the body was cut.
    pub cut: bool,
    #[serde(skip)]
    pub(super) size: usize,
}

impl ResponseRecord {
    /// The record of `bytes`, a response with `status` and `reason`, sent
    /// `since` the request arrived.
    pub(super) fn of(status: u16, reason: &str, bytes: &[u8], since: Instant) -> Self {
        let mut cutter = Cutter::default();
        let (_, fields, body) = split(bytes);
        let headers = cutter.fields(fields.into_iter());
        let record = Self {
            status,
            reason: cutter.text(reason, VALUE_LIMIT),
            time_ms: now_ms(),
            after_ms: millis_since(since),
            headers,
            body: cutter.body(body),
            cut: false,
            size: 0,
        };
        Self {
            cut: cutter.cut,
            size: cutter.bytes + std::mem::size_of::<Self>(),
            ..record
        }
    }
}

/// How a request the daemon originated ended.
#[derive(Debug, Clone, Serialize)]
pub struct SentOutcome {
    /// `response` (a final response came), `timeout` (Timer F fired),
    /// `transport_error` (it could not be sent), `overloaded` (too many of
    /// ours were under way: sent once untracked, or not at all).
    pub kind: &'static str,
    /// The final response's status.
    pub status: Option<u16>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// Milliseconds after it was sent.
    pub after_ms: u64,
}

impl SentOutcome {
    pub(super) fn of(outcome: &ClientOutcome, since: Instant) -> Self {
        let (kind, status, error) = match outcome {
            ClientOutcome::Final(status) => ("response", Some(*status), None),
            ClientOutcome::Timeout => ("timeout", None, None),
            ClientOutcome::TransportError(error) => {
                let mut cutter = Cutter::default();
                (
                    "transport_error",
                    None,
                    Some(cutter.text(error, VALUE_LIMIT)),
                )
            }
            ClientOutcome::Overloaded { sent } => (
                "overloaded",
                None,
                Some(
                    if *sent {
                        "sent once, untracked"
                    } else {
                        "not sent"
                    }
                    .to_owned(),
                ),
            ),
        };
        Self {
            kind,
            status,
            error,
            time_ms: now_ms(),
            after_ms: millis_since(since),
        }
    }
}

pub(super) fn millis_since(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A message's start line, its header fields and its body (no folding, no
/// compact forms: the daemon writes neither).
pub(super) fn split(bytes: &[u8]) -> (&str, Vec<(&str, &str)>, &[u8]) {
    let head_end = memchr::memmem::find(bytes, b"\r\n\r\n").unwrap_or(bytes.len());
    let head = std::str::from_utf8(&bytes[..head_end]).unwrap_or("");
    let body = bytes.get(head_end + 4..).unwrap_or(&[]);
    let mut lines = head.split("\r\n");
    let start = lines.next().unwrap_or("");
    let fields = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim(), value.trim()))
        .collect();
    (start, fields, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::cut::BODY_LIMIT;

    #[test]
    fn a_response_is_read_back_from_its_bytes() {
        let bytes = b"SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nX-Why: busy\r\nContent-Length: 2\r\n\r\nhi";
        let record = ResponseRecord::of(486, "Busy Here", bytes, Instant::now());
        assert_eq!(record.status, 486);
        assert_eq!(record.headers[1], ("X-Why".to_owned(), "busy".to_owned()));
        assert_eq!(record.body, "hi");
        assert!(!record.cut && record.size > 0);
        let big = format!(
            "SIP/2.0 200 OK\r\nContent-Length: 9000\r\n\r\n{}",
            "b".repeat(9000)
        );
        let record = ResponseRecord::of(200, "OK", big.as_bytes(), Instant::now());
        assert!(record.cut);
        assert_eq!(record.body.len(), BODY_LIMIT);
    }

    #[test]
    fn outcomes_name_their_kind() {
        let now = Instant::now();
        assert_eq!(
            SentOutcome::of(&ClientOutcome::Final(200), now).status,
            Some(200)
        );
        assert_eq!(
            SentOutcome::of(&ClientOutcome::Timeout, now).kind,
            "timeout"
        );
        let overloaded = SentOutcome::of(&ClientOutcome::Overloaded { sent: true }, now);
        assert_eq!(overloaded.error.as_deref(), Some("sent once, untracked"));
    }
}
