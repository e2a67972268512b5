//! Building responses (RFC 3261 §8.2.6, §18.2.1; RFC 3581): the fields copied
//! from the request are rendered once per transaction into a template, so
//! each response only writes its status line, extras and body.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};

use super::HeaderName;
use super::message::Message;
use super::request::{Rejected, Request, lenient_top_via};
use super::via::Via;
use super::wire::{push_wire, push_wire_scrubbed};

/// The parts of every response to one request that do not change between
/// responses of its transaction, in one buffer (one allocation a
/// transaction), already in response form: the Via and From lines, the To
/// line with the To-tag this transaction adds, the Call-ID and CSeq lines,
/// then the Record-Route and Contact lines of a response that creates a
/// dialog.
#[derive(Debug, Clone)]
pub struct ResponseTemplate {
    bytes: Vec<u8>,
    fields: Fields,
    creates_dialog: bool,
}

/// Where the copied fields' parts lie in a buffer.
#[derive(Debug, Clone)]
struct Fields {
    /// `;tag=…` in the To line: left out of 100 Trying. Empty when the
    /// request's To had a tag.
    tag: std::ops::Range<usize>,
    /// Where the CSeq line ends (the dialog lines follow).
    end: usize,
}

/// What a response carries besides the copied fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResponseParts<'a> {
    pub status: u16,
    pub reason: &'a str,
    /// Pre-rendered `Name: value\r\n` lines.
    pub extra_headers: &'a [u8],
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

impl ResponseTemplate {
    /// The template for a valid request. `to_tag` is this transaction's tag;
    /// `contact` is the URI this listener puts in Contact.
    pub fn for_request(request: &Request, source: SocketAddr, to_tag: &str, contact: &str) -> Self {
        let mut bytes = Vec::with_capacity(request.message().head().len() + 128);
        let fields = copy_request_fields(&mut bytes, request, source, to_tag);
        let creates_dialog = creates_dialog(request);
        if creates_dialog {
            push_dialog_lines(&mut bytes, request, contact);
        }
        Self {
            bytes,
            fields,
            creates_dialog,
        }
    }

    /// The one response to `request`, written straight into `out` (cleared
    /// first), for an answer that keeps no template: the same bytes as
    /// [`Self::for_request`] then [`Self::write`].
    pub fn write_once(
        request: &Request,
        (source, to_tag, contact): (SocketAddr, &str, &str),
        server: &[u8],
        parts: &ResponseParts<'_>,
        out: &mut Vec<u8>,
    ) {
        out.clear();
        out.reserve(request.message().head().len() + server.len() + tail_len(parts) + 128);
        push_status_line(out, parts);
        let start = out.len();
        let fields = copy_request_fields(out, request, source, to_tag);
        if parts.status == 100 {
            out.drain(start + fields.tag.start..start + fields.tag.end);
        }
        if creates_dialog(request) && (101..=299).contains(&parts.status) {
            push_dialog_lines(out, request, contact);
        }
        push_tail(out, server, parts);
    }

    /// The template for a 400/505 to a request that failed validation; `None`
    /// when no response can be routed (no usable top Via).
    pub fn for_rejected(rejected: &Rejected, source: SocketAddr, to_tag: &str) -> Option<Self> {
        let via = lenient_top_via(&rejected.message)?;
        let message = &rejected.message;
        let has_tag = message
            .header(HeaderName::To)
            .is_some_and(|to| to.to_ascii_lowercase().contains("tag="));
        let to_tag = (!has_tag).then_some(to_tag);
        // The request may carry control characters anywhere (that may be
        // why it is refused): the copies must not (RFC 3261 §25.1).
        let copied = Copied {
            top_via: Some(&via),
            copy: Copy::Scrubbed,
        };
        let mut bytes = Vec::with_capacity(message.head().len() + 128);
        let fields = copy_fields(&mut bytes, message, copied, source, to_tag);
        Some(Self {
            bytes,
            fields,
            creates_dialog: false,
        })
    }

    /// The To-tag responses of this transaction carry (except 100).
    pub fn to_tag(&self) -> Option<&str> {
        let tag = self.bytes.get(self.fields.tag.clone())?;
        // The tag was written from a `str`, after `;tag=`.
        (!tag.is_empty())
            .then(|| std::str::from_utf8(&tag[b";tag=".len()..]).ok())
            .flatten()
    }

