//! TCP, TLS, WebSocket and secure WebSocket listeners: the same scenarios
//! over every transport, stream framing, the RFC 7118 handshake and the
//! connection limits.

use std::time::Duration;

use sip_autoresponder::sip::Transport;

use crate::common::clients::{Client, StreamClient, TestCertificate, WsClient};
use crate::common::*;

const RULES: &str = r#"
[[rule]]
name = "ring-answer"
match.request_uri = "^sip:answer@"
progress = [{ status = 180 }]
accept = { delay_ms = 50, body = "v=0\r\n" }

[[rule]]
name = "ring"
match.request_uri = "^sip:ring@"
progress = [{ status = 180 }]

[[rule]]
name = "busy"
match.request_uri = "^sip:busy@"
reject = { status = 486 }

[[rule]]
name = "short-call"
match.request_uri = "^sip:short@"
accept = { hangup_after_ms = 100 }

[[rule]]
name = "auto-reply"
match.method = "MESSAGE"
accept = {}
message = { body = "pong" }

[[rule]]
name = "all"
accept = {}
"#;

fn daemon(extra_listeners: &str) -> TestDaemon {
    TestDaemon::start(&format!(
        "[server]\nforce_rport = true\n[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n[[listen]]\ntransport = \"tcp\"\naddress = \"127.0.0.1:0\"\n[[listen]]\ntransport = \"ws\"\naddress = \"127.0.0.1:0\"\n{extra_listeners}\n{RULES}"
    ))
}

async fn clients(daemon: &TestDaemon) -> Vec<Client> {
    vec![
        Client::Udp(UdpClient::new(daemon.addr(Transport::Udp)).await),
        Client::Stream(StreamClient::tcp(daemon.addr(Transport::Tcp)).await),
        Client::Ws(WsClient::connect(daemon.addr(Transport::Ws)).await),
    ]
}

fn invite(uri: &str, call_id: &str) -> String {
    request(
        "INVITE",
        uri,
        call_id,
        "Contact: <sip:alice@127.0.0.1:5999>\r\n",
        "",
    )
}

#[tokio::test]
async fn options_over_every_transport() {
    let daemon = daemon("");
    for mut client in clients(&daemon).await {
        let via = client.via();
        let r = client
            .request(&options(&format!("opt-{}", client.name())))
            .await;
        assert_eq!(r.status, 200, "{}", client.name());
        let top = r.header("Via").unwrap_or_default();
        assert!(top.starts_with(&via), "{}: {top}", client.name());
        if client.name() == "ws" {
            // The .invalid host is never resolved; received says where it came from.
            assert!(top.ends_with(";received=127.0.0.1"), "{top}");
        }
    }
}

#[tokio::test]
async fn call_answered_acked_and_hung_up_over_every_transport() {
    let daemon = daemon("");
    for mut client in clients(&daemon).await {
        let name = client.name();
        let call_id = format!("call-{name}");
        client
            .send(&invite("sip:answer@example.com", &call_id))
            .await;
        let ringing = client.recv().await;
        assert_eq!(ringing.status, 180, "{name}");
        let ok = client.recv().await;
        assert_eq!((ok.status, ok.body.as_str()), (200, "v=0\r\n"), "{name}");
        let port = daemon.addr(match name {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            _ => Transport::Ws,
        });
        let contact = match name {
            "udp" => format!("<sip:127.0.0.1:{}>", port.port()),
            other => format!("<sip:127.0.0.1:{};transport={other}>", port.port()),
        };
        assert_eq!(ok.header("Contact"), Some(contact.as_str()), "{name}");
        let tag = ok.to_tag().expect("tag");
        client
            .send(&in_dialog("ACK", &call_id, &tag, 1, &format!("ack-{name}")))
            .await;
        let bye = client
            .request(&in_dialog("BYE", &call_id, &tag, 2, &format!("bye-{name}")))
            .await;
        assert_eq!(
            (bye.status, bye.header("CSeq")),
            (200, Some("2 BYE")),
            "{name}"
        );
    }
}

