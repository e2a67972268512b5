//! Inputs the fuzz targets of fuzz/ found crashing, kept as regressions
//! (fuzz/README.md). Each is replayed in process through the public API the
//! target drives. The files are tests/fixtures/fuzz/<target>-<what>.<ext>;
//! `every_fixture_replays` runs all of them, so a new crash file is tested
//! as soon as it is added, and a named test says what each one was.

use std::net::SocketAddr;
use std::path::Path;

use bytes::BytesMut;
use sip_autoresponder::config::Config;
use sip_autoresponder::rules::template::Template;
use sip_autoresponder::sip::{
    self, Frame, Limits, ParseError, Request, ResponseParts, ResponseTemplate, StreamFramer,
    parse_datagram,
};

const SOURCE: &str = "192.0.2.1:5060";

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fuzz")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What the `datagram` target does short of the rules: parse, validate,
/// and write the response a valid request or a rejected one gets; the
/// response must parse back. Returns the defect of a rejected request.
fn replay_datagram(data: &[u8]) -> Option<ParseError> {
    let source: SocketAddr = SOURCE.parse().expect("addr");
    let message = parse_datagram(data, &Limits::default()).ok()?;
    if !message.is_request() {
        return None;
    }
    let mut out = Vec::new();
    let (status, defect) = match Request::validate(message) {
        Ok(request) => {
            ResponseTemplate::for_request(&request, source, "tag", "sip:127.0.0.1").write(
                &mut out,
                b"Server: t\r\n",
                &ResponseParts {
                    status: 200,
                    reason: "OK",
                    ..ResponseParts::default()
                },
            );
            (200, None)
        }
        Err(rejected) => {
            let text = rejected.error.to_string();
            assert!(
                text.len() <= 128 && !text.chars().any(char::is_control),
                "the defect's text (logged, and the reason of a 400) is not one short line: {text:?}"
            );
            let Some(status) = rejected.status() else {
                return Some(rejected.error);
            };
            let Some(template) = ResponseTemplate::for_rejected(&rejected, source, "tag") else {
                return Some(rejected.error);
            };
            let reason = format!("{} ({text})", sip::reason_phrase(status));
            template.write(
                &mut out,
                b"Server: t\r\n",
                &ResponseParts {
                    status,
                    reason: &reason,
                    ..ResponseParts::default()
                },
            );
            (status, Some(rejected.error))
        }
    };
    let reparsed = parse_datagram(&out, &Limits::default()).expect("our response parses");
    assert_eq!(reparsed.status(), Some(status));
    defect
}

/// How the `stream` target reads its input: byte 0 = `k | small << 4`, `k`
/// chunk sizes (`b + 1`; none: one byte per read), then the stream.
fn stream_input(data: &[u8]) -> (Limits, Vec<usize>, &[u8]) {
    let Some((&control, rest)) = data.split_first() else {
        return (Limits::default(), vec![1], &[]);
    };
    let count = usize::from(control & 0x0f).min(rest.len());
    let (sizes, stream) = rest.split_at(count);
    let limits = if control & 0x10 != 0 {
        Limits {
            max_message_size: 512,
            max_headers: 8,
        }
    } else {
        Limits::default()
    };
    let mut sizes: Vec<usize> = sizes.iter().map(|s| usize::from(*s) + 1).collect();
    if sizes.is_empty() {
        sizes.push(1);
    }
    (limits, sizes, stream)
}

/// Frames `stream` read in chunks of `sizes` (in turn), then all at once:
/// the messages framed and the error that ends framing, if any.
fn frame(limits: Limits, stream: &[u8], sizes: &[usize]) -> (Vec<Vec<u8>>, Option<ParseError>) {
    let mut framer = StreamFramer::new(limits);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut offset = 0;
    for size in sizes.iter().cycle() {
        if offset >= stream.len() {
            break;
        }
        let end = stream.len().min(offset + size);
        buf.extend_from_slice(&stream[offset..end]);
        offset = end;
        loop {
            match framer.next_frame(&mut buf) {
                Ok(Some(Frame::Message(message))) => frames.push(message.as_bytes().to_vec()),
                Ok(Some(Frame::KeepAlive)) => {}
                Ok(None) => break,
                Err(error) => return (frames, Some(error)),
            }
        }
    }
    (frames, None)
}

