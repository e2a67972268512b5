//! Tests of journal records: values cut, outcomes bounded, media events.

use super::*;
use crate::sip::{Limits, parse_datagram};

fn message(extra: &str, body: &str) -> Message {
    let text = format!(
        "MESSAGE sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: c\r\nCSeq: 1 MESSAGE\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    parse_datagram(text.as_bytes(), &Limits::default()).expect("parses")
}

fn endpoints() -> Endpoints {
    Endpoints {
        transport: Transport::Tcp,
        source: "192.0.2.1:5060".parse().expect("addr"),
        destination: "192.0.2.2:5060".parse().expect("addr"),
    }
}

#[test]
fn values_and_bodies_are_cut_and_the_size_follows() {
    let small = Record::of(
        &message("", "hi"),
        Direction::Received,
        endpoints(),
        None,
        None,
    );
    assert!(!small.cut);
    assert_eq!((small.body.as_str(), small.call_id.as_str()), ("hi", "c"));
    let long_value = format!("X-Long: {}é\r\n", "v".repeat(VALUE_LIMIT - 1));
    let body = "b".repeat(10_000);
    let big = Record::of(
        &message(&long_value, &body),
        Direction::Received,
        endpoints(),
        Some("t1"),
        None,
    );
    assert!(big.cut);
    assert!(big.size() > small.size() + 4096);
    assert!(big.size() < 64 * 1024, "bounded: {}", big.size());
    assert_eq!(big.scope.as_deref(), Some("t1"));
}

#[test]
fn the_outcome_is_bounded_and_serialised() {
    let record = Record::of(
        &message("", ""),
        Direction::Received,
        endpoints(),
        None,
        None,
    );
    record.set_rule("echo");
    let before = record.size();
    for status in 100..200 {
        let bytes = format!("SIP/2.0 {status} X\r\nContent-Length: 0\r\n\r\n");
        record.add_response(ResponseRecord::of(status, "X", bytes.as_bytes(), record.at));
    }
    assert_eq!(record.responses().len(), MAX_RESPONSES);
    assert!(record.size() > before, "responses count against the bound");
    assert!(record.has_status(131) && !record.has_status(199));
    let json = serde_json::to_value(&record).expect("json");
    assert_eq!(json["rule"], "echo");
    assert_eq!(json["transport"], "tcp");
    assert_eq!(json["direction"], "received");
    assert_eq!(json["responses"][0]["headers"][0][0], "Content-Length");
    assert!(json["outcome"].is_null());
}

#[test]
fn a_request_of_ours_is_read_back_from_its_bytes() {
    let bytes = b"BYE sip:a@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1;rport\r\nFrom: <sip:b@h>;tag=x\r\nTo: <sip:a@h>;tag=y\r\nCall-ID: call-7\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n";
    let record = Record::of_sent(bytes, endpoints(), Some("t9"));
    assert_eq!(record.method, "BYE");
    assert_eq!(record.request_uri, "sip:a@192.0.2.1");
    assert_eq!(record.call_id, "call-7");
    assert_eq!(record.to, "<sip:a@h>;tag=y");
    assert_eq!(record.direction, Direction::Sent);
    record.set_sent_outcome(SentOutcome::of(
        &crate::transaction::ClientOutcome::Final(200),
        record.at,
    ));
    assert!(record.has_status(200));
}