#[tokio::test]
async fn reject_and_cancel_over_every_transport() {
    let daemon = daemon("");
    for mut client in clients(&daemon).await {
        let name = client.name();
        let r = client
            .request(&invite("sip:busy@example.com", &format!("busy-{name}")))
            .await;
        assert_eq!(r.status, 486, "{name}");
        client
            .send(&ack_for(
                &invite("sip:busy@example.com", &format!("busy-{name}")),
                &r.to_tag().unwrap_or_default(),
            ))
            .await;

        let ringing_invite = invite("sip:ring@example.com", &format!("ring-{name}"));
        assert_eq!(client.request(&ringing_invite).await.status, 180, "{name}");
        client.send(&cancel_for(&ringing_invite)).await;
        let mut statuses = vec![client.recv().await.status, client.recv().await.status];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 487], "{name}");
    }
}

#[tokio::test]
async fn hangup_bye_and_auto_reply_go_back_over_the_same_connection() {
    let daemon = daemon("");
    for mut client in clients(&daemon).await {
        let name = client.name();
        let call_id = format!("short-{name}");
        let ok = client
            .request(&invite("sip:short@example.com", &call_id))
            .await;
        assert_eq!(ok.status, 200, "{name}");
        client
            .send(&in_dialog(
                "ACK",
                &call_id,
                &ok.to_tag().expect("tag"),
                1,
                &format!("sack-{name}"),
            ))
            .await;
        let bye = client.recv_within(REPLY_WAIT).await.expect("BYE");
        assert!(bye.is_request("BYE"), "{name}: {}", bye.raw);
        let via = bye.header("Via").unwrap_or_default();
        let token = match name {
            "udp" => "UDP",
            "tcp" => "TCP",
            _ => "WS",
        };
        assert!(
            via.starts_with(&format!("SIP/2.0/{token} ")),
            "{name}: {via}"
        );
        client.answer(&bye, 200, "OK").await;

        let accepted = client
            .request(&request(
                "MESSAGE",
                "sip:bot@example.com",
                &format!("im-{name}"),
                "",
                "ping",
            ))
            .await;
        assert_eq!(accepted.status, 200, "{name}");
        let message = client.recv_within(REPLY_WAIT).await.expect("auto-reply");
        assert!(message.is_request("MESSAGE"), "{name}: {}", message.raw);
        assert_eq!(message.body(), "pong");
        client.answer(&message, 200, "OK").await;
    }
}

#[tokio::test]
async fn tcp_framing_split_pipelined_and_keepalive() {
    let daemon = daemon("");
    let server = daemon.addr(Transport::Tcp);
    let mut client = StreamClient::tcp(server).await;
    // One byte per write.
    let message = options("bytewise").replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    for byte in message.as_bytes() {
        client.send_bytes(std::slice::from_ref(byte)).await;
    }
    let r = client
        .recv_within(REPLY_WAIT)
        .await
        .expect("answer to a byte-wise request");
    assert_eq!(r.status(), Some(200));
    // Two requests in one write, then a keep-alive ping.
    let two = format!("{}{}\r\n\r\n", options("pipe-1"), options("pipe-2"))
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    client.send_bytes(two.as_bytes()).await;
    let first = client.recv_within(REPLY_WAIT).await.expect("first");
    let second = client.recv_within(REPLY_WAIT).await.expect("second");
    assert_eq!(first.header("Call-ID").as_deref(), Some("pipe-1"));
    assert_eq!(second.header("Call-ID").as_deref(), Some("pipe-2"));
    let (pong, closed) = client.read_until_closed(Duration::from_millis(300)).await;
    assert_eq!(pong, b"\r\n", "CRLF pong (RFC 5626 §3.5.1)");
    assert!(!closed);
}