    /// Writes one complete response into `out` (cleared first).
    pub fn write(&self, out: &mut Vec<u8>, server: &[u8], parts: &ResponseParts<'_>) {
        out.clear();
        out.reserve(self.bytes.len() + server.len() + tail_len(parts));
        push_status_line(out, parts);
        let Fields { tag, end } = self.fields.clone();
        // RFC 3261 §8.2.6.2: a tag on every response but 100 Trying.
        if parts.status == 100 {
            out.extend_from_slice(&self.bytes[..tag.start]);
            out.extend_from_slice(&self.bytes[tag.end..end]);
        } else {
            out.extend_from_slice(&self.bytes[..end]);
        }
        // RFC 3261 §12.1.1: dialog-creating responses copy Record-Route and
        // carry Contact.
        if self.creates_dialog && (101..=299).contains(&parts.status) {
            out.extend_from_slice(&self.bytes[end..]);
        }
        push_tail(out, server, parts);
    }
}

/// RFC 3261 §12.1.1 (INVITE) and RFC 6665 §4.2.1.1 (SUBSCRIBE): the
/// responses that create a dialog copy Record-Route and carry Contact.
fn creates_dialog(request: &Request) -> bool {
    matches!(request.method(), "INVITE" | "SUBSCRIBE")
}

fn push_dialog_lines(out: &mut Vec<u8>, request: &Request, contact: &str) {
    for value in request.message().header_values(HeaderName::RecordRoute) {
        push_line(out, b"Record-Route: ", value, Copy::Exact);
    }
    out.extend_from_slice(b"Contact: <");
    out.extend_from_slice(contact.as_bytes());
    out.extend_from_slice(b">\r\n");
}

/// The copied fields of a valid request, byte for byte.
fn copy_request_fields(
    out: &mut Vec<u8>,
    request: &Request,
    source: SocketAddr,
    to_tag: &str,
) -> Fields {
    let to_tag = request.to_tag().is_none().then_some(to_tag);
    let copied = Copied {
        top_via: Some(request.top_via_raw()),
        copy: Copy::Exact,
    };
    copy_fields(out, request.message(), copied, source, to_tag)
}

/// Appends the Via, From, To (with `to_tag`), Call-ID and CSeq lines;
/// offsets are relative to where it started writing.
fn copy_fields(
    out: &mut Vec<u8>,
    message: &Message,
    copied: Copied<'_>,
    source: SocketAddr,
    to_tag: Option<&str>,
) -> Fields {
    let start = out.len();
    let copy = copied.copy;
    let mut first_via = true;
    for header in message.headers.iter().filter(|h| h.name == HeaderName::Via) {
        out.extend_from_slice(b"Via: ");
        match copied.top_via {
            Some(via) if first_via => {
                write_top_via(out, message, header.value, via, source, copy);
            }
            _ => copy.push(out, message.text(header.value)),
        }
        out.extend_from_slice(b"\r\n");
        first_via = false;
    }
    if let Some(from) = message.header(HeaderName::From) {
        push_line(out, b"From: ", from, copy);
    }
    out.extend_from_slice(b"To: ");
    copy.push(out, message.header(HeaderName::To).unwrap_or_default());
    let tag_start = out.len() - start;
    if let Some(tag) = to_tag {
        out.extend_from_slice(b";tag=");
        out.extend_from_slice(tag.as_bytes());
    }
    let tag = tag_start..out.len() - start;
    out.extend_from_slice(b"\r\n");
    if let Some(call_id) = message.header(HeaderName::CallId) {
        push_line(out, b"Call-ID: ", call_id, copy);
    }
    if let Some(cseq) = message.header(HeaderName::CSeq) {
        push_line(out, b"CSeq: ", cseq, copy);
    }
    Fields {
        tag,
        end: out.len() - start,
    }
}