/// What the `stream` target checks: framing in the input's chunks gives
/// the messages and the kind of error framing all at once gives.
fn replay_stream(data: &[u8]) -> Option<ParseError> {
    let (limits, sizes, stream) = stream_input(data);
    let (chunked, chunked_error) = frame(limits, stream, &sizes);
    let (whole, whole_error) = frame(limits, stream, &[stream.len().max(1)]);
    assert_eq!(chunked, whole, "framed messages differ");
    assert_eq!(
        chunked_error.as_ref().map(std::mem::discriminant),
        whole_error.as_ref().map(std::mem::discriminant),
        "framing fails differently: {chunked_error:?} in chunks, {whole_error:?} at once"
    );
    whole_error
}

#[test]
fn every_fixture_replays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/fixtures/fuzz") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let data = std::fs::read(&path).expect("read");
        match name.split('-').next() {
            Some("datagram") => {
                replay_datagram(&data);
            }
            Some("stream") => {
                replay_stream(&data);
            }
            Some("config") => {
                let _ = Config::parse(&String::from_utf8_lossy(&data), name);
            }
            Some("template_sdp") => {
                let text = String::from_utf8_lossy(&data);
                let _ = Template::parse(&text);
            }
            _ => continue,
        }
        count += 1;
    }
    assert!(count > 0, "no fixture in {}", dir.display());
}

/// datagram: a bare CR inside the SIP version of the request line
/// (`SIP/2.0\r.0ha…`) was taken for another version, 505, and the version
/// text with its CR went into the defect, which is logged and (for a 400)
/// is the reason phrase. It is now a 400 naming the control character
/// (RFC 3261 §25.1: CR only ends a line), whose reason holds no CR.
#[test]
fn datagram_version_with_cr_is_a_bad_request_line() {
    let control = || Some(ParseError::ControlCharacter("the start line".into()));
    let defect = replay_datagram(&fixture("datagram-version-with-cr.sip"));
    assert_eq!(defect, control());
    // Minimised by hand.
    let minimal = b"OPTIONS sip:a@b SIP/2.0\r.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n";
    assert_eq!(replay_datagram(minimal), control());
    assert!(
        !ParseError::ControlCharacter("the start line".into())
            .to_string()
            .contains(['\r', '\n'])
    );
    let dotless = b"OPTIONS sip:a@b SIP/2.0x\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n";
    assert_eq!(
        replay_datagram(dotless),
        Some(ParseError::BadRequestLine("bad SIP version"))
    );
    // A well-formed other version is still 505 (RFC 4475 badvers).
    let other = b"OPTIONS sip:a@b SIP/7.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n";
    assert_eq!(
        replay_datagram(other),
        Some(ParseError::UnsupportedVersion("SIP/7.0".into()))
    );
}

/// stream: a head over `max_message_size` (512 here) with a bad
/// Content-Length failed on the Content-Length when read at once (a 400,
/// after tokenising the oversize head) and as too large when read in pieces
/// (closed). The framer now checks the head's size first: too large both
/// ways.
#[test]
fn stream_oversize_head_is_too_large_however_it_arrives() {
    let error = replay_stream(&fixture("stream-oversize-head-in-one-read.bin"));
    assert!(
        matches!(error, Some(ParseError::TooLarge { .. })),
        "{error:?}"
    );
    // Minimised by hand: default limits, 256-byte reads against one read.
    let mut input = b"\x01\xffOPTIONS sip:a@b SIP/2.0\r\nX: ".to_vec();
    input.resize(70_000, b'x');
    input.extend_from_slice(b"\r\nl: z\r\n\r\n");
    assert!(matches!(
        replay_stream(&input),
        Some(ParseError::TooLarge { .. })
    ));
}

/// datagram (its first build with debug assertions): a status line without
/// a reason phrase (`SIP/2.0 503`, LF LF) took the reason's span from a
/// string literal outside the message, an overflow in debug builds and a
/// meaningless span in release. The reason is now empty, a slice of the
/// message.
#[test]
fn datagram_status_line_without_reason_has_an_empty_reason() {
    let data = fixture("datagram-status-line-without-reason.sip");
    let message = parse_datagram(&data, &Limits::default()).expect("a response parses");
    assert_eq!((message.status(), message.reason()), (Some(503), ""));
    replay_datagram(&data);
}