#[tokio::test]
async fn tcp_missing_content_length_gets_400_and_close() {
    let daemon = daemon("");
    let mut client = StreamClient::tcp(daemon.addr(Transport::Tcp)).await;
    let message = options("no-length")
        .replace("Content-Length: 0\r\n", "")
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    client.send_bytes(message.as_bytes()).await;
    let r = client.recv_within(REPLY_WAIT).await.expect("400");
    assert_eq!(r.status(), Some(400));
    assert!(
        r.start_line().contains("Content-Length"),
        "{}",
        r.start_line()
    );
    assert_eq!(r.header("Call-ID").as_deref(), Some("no-length"));
    let (_, closed) = client.read_until_closed(REPLY_WAIT).await;
    assert!(closed, "connection closed after the 400");
}

#[tokio::test]
async fn tcp_oversize_message_closes_the_connection() {
    let daemon = daemon("");
    let mut client = StreamClient::tcp(daemon.addr(Transport::Tcp)).await;
    let message = options("huge").replace("Content-Length: 0", "Content-Length: 1000000");
    client.send_bytes(message.as_bytes()).await;
    let (bytes, closed) = client.read_until_closed(REPLY_WAIT).await;
    assert!(closed && bytes.is_empty(), "closed without an answer");
    // Others are unaffected.
    let mut other = Client::Stream(StreamClient::tcp(daemon.addr(Transport::Tcp)).await);
    assert_eq!(other.request(&options("after-huge")).await.status, 200);
}

#[tokio::test]
async fn connection_closed_mid_message_leaves_the_daemon_healthy() {
    let daemon = daemon("");
    let mut client = StreamClient::tcp(daemon.addr(Transport::Tcp)).await;
    let message = invite("sip:answer@example.com", "half");
    client
        .send_bytes(&message.as_bytes()[..message.len() / 2])
        .await;
    drop(client);
    let mut ws = WsClient::connect(daemon.addr(Transport::Ws)).await;
    ws.send_text("INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/WS x.invalid;branch=z9hG4bK1\r\n")
        .await;
    drop(ws);
    let mut client = Client::Stream(StreamClient::tcp(daemon.addr(Transport::Tcp)).await);
    assert_eq!(client.request(&options("healthy")).await.status, 200);
}

#[tokio::test]
async fn websocket_handshake_requires_the_sip_subprotocol_and_path() {
    let daemon = TestDaemon::start(&format!(
        "[[listen]]\ntransport = \"ws\"\naddress = \"127.0.0.1:0\"\npath = \"/sip\"\n{RULES}"
    ));
    let server = daemon.addr(Transport::Ws);
    let tcp = || async {
        Box::new(
            tokio::net::TcpStream::connect(server)
                .await
                .expect("connect"),
        )
    };
    let refused = WsClient::handshake(tcp().await, "ws", server, "/sip", None)
        .await
        .err()
        .expect("refused without sip");
    assert!(
        refused.starts_with("HTTP 400") && refused.contains("sip"),
        "{refused}"
    );
    let refused = WsClient::handshake(tcp().await, "ws", server, "/sip", Some("chat"))
        .await
        .err()
        .expect("refused with another protocol");
    assert!(refused.starts_with("HTTP 400"), "{refused}");
    let refused = WsClient::handshake(tcp().await, "ws", server, "/other", Some("sip"))
        .await
        .err()
        .expect("refused on another path");
    assert!(refused.starts_with("HTTP 404"), "{refused}");
    let mut ws = WsClient::handshake(tcp().await, "ws", server, "/sip", Some("sip"))
        .await
        .expect("accepted");
    ws.send_binary(
        options("binary")
            .replace("SIP/2.0/UDP 127.0.0.1:5999", "SIP/2.0/WS a.invalid")
            .as_bytes(),
    )
    .await;
    let r = ws
        .recv_within(REPLY_WAIT)
        .await
        .expect("answer to a binary frame");
    assert_eq!(r.status(), Some(200));
    ws.send_text("this is not SIP").await;
    let r = ws
        .recv_within(REPLY_WAIT)
        .await
        .expect("400 for a message without SIP");
    assert_eq!(r.status(), Some(400));
}

