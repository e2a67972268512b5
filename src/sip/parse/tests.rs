//! Tests of the tokeniser: folding, start lines, Content-Length, bytes
//! that are not UTF-8 and control characters.

use super::*;
use crate::sip::wire;

fn parse(text: &str) -> Message {
    parse_datagram(text.as_bytes(), &Limits::default()).expect("parses")
}

#[test]
fn folded_lines_are_joined_and_offsets_stay_valid() {
    let m = parse("OPTIONS sip:a@b SIP/2.0\r\nSubject: one\r\n two\r\nVia : SIP/2.0/UDP h\r\n\r\n");
    assert_eq!(m.header(HeaderName::Subject), Some("one   two"));
    assert_eq!(m.header(HeaderName::Via), Some("SIP/2.0/UDP h"));
}

/// Found by the `datagram` fuzz target: a bare CR in the version went
/// into `UnsupportedVersion`, whose text is logged (and, per its doc,
/// may be a reason phrase).
/// Found by the datagram fuzz target (with debug assertions): a status
/// line without a reason phrase took its span from a literal outside
/// the message.
#[test]
fn a_status_line_without_reason_has_an_empty_reason() {
    for text in ["SIP/2.0 503\n\n\u{fb}", "SIP/2.0 180\r\n\r\n"] {
        let message = parse(text);
        assert_eq!(message.reason(), "", "{text:?}");
    }
    assert_eq!(parse("SIP/2.0 503 \r\n\r\n").reason(), "");
}

#[test]
fn only_a_well_formed_version_is_unsupported() {
    let m = parse("OPTIONS sip:a@b SIP/7.0\r\n\r\n");
    assert_eq!(
        m.defect(),
        Some(&ParseError::UnsupportedVersion("SIP/7.0".into()))
    );
    for version in ["SIP/2.0\r.0x", "SIP/2.0\u{0}"] {
        let m = parse(&format!("OPTIONS sip:a@b {version}\r\n\r\n"));
        assert_eq!(
            m.defect(),
            Some(&ParseError::ControlCharacter("the start line".into())),
            "{version:?}"
        );
    }
    for version in ["SIP/2", "SIP/.0", "SIP/22222222222.0"] {
        let m = parse(&format!("OPTIONS sip:a@b {version}\r\n\r\n"));
        assert_eq!(
            m.defect(),
            Some(&ParseError::BadRequestLine("bad SIP version")),
            "{version:?}"
        );
    }
}

#[test]
fn datagram_content_length_rules() {
    let m = parse("MESSAGE sip:a@b SIP/2.0\r\nl: 3\r\n\r\nabcdef");
    assert_eq!(m.body(), b"abc");
    let m = parse("MESSAGE sip:a@b SIP/2.0\r\n\r\nabcdef");
    assert_eq!(m.body(), b"abcdef");
    let m = parse("MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 99\r\n\r\nabc");
    assert_eq!(m.defect(), Some(&ParseError::ContentLengthTooLarge));
    let m = parse("MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 99999999999999999999999\r\n\r\n");
    assert_eq!(m.defect(), Some(&ParseError::BadContentLength));
}

#[test]
fn request_line_defects() {
    let m = parse("INVITE  sip:a@b  SIP/2.0\r\n\r\n");
    assert!(matches!(m.defect(), Some(ParseError::BadRequestLine(_))));
    let m = parse("OPTIONS sip:a@b SIP/7.0\r\n\r\n");
    assert_eq!(m.defect().and_then(ParseError::status), Some(505));
    assert_eq!(
        parse_datagram(b"\x00\x01garbage\r\n\r\n", &Limits::default()).err(),
        Some(ParseError::NotSip)
    );
}

#[test]
fn bytes_that_are_not_utf8_are_kept_for_the_wire() {
    let data =
        b"OPTIONS sip:a@b SIP/2.0\r\nFrom: \"J\xfcrgen\" <sip:j@b>\r\ni: \xe5\xe4\xf6@h\r\n\r\n";
    let m = parse_datagram(data, &Limits::default()).expect("parses");
    assert_eq!(m.defect(), None);
    let from = m.header(HeaderName::From).expect("From");
    assert_eq!(from.chars().count(), "\"J?rgen\" <sip:j@b>".len());
    assert_eq!(&*wire::wire_bytes(from), b"\"J\xfcrgen\" <sip:j@b>");
    let call_id = m.header(HeaderName::CallId).expect("Call-ID");
    assert_eq!(&*wire::wire_bytes(call_id), b"\xe5\xe4\xf6@h");
    assert_eq!(m.as_bytes(), data, "the message as received is kept");
}

