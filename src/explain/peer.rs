//! The well-behaved client of `explain`'s dry run: it ACKs final responses
//! to its INVITE, PRACKs reliable provisional responses (RFC 3262), and
//! answers 200 to the requests the responder sends it (BYE, UPDATE,
//! MESSAGE), so the dry run shows a call as a real client would see it.

use std::fmt::Write as _;

use crate::sip::{HeaderName, Limits, MAGIC_COOKIE, Message, Request};
use crate::transaction::new_tag;

/// What the client knows of the request it sent.
#[derive(Debug)]
pub(super) struct Peer {
    method: String,
    uri: String,
    /// `SIP/2.0/UDP host:port` of its top Via, without parameters.
    via: String,
    branch: String,
    from: String,
    call_id: String,
    cseq: u32,
    /// CSeq of the next PRACK.
    next_cseq: u32,
}

/// One message the client sends, and what it is, for the report.
pub(super) struct Reply {
    pub(super) what: String,
    pub(super) bytes: Vec<u8>,
}

impl Peer {
    pub(super) fn new(request: &Request) -> Self {
        let via = request.top_via();
        let sent_by = match via.port {
            Some(port) => format!("{}:{port}", via.host),
            None => via.host.to_owned(),
        };
        Self {
            method: request.method().to_owned(),
            uri: request.uri().to_owned(),
            via: format!("SIP/2.0/{} {sent_by}", via.transport),
            branch: via.branch.unwrap_or_default().to_owned(),
            from: request.from_value().to_owned(),
            call_id: request.call_id().to_owned(),
            cseq: request.cseq(),
            next_cseq: request.cseq() + 1,
        }
    }

    /// The client's answer to one message from the responder, if any.
    pub(super) fn react(&mut self, bytes: &[u8], limits: &Limits) -> Option<Reply> {
        let message = crate::sip::parse_datagram(bytes, limits).ok()?;
        if message.is_request() {
            return Some(answer_200(&message));
        }
        let status = message.status()?;
        let cseq = message.header(HeaderName::CSeq)?;
        if self.method != "INVITE" || !cseq.trim_end().ends_with("INVITE") {
            return None;
        }
        match status {
            101..=199 => self.prack(&message),
            200..=299 => Some(self.ack(&message, true)),
            300.. => Some(self.ack(&message, false)),
            _ => None,
        }
    }

    /// RFC 3262 §7.2: the PRACK of a reliable provisional response.
    fn prack(&mut self, response: &Message) -> Option<Reply> {
        let rseq = raw_header(response, "RSeq")?.trim().to_owned();
        let to = response.header(HeaderName::To)?;
        let cseq = self.next_cseq;
        self.next_cseq += 1;
        let mut out = self.start_line("PRACK", &self.uri.clone(), &new_branch(), to, cseq);
        let _ = write!(
            out,
            "RAck: {rseq} {} INVITE\r\nContent-Length: 0\r\n\r\n",
            self.cseq
        );
        Some(Reply {
            what: format!("PRACK (RAck {rseq} {} INVITE)", self.cseq),
            bytes: out.into_bytes(),
        })
    }

    /// §17.1.1.3 (non-2xx: same branch, same Request-URI) and §13.2.2.4
    /// (2xx: a new transaction to the Contact).
    fn ack(&self, response: &Message, success: bool) -> Reply {
        let to = response.header(HeaderName::To).unwrap_or_default();
        let (uri, branch) = if success {
            let contact = response
                .header(HeaderName::Contact)
                .and_then(angle_uri)
                .unwrap_or(&self.uri);
            (contact.to_owned(), new_branch())
        } else {
            (self.uri.clone(), self.branch.clone())
        };
        let mut out = self.start_line("ACK", &uri, &branch, to, self.cseq);
        out.push_str("Content-Length: 0\r\n\r\n");
        Reply {
            what: "ACK".to_owned(),
            bytes: out.into_bytes(),
        }
    }

    /// The request's start and the headers every request of the client
    /// carries. An ACK for a request that had no branch (RFC 2543) has
    /// none either: `branch=` with no value does not parse.
    fn start_line(&self, method: &str, uri: &str, branch: &str, to: &str, cseq: u32) -> String {
        let branch = if branch.is_empty() {
            String::new()
        } else {
            format!(";branch={branch}")
        };
        format!(
            "{method} {uri} SIP/2.0\r\nVia: {via}{branch};rport\r\nMax-Forwards: 70\r\n\
             From: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n",
            via = self.via,
            from = self.from,
            call_id = self.call_id,
        )
    }
}

/// 200 OK to a request of the responder's, copying what §8.2.6.2 asks.
fn answer_200(request: &Message) -> Reply {
    let mut out = String::from("SIP/2.0 200 OK\r\n");
    for via in request.header_values(HeaderName::Via) {
        let _ = write!(out, "Via: {via}\r\n");
    }
    for (name, header) in [
        (HeaderName::From, "From"),
        (HeaderName::To, "To"),
        (HeaderName::CallId, "Call-ID"),
        (HeaderName::CSeq, "CSeq"),
    ] {
        let value = request.header(name).unwrap_or_default();
        let _ = write!(out, "{header}: {value}");
        if name == HeaderName::To && !value.contains("tag=") {
            out.push_str(";tag=client");
        }
        out.push_str("\r\n");
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    Reply {
        what: format!("200 OK to the {}", request.method().unwrap_or("request")),
        bytes: out.into_bytes(),
    }
}

fn new_branch() -> String {
    format!("{MAGIC_COOKIE}{}", new_tag())
}

fn raw_header<'a>(message: &'a Message, name: &str) -> Option<&'a str> {
    message
        .header_fields()
        .find(|(_, raw, _)| raw.eq_ignore_ascii_case(name))
        .map(|(_, _, value)| value)
}

/// The URI inside `<…>` of a name-addr, or the value itself.
fn angle_uri(value: &str) -> Option<&str> {
    match (value.find('<'), value.find('>')) {
        (Some(open), Some(close)) if open < close => Some(&value[open + 1..close]),
        _ => Some(value.split(';').next()?.trim()),
    }
}
