//! RFC 3261 §8.2.6 / §18.2 / RFC 3581 response fields over real UDP.

use crate::common::*;
use sip_autoresponder::sip::Transport;

const INVITE_RULES: &str = r#"
[[rule]]
name = "ring-then-answer"
match.method = "INVITE"
progress = [{ status = 180, delay_ms = 50 }, { status = 183 }]
accept = { delay_ms = 50, body = "v=0\r\n", content_type = "application/sdp" }

[[rule]]
name = "options"
match.method = "OPTIONS"
accept = {}
"#;

#[tokio::test]
async fn copies_via_from_to_call_id_cseq_in_order() {
    let daemon = TestDaemon::start(&config_with(INVITE_RULES));
    let client = UdpClient::new(daemon.udp()).await;
    let response = client
        .request(
            "OPTIONS sip:responder@example.com SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKtop;rport\r\n\
             Via: SIP/2.0/TCP proxy2.example.com;branch=z9hG4bKmiddle, SIP/2.0/UDP proxy3.example.com;branch=z9hG4bKlow\r\n\
             From: \"Alice\" <sip:alice@example.com>;tag=a1\r\n\
             To: <sip:responder@example.com>\r\n\
             Call-ID: fields-1@example.com\r\n\
             CSeq: 42 OPTIONS\r\n\
             Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n",
        )
        .await;
    assert_eq!(response.status, 200);
    let vias = response.all("Via");
    assert_eq!(vias.len(), 2, "{}", response.raw);
    assert_eq!(
        vias[0],
        format!(
            "SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKtop;rport={};received=127.0.0.1",
            client.port()
        )
    );
    assert_eq!(
        vias[1],
        "SIP/2.0/TCP proxy2.example.com;branch=z9hG4bKmiddle, SIP/2.0/UDP proxy3.example.com;branch=z9hG4bKlow"
    );
    assert_eq!(
        response.header("From"),
        Some("\"Alice\" <sip:alice@example.com>;tag=a1")
    );
    assert!(
        response
            .header("To")
            .is_some_and(|to| to.starts_with("<sip:responder@example.com>;tag="))
    );
    assert_eq!(response.header("Call-ID"), Some("fields-1@example.com"));
    assert_eq!(response.header("CSeq"), Some("42 OPTIONS"));
    assert!(
        response
            .header("Server")
            .is_some_and(|s| s.starts_with("sip-autoresponder"))
    );
    assert_eq!(response.header("Content-Length"), Some("0"));
    // Not a dialog-creating response: no Contact.
    assert_eq!(response.header("Contact"), None);
}

#[tokio::test]
async fn received_only_when_sent_by_differs_and_no_rport() {
    let daemon = TestDaemon::start(&config_with(INVITE_RULES));
    let client = UdpClient::new(daemon.udp()).await;
    let port = client.port();
    let message = options("recv-1").replace(
        "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-recv-1;rport",
        &format!("Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-recv-1"),
    );
    let response = client.request(&message).await;
    assert_eq!(
        response.header("Via"),
        Some(format!("SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-recv-1").as_str())
    );

    let message = options("recv-2").replace(
        "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-recv-2;rport",
        "Via: SIP/2.0/UDP client.example.com:5999;branch=z9hG4bK-recv-2",
    );
    let response = client.request(&message).await;
    assert_eq!(
        response.header("Via"),
        Some("SIP/2.0/UDP client.example.com:5999;branch=z9hG4bK-recv-2;received=127.0.0.1")
    );
}

/// Without rport (and without force_rport) the response goes to the source
/// address at the Via port — never to the Via host.
#[tokio::test]
async fn udp_response_goes_to_source_address_at_via_port() {
    let daemon = TestDaemon::start(
        "[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n[[rule]]\nname = \"o\"\naccept = {}\n",
    );
    let sender = UdpClient::new(daemon.udp()).await;
    let receiver = UdpClient::new(daemon.udp()).await;
    let message = options("route-1").replace(
        "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-route-1;rport",
        &format!(
            "Via: SIP/2.0/UDP 192.0.2.99:{};branch=z9hG4bK-route-1",
            receiver.port()
        ),
    );
    sender.send(&message).await;
    let response = receiver.recv().await;
    assert_eq!(response.status, 200);
    assert!(
        response
            .header("Via")
            .is_some_and(|v| v.ends_with(";received=127.0.0.1"))
    );
    sender.expect_silence().await;
}

#[tokio::test]
async fn invite_responses_share_one_to_tag_and_carry_contact_and_record_route() {
    let daemon = TestDaemon::start(&config_with(INVITE_RULES));
    let client = UdpClient::new(daemon.udp()).await;
    let invite = request(
        "INVITE",
        "sip:callee@example.com",
        "invite-1",
        "Record-Route: <sip:p1.example.com;lr>\r\nRecord-Route: <sip:p2.example.com;lr>\r\nContact: <sip:alice@127.0.0.1:5999>\r\n",
        "",
    );
    client.send(&invite).await;
    let trying = client.recv().await;
    assert_eq!((trying.status, trying.reason.as_str()), (100, "Trying"));
    assert_eq!(trying.to_tag(), None, "no To-tag on 100");
    assert_eq!(trying.header("Contact"), None);
    assert!(trying.all("Record-Route").is_empty());

    let ringing = client.recv().await;
    let progress = client.recv().await;
    let ok = client.recv().await;
    assert_eq!(
        (ringing.status, progress.status, ok.status),
        (180, 183, 200)
    );
    let tag = ringing.to_tag().expect("To-tag on 180");
    assert_eq!(progress.to_tag().as_deref(), Some(tag.as_str()));
    assert_eq!(ok.to_tag().as_deref(), Some(tag.as_str()));
    let contact = format!("<sip:127.0.0.1:{}>", daemon.udp().port());
    for response in [&ringing, &progress, &ok] {
        assert_eq!(
            response.all("Record-Route"),
            ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
        );
        assert_eq!(response.header("Contact"), Some(contact.as_str()));
    }
    assert_eq!(ok.header("Content-Type"), Some("application/sdp"));
    assert_eq!(ok.header("Content-Length"), Some("5"));
    assert_eq!(ok.body, "v=0\r\n");
}

