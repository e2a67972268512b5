//! Tests of body reading: media types, codings, multipart offers.

use super::*;
use crate::sip::{Limits, parse_datagram};

const SDP_TEXT: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";

fn invite(extra: &str, body: &str) -> Request {
    let text = format!(
        "INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\n\
         To: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let message = parse_datagram(text.as_bytes(), &Limits::default()).expect("parses");
    Request::validate(message).expect("valid")
}

#[test]
fn media_types_and_parameters() {
    let media = MediaType::parse("Multipart/Mixed ; boundary=\"a b;c\" ;x=1").expect("parses");
    assert!(media.is("multipart", "mixed"));
    assert_eq!(media.param("BOUNDARY"), Some("a b;c"));
    assert_eq!(media.param("x"), Some("1"));
    assert_eq!(media.param("y"), None);
    for bad in [
        "aaaaaaaaa",
        "application////sip",
        "/sdp",
        "application/",
        "",
    ] {
        assert!(MediaType::parse(bad).is_none(), "{bad}");
    }
}

#[test]
fn sdp_bodies_and_unusable_ones() {
    let sdp = invite("Content-Type: application/SDP\r\n", SDP_TEXT);
    assert_eq!(sdp.session_description(), Ok(Some(SDP_TEXT.as_bytes())));
    assert_eq!(invite("", "").session_description(), Ok(None));
    for content_type in ["aaaaaaaaa", "application////sip", "text/plain"] {
        let request = invite(&format!("Content-Type: {content_type}\r\n"), SDP_TEXT);
        assert_eq!(
            request.session_description(),
            Err(BodyError::UnsupportedType(content_type.into())),
        );
    }
    assert_eq!(
        invite("", SDP_TEXT).session_description(),
        Err(BodyError::UnsupportedType("(none)".into()))
    );
    let gzip = invite(
        "Content-Type: application/sdp\r\nContent-Encoding: gzip\r\n",
        SDP_TEXT,
    );
    assert_eq!(
        gzip.session_description(),
        Err(BodyError::UnsupportedEncoding("gzip".into()))
    );
    let identity = invite("Content-Type: application/sdp\r\ne: identity\r\n", SDP_TEXT);
    assert!(identity.session_description().is_ok());
}

/// RFC 5621 §3 and SIPp's regress 0862: SDP beside ISUP and location.
#[test]
fn the_sdp_part_of_a_multipart_body_is_found() {
    let body = format!(
        "preamble\r\n--unique-boundary-1\r\nContent-Type: application/pidf+xml\r\n\
         Content-ID: <loc@h>\r\n\r\n<presence/>\r\n--unique-boundary-1\r\n\
         Content-Type: application/sdp\r\nContent-Disposition: session\r\n\r\n{SDP_TEXT}\r\n\
         --unique-boundary-1\r\nContent-Type: application/ISUP;version=nxv3\r\n\
         Content-Disposition: signal;handling=optional\r\n\r\n\u{1}\u{2}\r\n--unique-boundary-1--\r\n"
    );
    let request = invite(
        "Content-Type: multipart/mixed;boundary=unique-boundary-1\r\n",
        &body,
    );
    assert_eq!(request.session_description(), Ok(Some(SDP_TEXT.as_bytes())));
    let nested = format!(
        "--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n\
         --inner\r\nContent-Type: text/plain\r\n\r\nhi\r\n--inner\r\n\
         Content-Type: application/sdp\r\n\r\n{SDP_TEXT}\r\n--inner--\r\n\r\n--outer--\r\n"
    );
    let request = invite("Content-Type: multipart/mixed; boundary=outer\r\n", &nested);
    assert_eq!(request.session_description(), Ok(Some(SDP_TEXT.as_bytes())));
}

#[test]
fn multipart_without_sdp_or_with_broken_framing() {
    let no_sdp = "--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n";
    let request = invite("Content-Type: multipart/mixed;boundary=b\r\n", no_sdp);
    assert_eq!(request.session_description(), Ok(None));
    for (content_type, body) in [
        ("multipart/mixed", no_sdp),
        (
            "multipart/mixed;boundary=b",
            "--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n",
        ),
        ("multipart/mixed;boundary=zz", no_sdp),
    ] {
        let request = invite(&format!("Content-Type: {content_type}\r\n"), body);
        assert_eq!(
            request.session_description(),
            Err(BodyError::MalformedMultipart),
            "{content_type}"
        );
    }
}
