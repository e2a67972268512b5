//! A validated request: the mandatory headers of RFC 3261 §8.1.1 are present,
//! single and well-formed, so every later layer can rely on them.

mod checks;

use self::checks::check;
use super::HeaderName;
use super::error::ParseError;
use super::message::{Message, Span};
use super::name_addr::{NameAddr, parse_name_addr};
use super::syntax::split_list;
use super::via::{Via, parse_sent_by_leniently};

/// A request whose mandatory headers passed validation.
#[derive(Debug, Clone)]
pub struct Request {
    message: Message,
    top_via: Via,
    from: NameAddr,
    to: NameAddr,
    call_id: Span,
    cseq: u32,
    max_forwards: Option<u8>,
}

/// A request that failed validation, kept whole so a 400 can still copy
/// its Via, From, To, Call-ID and CSeq.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub message: Message,
    pub error: ParseError,
}

impl Rejected {
    /// The top Via, parsed leniently: enough to route the answer.
    pub fn top_via(&self) -> Option<TopVia<'_>> {
        let via = lenient_top_via(&self.message)?;
        Some(top_via_view(&self.message, &via))
    }

    /// The status to answer with (400 or 505); `None` when it must be dropped.
    pub fn status(&self) -> Option<u16> {
        self.error.status()
    }
}

/// The top Via of a request as the response layer needs it.
#[derive(Debug, Clone, Copy)]
pub struct TopVia<'a> {
    pub transport: &'a str,
    pub host: &'a str,
    pub port: Option<u16>,
    pub branch: Option<&'a str>,
    /// Whether the request asked for `rport` (RFC 3581).
    pub rport: bool,
}

impl Request {
    /// Checks the mandatory headers; on failure the message comes back in
    /// `Rejected` with the first defect found.
    pub fn validate(message: Message) -> Result<Self, Box<Rejected>> {
        match check(&message) {
            Ok(parts) => Ok(Self {
                message,
                top_via: parts.top_via,
                from: parts.from,
                to: parts.to,
                call_id: parts.call_id,
                cseq: parts.cseq,
                max_forwards: parts.max_forwards,
            }),
            Err(error) => Err(Box::new(Rejected { message, error })),
        }
    }

    pub fn message(&self) -> &Message {
        &self.message
    }

    pub fn method(&self) -> &str {
        self.message.method().unwrap_or("")
    }

    pub fn uri(&self) -> &str {
        self.message.request_uri()
    }

    pub fn call_id(&self) -> &str {
        self.message.text(self.call_id)
    }

    pub fn cseq(&self) -> u32 {
        self.cseq
    }

    pub fn max_forwards(&self) -> Option<u8> {
        self.max_forwards
    }

    pub fn from_uri(&self) -> &str {
        self.message.text(self.from.uri)
    }

    pub fn from_tag(&self) -> Option<&str> {
        self.from.tag.map(|t| self.message.text(t))
    }

    pub fn from_display(&self) -> Option<&str> {
        self.from.display.map(|d| self.message.text(d))
    }

    pub fn to_uri(&self) -> &str {
        self.message.text(self.to.uri)
    }

    pub fn to_display(&self) -> Option<&str> {
        self.to.display.map(|d| self.message.text(d))
    }

    pub fn to_tag(&self) -> Option<&str> {
        self.to.tag.map(|t| self.message.text(t))
    }

    /// The To header value as received.
    pub fn to_value(&self) -> &str {
        self.message.header(HeaderName::To).unwrap_or("")
    }

    /// The From header value as received (with its tag).
    pub fn from_value(&self) -> &str {
        self.message.header(HeaderName::From).unwrap_or("")
    }

    /// The URI of the first Contact, if any (RFC 3261 §12.1.1 remote target).
    pub fn contact_uri(&self) -> Option<&str> {
        let first = self.message.header(HeaderName::Contact)?;
        let element = split_list(first).next()?;
        let parsed = parse_name_addr(self.message.head(), element)?;
        Some(self.message.text(parsed.uri))
    }

    /// Record-Route values in order, one per route (lists split).
    pub fn record_routes(&self) -> Vec<String> {
        self.message
            .header_values(HeaderName::RecordRoute)
            .flat_map(split_list)
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty())
            .collect()
    }

    pub fn top_via(&self) -> TopVia<'_> {
        top_via_view(&self.message, &self.top_via)
    }

    pub(crate) fn top_via_raw(&self) -> &Via {
        &self.top_via
    }

    pub fn header(&self, name: HeaderName) -> Option<&str> {
        self.message.header(name)
    }

    pub fn header_values(&self, name: HeaderName) -> impl Iterator<Item = &str> {
        self.message.header_values(name)
    }

    pub fn body(&self) -> &[u8] {
        self.message.body()
    }
}

/// The top Via of any request-shaped message, parsed leniently (for routing
/// a 400 back when the full validation failed).
pub(crate) fn lenient_top_via(message: &Message) -> Option<Via> {
    let value = message.header(HeaderName::Via)?;
    parse_sent_by_leniently(message.head(), value)
}

pub(crate) fn top_via_view<'a>(message: &'a Message, via: &Via) -> TopVia<'a> {
    TopVia {
        transport: message.text(via.transport),
        host: message.text(via.host),
        port: via.port,
        branch: via.branch.map(|b| message.text(b)),
        rport: via.rport.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::parse::{Limits, parse_datagram};

    fn validate(text: &str) -> Result<Request, ParseError> {
        let message = parse_datagram(text.as_bytes(), &Limits::default()).expect("tokenises");
        Request::validate(message).map_err(|r| r.error)
    }

    const OK: &str = "OPTIONS sip:u@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1;rport\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:u@h>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n\r\n";

    #[test]
    fn valid_request_fields() {
        let r = validate(OK).expect("valid");
        assert_eq!(r.method(), "OPTIONS");
        assert_eq!(r.call_id(), "c1");
        assert_eq!(r.cseq(), 1);
        assert_eq!(r.from_tag(), Some("1"));
        assert_eq!(r.to_tag(), None);
        assert_eq!(r.max_forwards(), Some(70));
        let via = r.top_via();
        assert_eq!(
            (via.transport, via.host, via.branch, via.rport),
            ("UDP", "h", Some("z9hG4bK1"), true)
        );
    }

    #[test]
    fn each_defect_is_named() {
        let without = |name: &str| {
            OK.lines()
                .filter(|l| !l.starts_with(name))
                .collect::<Vec<_>>()
                .join("\n")
                + "\n"
        };
        assert_eq!(
            validate(&without("Call-ID")).err(),
            Some(ParseError::Missing("Call-ID"))
        );
        assert_eq!(
            validate(&without("Via")).err(),
            Some(ParseError::Missing("Via"))
        );
        assert_eq!(
            validate(&OK.replace("1 OPTIONS", "1 INVITE")).err(),
            Some(ParseError::CSeqMethodMismatch)
        );
        assert_eq!(
            validate(&OK.replace("Max-Forwards: 70", "Max-Forwards: 300")).err(),
            Some(ParseError::BadMaxForwards)
        );
        assert_eq!(
            validate(&OK.replace("CSeq: 1 ", "CSeq: 36893488147419103232 ")).err(),
            Some(ParseError::BadCSeqNumber)
        );
        assert_eq!(
            validate(&OK.replace("Call-ID: c1\r\n", "Call-ID: c1\r\ni: c2\r\n")).err(),
            Some(ParseError::Duplicate("Call-ID"))
        );
    }
}