#[tokio::test]
async fn compact_form_request_is_answered() {
    let daemon = TestDaemon::start(&config_with(INVITE_RULES));
    let client = UdpClient::new(daemon.udp()).await;
    let response = client
        .request(
            "OPTIONS sip:responder@example.com SIP/2.0\r\n\
             v: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKcompact\r\n\
             f: <sip:alice@example.com>;tag=c1\r\n\
             t: <sip:responder@example.com>\r\n\
             i: compact-1\r\n\
             CSeq: 7 OPTIONS\r\n\
             l: 0\r\n\r\n",
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("Call-ID"), Some("compact-1"));
    assert_eq!(
        response.header("From"),
        Some("<sip:alice@example.com>;tag=c1")
    );
    assert!(
        response
            .header("Via")
            .is_some_and(|v| v.starts_with("SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKcompact"))
    );
}

#[tokio::test]
async fn ipv6_listener_on_loopback() {
    let daemon = TestDaemon::start(
        "[server]\nforce_rport = true\n[[listen]]\ntransport = \"udp\"\naddress = \"[::1]:0\"\n[[rule]]\nname = \"o\"\naccept = {}\n",
    );
    let server = daemon.addr(Transport::Udp);
    assert!(server.is_ipv6());
    let client = UdpClient::new(server).await;
    let message = request("OPTIONS", "sip:[::1]", "v6-1", "", "").replace(
        "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-v6-1;rport",
        &format!(
            "Via: SIP/2.0/UDP [::1]:{};branch=z9hG4bK-v6-1;rport",
            client.port()
        ),
    );
    let response = client.request(&message).await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("Via"),
        Some(
            format!(
                "SIP/2.0/UDP [::1]:{port};branch=z9hG4bK-v6-1;rport={port};received=::1",
                port = client.port()
            )
            .as_str()
        )
    );
}

#[tokio::test]
async fn ack_is_never_answered() {
    let daemon = TestDaemon::start(&config_with("[[rule]]\nname = \"all\"\naccept = {}\n"));
    let client = UdpClient::new(daemon.udp()).await;
    client
        .send(&request(
            "ACK",
            "sip:responder@example.com",
            "ack-1",
            "",
            "",
        ))
        .await;
    client.expect_silence().await;
}

/// RFC 3261 §25.1 `via-received = "received" EQUAL (IPv4address /
/// IPv6address)` (RFC 5118 §4.5): Kamailio writes `received=` with an IPv6
/// address without brackets for a client with `;rport`; the request is
/// valid (it was a 400 "malformed Via header": issue 15, item 2), and the
/// lower Via is copied untouched.
#[tokio::test]
async fn a_via_received_holding_an_ipv6_address_without_brackets_is_valid() {
    let daemon = TestDaemon::start(&config_with(INVITE_RULES));
    let client = UdpClient::new(daemon.udp()).await;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/defects/options-via-received-ipv6.sip"
    );
    let request = std::fs::read(path).expect("fixture");
    client.send_bytes(&request).await;
    let response = client.recv().await;
    assert_eq!(response.status, 200, "{}", response.raw);
    assert_eq!(
        response.all("Via")[1],
        "SIP/2.0/UDP [2001:db8::9:1]:40123;received=2001:db8::9:1;rport=40123;branch=z9hG4bK-rcv6-0"
    );
}

/// RFC 6665 §4.2.1.1: the 2xx to a SUBSCRIBE creates a dialog, so it
/// carries a Contact (and the Record-Route of the request, §12.1.1).
#[tokio::test]
async fn a_2xx_to_subscribe_carries_contact_and_record_route() {
    let daemon = TestDaemon::start(&config_with(
        "[[rule]]\nname = \"subscribe\"\nmatch.method = \"SUBSCRIBE\"\naccept = { status = 202 }\n\n[[rule]]\nname = \"others\"\naccept = {}\n",
    ));
    let client = UdpClient::new(daemon.udp()).await;
    let subscribe = request(
        "SUBSCRIBE",
        "sip:presentity@example.com",
        "sub-1",
        "Event: presence\r\nExpires: 600\r\nContact: <sip:alice@127.0.0.1:5999>\r\nRecord-Route: <sip:proxy.example.com;lr>\r\n",
        "",
    );
    let response = client.request(&subscribe).await;
    assert_eq!(response.status, 202, "{}", response.raw);
    let contact = format!("<sip:{}>", daemon.udp());
    assert_eq!(
        response.header("Contact"),
        Some(contact.as_str()),
        "{}",
        response.raw
    );
    assert_eq!(response.all("Record-Route"), ["<sip:proxy.example.com;lr>"]);
    // Other methods still carry neither.
    let options = client.request(&options("sub-2")).await;
    assert!(options.header("Contact").is_none(), "{}", options.raw);
}