#[test]
fn valid_heads_are_not_copied() {
    let data = bytes::Bytes::from_static(
        b"OPTIONS sip:a@b SIP/2.0\r\nFrom: \"J\xc3\xbcrgen\" <sip:j@b>\r\n\r\n",
    );
    let m = parse_datagram(&data, &Limits::default()).expect("parses");
    assert_eq!(
        m.head().as_ptr(),
        m.as_bytes().as_ptr(),
        "the head is a view of the buffer"
    );
}

#[test]
fn control_characters_outside_quoted_pairs_are_named_defects() {
    let defect = |line: &str| {
        parse(&format!(
            "OPTIONS sip:a@b SIP/2.0\r\n{line}\r\nCSeq: 1 OPTIONS\r\n\r\n"
        ))
        .defect()
        .cloned()
    };
    let named = |what: &str| Some(ParseError::ControlCharacter(what.into()));
    assert_eq!(defect("i: abc\rdef"), named("the Call-ID header"));
    assert_eq!(
        defect("From: \"A\rB\" <sip:a@b>;tag=1"),
        named("the From header")
    );
    assert_eq!(defect("Require: foo\u{0}"), named("the Require header"));
    assert_eq!(defect("X-Thing: \u{1b}[31m"), named("the X-Thing header"));
    assert_eq!(
        defect("Via: SIP/2.0/UDP h;x=\"\r\";branch=z9hG4bK1"),
        named("the Via header")
    );
    assert_eq!(defect("\u{7f}junk"), named("a header line"));
    // A quoted-pair may escape any control but CR and LF; HTAB is LWS.
    assert_eq!(defect("From: \"A\\\u{0}B\"\t<sip:a@b>;tag=1"), None);
    assert_eq!(defect("Server: x (y\\\u{1})"), None);
    // The defect wins over one found earlier, so the 400 names it.
    let m = parse("OPTIONS sip:a@b SIP/2.0\r\nbad line\r\nTo: <sip:a@b\r>\r\n\r\n");
    assert_eq!(m.defect(), named("the To header").as_ref());
    // Line ends may be CRLF or bare LF (mixed), and folding is no CR.
    assert_eq!(
        parse("OPTIONS sip:a@b SIP/2.0\nA: 1\r\nB: 2\r\n 3\n\n").defect(),
        None
    );
}

#[test]
fn responses_are_recognised() {
    let m = parse("SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h\r\n\r\n");
    assert_eq!(m.status(), Some(180));
    assert_eq!(m.reason(), "Ringing");
    assert!(parse_datagram(b"SIP/2.0 4294967301 Huge\r\n\r\n", &Limits::default()).is_err());
}

#[test]
fn the_head_ends_at_the_first_empty_line_of_either_kind() {
    let end = |text: &str| find_head_end(text.as_bytes()).map(|e| (e.head_len, e.body_start));
    assert_eq!(end("A\r\nB\r\n\r\nbody"), Some((6, 8)));
    assert_eq!(end("A\nB\n\nbody"), Some((4, 5)));
    // A bare LF LF before the CRLF CRLF wins, and the other way round.
    assert_eq!(end("A\n\nB\r\n\r\n"), Some((2, 3)));
    assert_eq!(end("A\r\n\r\nB\n\n"), Some((3, 5)));
    // LF CR LF is no empty line: the line before it ended with a bare LF.
    assert_eq!(end("A\n\r\nB"), None);
    assert_eq!(end("A\r\nB\r\n\r"), None);
    assert_eq!(end("\r\n\r\n"), Some((2, 4)));
}

/// The suspects counted in one pass are the controls other than HTAB and
/// LF, for every byte and across chunk boundaries.
#[test]
fn control_suspects_are_counted_exactly() {
    for byte in 0..=255u8 {
        for len in [1, 127, 128, 129, 300] {
            let head = vec![byte; len];
            let suspect = (byte < 0x20 && byte != b'\t' && byte != b'\n') || byte == 0x7F;
            let controls = controls::scan_controls(&head);
            assert!(
                !controls.may_be_misplaced(if suspect { len } else { 0 }),
                "{byte} {len}"
            );
            assert_eq!(controls.non_ascii, byte >= 0x80);
        }
    }
}
