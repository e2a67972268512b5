//! The quick answer (issue 14): a new out-of-dialog non-INVITE request
//! whose rule has no side effects is answered with no transaction kept. A
//! retransmission is answered anew with the same bytes (the To-tag is
//! derived from the request); every other rule still keeps its
//! transaction, so a retransmission never runs it twice.

use sip_autoresponder::sip::Transport;

use crate::common::clients::StreamClient;
use crate::common::*;

const RULES: &str = r#"
[[rule]]
name = "quick"
match.method = "OPTIONS"
accept = { extra_headers = ["X-Lab: quick ${call_id}"], body = "up", content_type = "text/plain" }

[[rule]]
name = "counted"
match.method = "MESSAGE"
accept = { extra_headers = ["X-Count: ${counter}"] }
"#;

#[tokio::test]
async fn a_retransmission_gets_the_same_bytes_and_another_request_another_tag() {
    let daemon = TestDaemon::start(&config_with(RULES));
    let client = UdpClient::new(daemon.udp()).await;
    let first = client.request(&options("quick-1")).await;
    let again = client.request(&options("quick-1")).await;
    assert_eq!(first.raw, again.raw, "a retransmission's answer differs");
    let other = client.request(&options("quick-2")).await;
    let tag = first.to_tag().expect("a To-tag");
    assert_ne!(Some(tag.clone()), other.to_tag());
    assert!(tag.len() >= 10, "{tag}");

    // What the rule says, and every field RFC 3261 §8.2.6.2 copies, in
    // order, with received and rport filled (RFC 3581 §4).
    assert_eq!((first.status, first.reason.as_str()), (200, "OK"));
    assert_eq!(first.header("X-Lab"), Some("quick quick-1"));
    assert_eq!(first.header("Content-Type"), Some("text/plain"));
    assert_eq!(first.body, "up");
    let names: Vec<&str> = first.headers.iter().map(|(n, _)| n.as_str()).collect();
    let position = |name: &str| names.iter().position(|n| n.eq_ignore_ascii_case(name));
    let copied = ["Via", "From", "To", "Call-ID", "CSeq"].map(position);
    assert!(
        copied.iter().all(Option::is_some) && copied.windows(2).all(|w| w[0] < w[1]),
        "copied fields out of order: {names:?}"
    );
    let via = first.header("Via").expect("Via");
    assert!(
        via.contains(&format!("rport={}", client.port())) && via.contains("received=127.0.0.1"),
        "{via}"
    );
    assert_eq!(
        first.header("From"),
        Some("\"Alice\" <sip:alice@example.com>;tag=from-quick-1")
    );
    assert_eq!(first.header("CSeq"), Some("1 OPTIONS"));
    assert_eq!(first.header("Content-Length"), Some("2"));
}

#[tokio::test]
async fn the_same_answer_over_tcp() {
    let daemon = TestDaemon::start(&format!(
        "[[listen]]\ntransport = \"tcp\"\naddress = \"127.0.0.1:0\"\n{RULES}"
    ));
    let mut client = StreamClient::tcp(daemon.addr(Transport::Tcp)).await;
    let request = options("quick-tcp").replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    let mut answers = Vec::new();
    for _ in 0..2 {
        client.send_bytes(request.as_bytes()).await;
        answers.push(client.recv_within(REPLY_WAIT).await.expect("200"));
    }
    assert_eq!(answers[0].raw, answers[1].raw);
    assert_eq!(answers[0].status(), Some(200));
    assert_eq!(
        answers[0].header("X-Lab").as_deref(),
        Some("quick quick-tcp")
    );
}

#[tokio::test]
async fn a_rule_with_a_side_effect_keeps_its_transaction() {
    let daemon = TestDaemon::start(&config_with(RULES));
    let client = UdpClient::new(daemon.udp()).await;
    let message = request("MESSAGE", "sip:bob@example.com", "counted-1", "", "hi");
    let first = client.request(&message).await;
    let again = client.request(&message).await;
    // Answered from the completed transaction: the rule ran once.
    assert_eq!(first.header("X-Count"), Some("1"));
    assert_eq!(first.raw, again.raw);
    let next = request("MESSAGE", "sip:bob@example.com", "counted-2", "", "hi");
    assert_eq!(client.request(&next).await.header("X-Count"), Some("2"));
}
