//! `explain` against the daemon: what it predicts is what a real daemon
//! sends over UDP, byte for byte (but the random To-tag), and the fixtures
//! explain as expected against the embedded default config.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sip_autoresponder::config::Config;
use sip_autoresponder::explain::{TO_TAG, explain};
use sip_autoresponder::sip::Transport;
use tokio::net::UdpSocket;

use crate::common::TestDaemon;

const RULES: &str = r#"
[[rule]]
name = "options"
match.method = "OPTIONS"
accept = {}

[[rule]]
name = "busy-line"
match.method = "INVITE"
match.request_uri = '^sip:busy@'
progress = [{ status = 180, delay_ms = 50 }]
reject = { status = 486, delay_ms = 100, extra_headers = ["Retry-After: 60"] }
"#;

fn config_text(address: &str) -> String {
    format!(
        "[server]\nuser_agent = \"explain-it\"\n\n[[listen]]\ntransport = \"udp\"\naddress = \"{address}\"\n{RULES}"
    )
}

/// The messages an explanation shows, each with the delay printed before
/// it, with line ends as LF and no trailing blank lines.
fn predicted(text: &str) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, Vec<&str>)> = Vec::new();
    let mut in_message = false;
    for line in text.lines() {
        if let Some(ms) = line
            .strip_prefix("after ")
            .and_then(|rest| rest.strip_suffix(" ms:"))
            .and_then(|ms| ms.parse().ok())
        {
            out.push((ms, Vec::new()));
            in_message = true;
        } else if in_message && (line.is_empty() || line.starts_with("    ")) {
            if let Some((_, lines)) = out.last_mut() {
                lines.push(line.strip_prefix("    ").unwrap_or(line));
            }
        } else {
            in_message = false;
        }
    }
    out.into_iter()
        .map(|(ms, lines)| (ms, lines.join("\n").trim_end().to_owned()))
        .collect()
}

fn to_tag(response: &str) -> Option<&str> {
    let to = response.lines().find(|l| l.starts_with("To: "))?;
    to.split(';').find_map(|p| p.strip_prefix("tag="))
}

#[tokio::test]
async fn explain_predicts_what_the_daemon_sends() {
    let daemon = TestDaemon::start(&config_text("127.0.0.1:0"));
    let server = daemon.udp();
    // Explain against the address really bound, so Contact agrees.
    let config = Config::parse(&config_text(&server.to_string()), "explain.toml").expect("config");
    let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let source: SocketAddr = client.local_addr().expect("addr");
    let invite = format!(
        "INVITE sip:busy@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-explain-1;rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@127.0.0.1>;tag=a1\r\n\
         To: <sip:busy@127.0.0.1>\r\n\
         Call-ID: explain-1@127.0.0.1\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:alice@127.0.0.1:{port}>\r\n\
         Content-Length: 0\r\n\r\n",
        port = source.port()
    );
    let text = explain(&config, invite.as_bytes(), source, Transport::Udp).expect("explained");
    let expected = predicted(&text);
    let statuses: Vec<_> = expected
        .iter()
        .map(|(ms, m)| (*ms, m.lines().next().unwrap_or_default().to_owned()))
        .collect();
    assert_eq!(
        statuses,
        [
            (0, "SIP/2.0 100 Trying".to_owned()),
            (50, "SIP/2.0 180 Ringing".to_owned()),
            (100, "SIP/2.0 486 Busy Here".to_owned()),
        ],
        "{text}"
    );

    let started = Instant::now();
    client
        .send_to(invite.as_bytes(), server)
        .await
        .expect("send");
    let mut buf = vec![0u8; 65536];
    let mut elapsed_ms = 0;
    for (delay_ms, message) in &expected {
        let n = tokio::time::timeout(Duration::from_secs(3), client.recv(&mut buf))
            .await
            .expect("response in time")
            .expect("recv");
        let received = String::from_utf8_lossy(&buf[..n]).replace("\r\n", "\n");
        let received = received.trim_end();
        let message = match to_tag(received) {
            Some(tag) => message.replace(TO_TAG, tag),
            None => message.clone(),
        };
        assert_eq!(received, message, "explained:\n{text}");
        elapsed_ms += delay_ms;
        // Delays count from the previous response; allow timer slack early.
        assert!(
            started.elapsed() + Duration::from_millis(20) >= Duration::from_millis(elapsed_ms),
            "{message} came too early"
        );
    }
}

#[test]
fn fixtures_explain_against_the_default_config() {
    let config = Config::embedded_default().expect("default config");
    let source: SocketAddr = "192.168.1.34:52814".parse().expect("addr");
    let fixture = |name: &str| {
        let path = format!("{}/tests/fixtures/sip/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    };

    let text =
        explain(&config, &fixture("invite-sdp.sip"), source, Transport::Udp).expect("explained");
    assert!(
        text.contains(
            "rule options: no match (first failing condition: method)\n\
             rule register: no match (first failing condition: method)\n\
             rule message: no match (first failing condition: method)\n\
             rule invite: MATCH\n"
        ),
        "{text}"
    );
    let steps: Vec<_> = predicted(&text)
        .into_iter()
        .map(|(ms, m)| (ms, m.lines().next().unwrap_or_default().to_owned()))
        .collect();
    assert_eq!(
        steps,
        [
            (0, "SIP/2.0 180 Ringing".to_owned()),
            (1000, "SIP/2.0 200 OK".to_owned()),
        ],
        "{text}"
    );
    assert!(
        text.contains("    Content-Type: application/sdp\n"),
        "{text}"
    );

    let text = explain(
        &config,
        &fixture("options-softphone.sip"),
        source,
        Transport::Udp,
    )
    .expect("explained");
    assert!(text.contains("rule options: MATCH\n"), "{text}");
    assert!(text.contains("    SIP/2.0 200 OK\n"), "{text}");
}
