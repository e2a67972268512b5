//! Requests the responder originates (BYE in a dialog, auto-reply MESSAGE),
//! written byte-exact, and the summary of a response to one of them.

use std::io::Write as _;

use super::HeaderName;
use super::message::Message;
use super::transport_kind::Transport;
use super::wire::{push_wire, push_wire_scrubbed};

/// Everything one outgoing request carries.
#[derive(Debug, Clone, Copy)]
pub struct OutgoingRequest<'a> {
    pub method: &'a str,
    pub request_uri: &'a str,
    pub transport: Transport,
    /// `host:port` of the sending listener, for Via.
    pub sent_by: &'a str,
    pub branch: &'a str,
    /// From value without tag, and the tag.
    pub from: &'a str,
    pub from_tag: &'a str,
    /// To value as it should appear (with the remote tag, if any).
    pub to: &'a str,
    pub call_id: &'a str,
    pub cseq: u32,
    /// Route header values, in order.
    pub routes: &'a [String],
    pub user_agent: &'a str,
    /// Pre-rendered `Name: value\r\n` lines.
    pub extra_headers: &'a [u8],
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

impl OutgoingRequest<'_> {
    /// Writes the request. What came from a peer (Request-URI, From, To,
    /// Call-ID, Route) goes out as the bytes it was received as; the
    /// Request-URI never carries a control character (RFC 3261 §25.1).
    pub fn write(&self, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        push_wire_scrubbed(out, self.request_uri);
        let _ = write!(
            out,
            " SIP/2.0\r\n\
             Via: SIP/2.0/{transport} {sent_by};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: ",
            transport = self.transport.via_token(),
            sent_by = self.sent_by,
            branch = self.branch,
        );
        push_wire(out, self.from);
        out.extend_from_slice(b";tag=");
        push_wire(out, self.from_tag);
        out.extend_from_slice(b"\r\nTo: ");
        push_wire(out, self.to);
        out.extend_from_slice(b"\r\nCall-ID: ");
        push_wire(out, self.call_id);
        let _ = write!(out, "\r\nCSeq: {} {}\r\n", self.cseq, self.method);
        for route in self.routes {
            out.extend_from_slice(b"Route: ");
            push_wire(out, route);
            out.extend_from_slice(b"\r\n");
        }
        let _ = write!(out, "User-Agent: {}\r\n", self.user_agent);
        out.extend_from_slice(self.extra_headers);
        if let Some(content_type) = self.content_type.filter(|_| !self.body.is_empty()) {
            let _ = write!(out, "Content-Type: {content_type}\r\n");
        }
        let _ = write!(out, "Content-Length: {}\r\n\r\n", self.body.len());
        out.extend_from_slice(self.body);
    }
}

/// What a client transaction needs of a received response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseSummary {
    pub status: u16,
    pub branch: String,
    pub cseq_method: String,
}

impl ResponseSummary {
    /// Summarises a response message; `None` for requests or responses
    /// without a usable top Via branch or CSeq.
    pub fn of(message: &Message) -> Option<Self> {
        let status = message.status()?;
        let branch = message.header(HeaderName::Via).and_then(|value| {
            value
                .split(',')
                .next()?
                .split(';')
                .filter_map(|p| p.trim().split_once('='))
                .find(|(n, _)| n.trim().eq_ignore_ascii_case("branch"))
                .map(|(_, v)| v.trim().to_owned())
        })?;
        let cseq_method = message
            .header(HeaderName::CSeq)?
            .split_ascii_whitespace()
            .nth(1)?
            .to_owned();
        Some(Self {
            status,
            branch,
            cseq_method,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::parse::{Limits, parse_datagram};

    #[test]
    fn writes_a_bye_with_routes() {
        let routes = vec!["<sip:p1.example.com;lr>".to_owned()];
        let request = OutgoingRequest {
            method: "BYE",
            request_uri: "sip:alice@192.0.2.1:5060",
            transport: Transport::Udp,
            sent_by: "127.0.0.1:5060",
            branch: "z9hG4bKx",
            from: "<sip:bob@example.com>",
            from_tag: "local",
            to: "\"Alice\" <sip:alice@example.com>;tag=remote",
            call_id: "c1",
            cseq: 1,
            routes: &routes,
            user_agent: "ua",
            extra_headers: b"",
            content_type: None,
            body: b"",
        };
        let mut out = Vec::new();
        request.write(&mut out);
        let text = String::from_utf8(out).expect("utf8");
        assert_eq!(
            text,
            "BYE sip:alice@192.0.2.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx;rport\r\nMax-Forwards: 70\r\nFrom: <sip:bob@example.com>;tag=local\r\nTo: \"Alice\" <sip:alice@example.com>;tag=remote\r\nCall-ID: c1\r\nCSeq: 1 BYE\r\nRoute: <sip:p1.example.com;lr>\r\nUser-Agent: ua\r\nContent-Length: 0\r\n\r\n"
        );
        let parsed = parse_datagram(text.as_bytes(), &Limits::default()).expect("parses");
        assert!(crate::sip::Request::validate(parsed).is_ok());
    }

    /// A dialog or auto-reply made from a request whose bytes are not all
    /// UTF-8 writes them back as received (RFC 3261 §12.2.1.1 copies).
    #[test]
    fn peer_bytes_go_out_as_received() {
        let received = parse_datagram(
            b"INVITE sip:b@h SIP/2.0\r\nFrom: \"J\xfcrgen\" <sip:j\xfc@h>;tag=t\xe5\r\nTo: <sip:b@h>\r\ni: \xe5\xe4\xf6@h\r\n\r\n",
            &Limits::default(),
        )
        .expect("parses");
        let from = received.header(HeaderName::From).expect("From");
        let call_id = received.header(HeaderName::CallId).expect("Call-ID");
        let request = OutgoingRequest {
            method: "BYE",
            request_uri: "sip:j\u{10fffc}@h",
            transport: Transport::Udp,
            sent_by: "127.0.0.1:5060",
            branch: "z9hG4bKx",
            from: "<sip:b@h>",
            from_tag: "local",
            to: from,
            call_id,
            cseq: 2,
            routes: &[],
            user_agent: "ua",
            extra_headers: b"",
            content_type: None,
            body: b"",
        };
        let mut out = Vec::new();
        request.write(&mut out);
        let expected: &[u8] = b"BYE sip:j\xfc@h SIP/2.0\r\n";
        assert!(out.starts_with(expected), "{}", out.escape_ascii());
        let head = out.escape_ascii().to_string();
        assert!(
            head.contains(r#"To: \"J\xfcrgen\" <sip:j\xfc@h>;tag=t\xe5\r\n"#),
            "{head}"
        );
        assert!(head.contains(r"Call-ID: \xe5\xe4\xf6@h\r\n"), "{head}");
        let mut scrubbed = request;
        scrubbed.request_uri = "sip:a\r\nX: y@h";
        scrubbed.write(&mut out);
        assert!(out.starts_with(b"BYE sip:a%0D%0AX: y@h SIP/2.0\r\n"));
    }

    #[test]
    fn summarises_responses() {
        let m = parse_datagram(
            b"SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKabc;received=1.2.3.4\r\nCSeq: 3 MESSAGE\r\n\r\n",
            &Limits::default(),
        )
        .expect("parses");
        assert_eq!(
            ResponseSummary::of(&m),
            Some(ResponseSummary {
                status: 486,
                branch: "z9hG4bKabc".into(),
                cseq_method: "MESSAGE".into()
            })
        );
    }
}