fn push_status_line(out: &mut Vec<u8>, parts: &ResponseParts<'_>) {
    out.extend_from_slice(b"SIP/2.0 ");
    out.extend_from_slice(itoa::Buffer::new().format(parts.status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(parts.reason.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// What follows the copied fields, roughly: for the buffer's reservation.
fn tail_len(parts: &ResponseParts<'_>) -> usize {
    parts.reason.len() + parts.extra_headers.len() + parts.body.len() + 96
}

/// Server, the extra lines, Content-Type, Content-Length and the body.
fn push_tail(out: &mut Vec<u8>, server: &[u8], parts: &ResponseParts<'_>) {
    out.extend_from_slice(server);
    out.extend_from_slice(parts.extra_headers);
    if let Some(content_type) = parts.content_type.filter(|_| !parts.body.is_empty()) {
        push_line(out, b"Content-Type: ", content_type, Copy::Exact);
    }
    out.extend_from_slice(b"Content-Length: ");
    out.extend_from_slice(itoa::Buffer::new().format(parts.body.len()).as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(parts.body);
}

/// A response with no copied fields, for stream input too broken to copy
/// anything from (the connection is closed after it).
pub fn minimal_response(status: u16, reason: &str, server: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    let _ = write!(out, "SIP/2.0 {status} {reason}\r\n");
    out.extend_from_slice(server);
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    out
}

/// Which fields of the request a template copies, and how.
#[derive(Debug, Clone, Copy)]
struct Copied<'a> {
    /// The top via-parm, which gets `received` and `rport`.
    top_via: Option<&'a Via>,
    copy: Copy,
}

/// How a copied field is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Copy {
    /// Byte for byte as received (RFC 3261 §8.2.6.2): a valid request holds
    /// control characters only where §25.1 allows them.
    Exact,
    /// As received, but control characters escaped: for refused requests.
    Scrubbed,
}

impl Copy {
    fn push(self, out: &mut Vec<u8>, text: &str) {
        match self {
            Self::Exact => push_wire(out, text),
            Self::Scrubbed => push_wire_scrubbed(out, text),
        }
    }
}

/// `name` is the field name with its colon and space (one copy).
fn push_line(out: &mut Vec<u8>, name: &[u8], value: &str, copy: Copy) {
    out.extend_from_slice(name);
    copy.push(out, value);
    out.extend_from_slice(b"\r\n");
}

/// Copies the Via field line holding the top via-parm, filling `rport`
/// (RFC 3581 §4) and adding `received` when the sent-by host is not the
/// source address or rport was asked for (RFC 3261 §18.2.1).
fn write_top_via(
    out: &mut Vec<u8>,
    message: &Message,
    line: super::message::Span,
    via: &Via,
    source: SocketAddr,
    copy: Copy,
) {
    let text = message.text(line);
    let base = line.start as usize;
    let via_end = via.value.end as usize - base;
    // Spans fall on character boundaries: they come from the parser.
    let part = |range: std::ops::Range<usize>| text.get(range).unwrap_or("");
    match via.rport {
        Some(rport) => {
            copy.push(out, part(0..rport.start as usize - base));
            out.extend_from_slice(b"rport=");
            out.extend_from_slice(itoa::Buffer::new().format(source.port()).as_bytes());
            copy.push(out, part(rport.end as usize - base..via_end));
        }
        None => copy.push(out, part(0..via_end)),
    }
    let host = message.text(via.host);
    if (via.rport.is_some() || !host_is(host, source.ip())) && !via.has_received {
        // RFC 3261 §25.1: `via-received = "received" EQUAL (IPv4address /
        // IPv6address)`, the IPv6 address without brackets (RFC 5118 §4.5).
        out.extend_from_slice(b";received=");
        push_ip(out, source.ip().to_canonical());
    }
    copy.push(out, part(via_end..text.len()));
}

/// An address as text: IPv4 octet by octet (the common case, without the
/// formatting machinery), IPv6 in its RFC 5952 form.
fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let mut number = itoa::Buffer::new();
            for (n, octet) in v4.octets().into_iter().enumerate() {
                if n > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(number.format(octet).as_bytes());
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

fn host_is(host: &str, ip: IpAddr) -> bool {
    // The common case, an IPv4 sent-by written as the source writes it:
    // compared as text, with no parsing and no allocation.
    if let IpAddr::V4(v4) = ip.to_canonical() {
        let mut text = [0u8; 15];
        let mut len = 0;
        let mut number = itoa::Buffer::new();
        for (n, octet) in v4.octets().into_iter().enumerate() {
            if n > 0 {
                text[len] = b'.';
                len += 1;
            }
            let digits = number.format(octet).as_bytes();
            text[len..len + digits.len()].copy_from_slice(digits);
            len += digits.len();
        }
        if host.as_bytes() == &text[..len] {
            return true;
        }
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>()
        .is_ok_and(|parsed| parsed.to_canonical() == ip.to_canonical())
}

/// Where a UDP response goes (RFC 3261 §18.2.2, RFC 3581 §4): always the
/// source address — never the sent-by host, so the responder cannot be used
/// as a reflector — at the source port when rport was asked for (or
/// `force_rport` is set), else the sent-by port, else 5060.
pub fn udp_response_destination(
    source: SocketAddr,
    via_port: Option<u16>,
    rport: bool,
    force_rport: bool,
) -> SocketAddr {
    if rport || force_rport {
        source
    } else {
        SocketAddr::new(source.ip(), via_port.unwrap_or(5060))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::parse::{Limits, parse_datagram};

    fn request(text: &str) -> Request {
        Request::validate(parse_datagram(text.as_bytes(), &Limits::default()).expect("parse"))
            .expect("valid")
    }

    fn render(template: &ResponseTemplate, status: u16, body: &[u8]) -> String {
        let mut out = Vec::new();
        template.write(
            &mut out,
            b"Server: t\r\n",
            &ResponseParts {
                status,
                reason: "R",
                extra_headers: b"X-A: 1\r\n",
                content_type: Some("text/plain"),
                body,
            },
        );
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn copies_fields_and_fills_rport_received() {
        let r = request(
            "INVITE sip:u@h SIP/2.0\r\nv: SIP/2.0/UDP client.example;rport;branch=z9hG4bK1, SIP/2.0/UDP p2;branch=z9hG4bK2\r\nVia: SIP/2.0/TCP p3;branch=z9hG4bK3\r\nf: <sip:a@h>;tag=1\r\nt: <sip:u@h>\r\ni: c1\r\nCSeq: 1 INVITE\r\nRecord-Route: <sip:p1;lr>\r\nRecord-Route: <sip:p2;lr>\r\n\r\n",
        );
        let source: SocketAddr = "192.0.2.7:40000".parse().expect("addr");
        let template = ResponseTemplate::for_request(&r, source, "abc", "sip:192.0.2.1:5060");
        let text = render(&template, 180, b"");
        assert!(text.starts_with("SIP/2.0 180 R\r\nVia: SIP/2.0/UDP client.example;rport=40000;branch=z9hG4bK1;received=192.0.2.7, SIP/2.0/UDP p2;branch=z9hG4bK2\r\nVia: SIP/2.0/TCP p3;branch=z9hG4bK3\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:u@h>;tag=abc\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nRecord-Route: <sip:p1;lr>\r\nRecord-Route: <sip:p2;lr>\r\nContact: <sip:192.0.2.1:5060>\r\nServer: t\r\nX-A: 1\r\nContent-Length: 0\r\n\r\n"), "{text}");
        let trying = render(&template, 100, b"");
        assert!(trying.contains("To: <sip:u@h>\r\n") && !trying.contains("Contact"));
        let busy = render(&template, 486, b"hi");
        assert!(
            !busy.contains("Record-Route")
                && busy.ends_with("Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi")
        );
    }

    #[test]
    fn a_response_written_once_is_the_template_s() {
        let invite = "INVITE sip:u@h SIP/2.0\r\nVia: SIP/2.0/UDP client.example;rport;branch=z9hG4bK1\r\nf: <sip:a@h>;tag=1\r\nt: <sip:u@h>\r\ni: c1\r\nCSeq: 1 INVITE\r\nRecord-Route: <sip:p1;lr>\r\n\r\n";
        let options = "OPTIONS sip:u@h SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:u@h>;tag=x\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n\r\n";
        let source: SocketAddr = "192.0.2.7:40000".parse().expect("addr");
        for text in [invite, options] {
            let r = request(text);
            let template = ResponseTemplate::for_request(&r, source, "abc", "sip:192.0.2.1");
            for status in [100, 180, 200, 486] {
                let parts = ResponseParts {
                    status,
                    reason: "R",
                    extra_headers: b"X-A: 1\r\n",
                    content_type: Some("text/plain"),
                    body: b"hi",
                };
                let (mut kept, mut once) = (Vec::new(), b"stale".to_vec());
                template.write(&mut kept, b"Server: t\r\n", &parts);
                let copied = (source, "abc", "sip:192.0.2.1");
                ResponseTemplate::write_once(&r, copied, b"Server: t\r\n", &parts, &mut once);
                assert_eq!(
                    String::from_utf8_lossy(&once),
                    String::from_utf8_lossy(&kept)
                );
            }
        }
    }

    #[test]
    fn no_received_when_host_is_source() {
        let r = request(
            "OPTIONS sip:u@h SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:u@h>;tag=x\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n\r\n",
        );
        let source: SocketAddr = "192.0.2.7:5062".parse().expect("addr");
        let text = render(
            &ResponseTemplate::for_request(&r, source, "abc", "sip:h"),
            200,
            b"",
        );
        assert!(
            text.contains("Via: SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bK1\r\n"),
            "{text}"
        );
        assert!(text.contains("To: <sip:u@h>;tag=x\r\n"), "{text}");
    }

    #[test]
    fn udp_destination_never_leaves_the_source_host() {
        let source: SocketAddr = "192.0.2.7:40000".parse().expect("addr");
        assert_eq!(
            udp_response_destination(source, Some(5070), false, false),
            "192.0.2.7:5070".parse().expect("addr")
        );
        assert_eq!(
            udp_response_destination(source, None, false, false),
            "192.0.2.7:5060".parse().expect("addr")
        );
        assert_eq!(
            udp_response_destination(source, Some(5070), true, false),
            source
        );
        assert_eq!(
            udp_response_destination(source, Some(5070), false, true),
            source
        );
    }
}
