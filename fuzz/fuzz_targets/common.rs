//! Shared by the fuzz targets: the representative rule set, the SDP answer
//! context, a fixed request, and the checks on what is written.

#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::sync::LazyLock;

use sip_autoresponder::config::Config;
use sip_autoresponder::rules::sdp::{self, AnswerContext, Codec, DtlsIdentity, Preference};
use sip_autoresponder::sip::{Limits, Request, Transport, parse_datagram};

/// Every matcher kind, named captures, templates, outcomes, a sequence.
pub const RULES: &str = include_str!("rules.toml");

static CONFIG: LazyLock<Config> =
    LazyLock::new(|| Config::parse(RULES, "rules.toml").expect("the fuzz rule set is valid"));
static DTLS: LazyLock<DtlsIdentity> =
    LazyLock::new(|| DtlsIdentity::generate().expect("DTLS identity"));
static CODECS: LazyLock<Vec<Codec>> = LazyLock::new(sdp::default_codecs);

pub fn config() -> &'static Config {
    &CONFIG
}

/// The responder's side of an SDP answer.
pub fn answer_context(address: IpAddr, session_version: u64) -> AnswerContext<'static> {
    AnswerContext {
        address,
        session_id: 4_242_424_242,
        session_version,
        base_port: 40_000,
        codecs: &CODECS,
        dtls: &DTLS,
        prefer: Preference::Theirs,
    }
}

/// The body of a `{ sdp = "answer" }` step: the answer to the offer in the
/// body, else a late offer. An answer must parse again and mirror its offer
/// (RFC 3264 §6); a late offer must parse.
pub fn sdp_answer(body: &[u8], session_version: u64) -> String {
    let ctx = answer_context(IpAddr::from([127, 0, 0, 1]), session_version);
    if let Ok(offer) = std::str::from_utf8(body)
        && let Ok(answer) = sdp::negotiate(offer, &ctx)
    {
        if let Err(error) = sdp::check_answer(offer, &answer.sdp) {
            panic!(
                "the answer does not answer its offer: {error}\n{}",
                answer.sdp
            );
        }
        return answer.sdp;
    }
    let offer = sdp::offer(&ctx);
    if let Err(error) = sdp::accept_answer(&offer) {
        panic!("the late offer does not parse: {error}\n{offer}");
    }
    offer
}

/// Where a datagram "came from": derived from its bytes (so that an input
/// always replays the same way) over addresses and transports the rules
/// tell apart.
pub fn origin(data: &[u8]) -> (SocketAddr, Transport) {
    const SOURCES: [&str; 6] = [
        "127.0.0.1:5070",
        "10.1.2.3:5060",
        "192.0.2.9:40000",
        "[::1]:5062",
        "[2001:db8:dead::7]:5060",
        "[::ffff:10.0.0.1]:1024",
    ];
    // FNV-1a.
    let hash = data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    let source = SOURCES[(hash % SOURCES.len() as u64) as usize]
        .parse()
        .expect("address");
    let transport = Transport::ALL[((hash >> 32) % Transport::ALL.len() as u64) as usize];
    (source, transport)
}

/// Pre-rendered `Name: value\r\n` lines: every line ends with CRLF and no
/// line holds another CR, LF or NUL (no header injection).
pub fn assert_header_lines(lines: &[u8]) {
    if lines.is_empty() {
        return;
    }
    assert!(
        lines.ends_with(b"\r\n"),
        "header lines not CRLF-terminated: {}",
        lines.escape_ascii()
    );
    let mut rest = &lines[..lines.len() - 2];
    loop {
        let (line, next) = match rest.windows(2).position(|w| w == b"\r\n") {
            Some(end) => (&rest[..end], Some(&rest[end + 2..])),
            None => (rest, None),
        };
        assert!(
            !line.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)),
            "CR, LF or NUL inside a header line: {}",
            lines.escape_ascii()
        );
        match next {
            Some(next) => rest = next,
            None => break,
        }
    }
}

/// A written response parses back as a response with this status and body.
pub fn check_response(out: &[u8], status: u16, body: &[u8]) {
    assert!(out.starts_with(b"SIP/2.0 "), "{}", out.escape_ascii());
    let limits = Limits {
        max_message_size: usize::MAX,
        max_headers: usize::MAX,
    };
    let parsed = match parse_datagram(out, &limits) {
        Ok(parsed) => parsed,
        Err(error) => panic!(
            "a response we wrote does not parse ({error}):\n{}",
            out.escape_ascii()
        ),
    };
    assert!(!parsed.is_request(), "{}", out.escape_ascii());
    assert_eq!(parsed.status(), Some(status), "{}", out.escape_ascii());
    assert!(
        parsed.defect().is_none(),
        "defect {:?} in a response we wrote:\n{}",
        parsed.defect(),
        out.escape_ascii()
    );
    assert_eq!(parsed.body(), body, "{}", out.escape_ascii());
}

/// A request with every field the templates read.
pub fn fixed_request() -> Request {
    const TEXT: &str = "INVITE sip:+15551234@example.com;user=phone SIP/2.0\r\n\
        Via: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bKfuzz;rport\r\n\
        Max-Forwards: 70\r\n\
        From: \"Alice A\" <sip:alice@atlanta.example.com>;tag=ft\r\n\
        To: <sip:bob@example.com>\r\n\
        Call-ID: c-1@192.0.2.1\r\n\
        CSeq: 7 INVITE\r\n\
        Contact: <sip:alice@192.0.2.1:5070>\r\n\
        Subject: hello\r\n\
        X-Foo: bar\r\n\
        Content-Type: text/plain\r\n\
        Content-Length: 5\r\n\r\nhello";
    Request::validate(parse_datagram(TEXT.as_bytes(), &Limits::default()).expect("parses"))
        .expect("valid")
}