#[tokio::test]
async fn tls_and_wss_with_a_generated_certificate() {
    let certificate = TestCertificate::new();
    let keys = certificate.listen_keys();
    let daemon = TestDaemon::start(&format!(
        "[[listen]]\ntransport = \"tls\"\naddress = \"127.0.0.1:0\"\n{keys}\n[[listen]]\ntransport = \"wss\"\naddress = \"[::1]:0\"\n{keys}\n{RULES}"
    ));
    let mut tls =
        Client::Stream(StreamClient::tls(daemon.addr(Transport::Tls), &certificate).await);
    let ok = tls
        .request(&invite("sip:answer@example.com", "tls-call"))
        .await;
    assert_eq!(ok.status, 180);
    let ok = tls.recv().await;
    assert_eq!(ok.status, 200);
    let port = daemon.addr(Transport::Tls).port();
    assert_eq!(
        ok.header("Contact"),
        Some(format!("<sip:127.0.0.1:{port};transport=tls>").as_str())
    );

    let server = daemon.addr(Transport::Wss);
    assert!(server.is_ipv6());
    let mut wss = Client::Ws(WsClient::connect_secure(server, &certificate).await);
    assert_eq!(wss.request(&options("wss-options")).await.status, 200);
}

#[tokio::test]
async fn tls_load_errors_are_config_errors_with_the_path() {
    let text = "[[listen]]\ntransport = \"tls\"\naddress = \"127.0.0.1:0\"\ncertificate = \"/nonexistent/cert.pem\"\nprivate_key = \"/nonexistent/key.pem\"\n[[rule]]\nname = \"a\"\naccept = {}\n";
    let errors = sip_autoresponder::config::Config::parse(text, "t.toml")
        .expect_err("invalid")
        .to_string();
    assert!(
        errors.contains("t.toml:4:15: cannot load certificate /nonexistent/cert.pem"),
        "{errors}"
    );
    let text = "[[listen]]\ntransport = \"tls\"\naddress = \"127.0.0.1:0\"\n[[rule]]\nname = \"a\"\naccept = {}\n";
    let errors = sip_autoresponder::config::Config::parse(text, "t.toml")
        .expect_err("invalid")
        .to_string();
    assert!(
        errors.contains("needs `certificate` and `private_key`"),
        "{errors}"
    );
}

#[tokio::test]
async fn connection_limit_idle_and_message_timeouts() {
    let daemon = TestDaemon::start(&format!(
        "[[listen]]\ntransport = \"tcp\"\naddress = \"127.0.0.1:0\"\nmax_connections = 2\nidle_timeout_ms = 300\nmessage_timeout_ms = 200\n{RULES}"
    ));
    let server = daemon.addr(Transport::Tcp);
    let mut first = StreamClient::tcp(server).await;
    let mut second = StreamClient::tcp(server).await;
    // Both served, so both are counted before the third arrives.
    first
        .send_bytes(
            options("limit-1")
                .replace("SIP/2.0/UDP", "SIP/2.0/TCP")
                .as_bytes(),
        )
        .await;
    assert_eq!(
        first.recv_within(REPLY_WAIT).await.and_then(|r| r.status()),
        Some(200)
    );
    second.send_bytes(b"OPTIONS sip:x SIP/2.0\r\n").await; // a slow sender
    let mut third = StreamClient::tcp(server).await;
    let (_, closed) = third.read_until_closed(REPLY_WAIT).await;
    assert!(closed, "third connection refused at the limit");
    let (_, closed) = second.read_until_closed(Duration::from_secs(2)).await;
    assert!(closed, "slow sender cut off after message_timeout_ms");
    let (_, closed) = first.read_until_closed(Duration::from_secs(2)).await;
    assert!(closed, "idle connection closed after idle_timeout_ms");
    let mut fresh = Client::Stream(StreamClient::tcp(server).await);
    assert_eq!(fresh.request(&options("after-limits")).await.status, 200);
}
