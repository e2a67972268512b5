//! `explain` against the daemon: what its dry run predicts is what a real
//! daemon sends over UDP, byte for byte (random tags, SDP session ids and
//! dates masked), for a delayed policy and for every shipped fixture.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sip_autoresponder::config::Config;
use sip_autoresponder::explain::explain;
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
        "[server]\nuser_agent = \"explain-it\"\nforce_rport = true\n\n[[listen]]\ntransport = \"udp\"\naddress = \"{address}\"\n{RULES}"
    )
}

/// The messages the dry run shows the responder sending, with their
/// virtual time, line ends as LF.
fn predicted(text: &str) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, Vec<&str>)> = Vec::new();
    let mut in_message = false;
    for line in text.lines() {
        let sent_at = line
            .strip_prefix("at ")
            .and_then(|rest| rest.split_once(" ms, sent to "))
            .and_then(|(ms, _)| ms.parse().ok());
        if let Some(ms) = sent_at {
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

/// What differs between two runs of the same exchange: random tags in To,
/// SDP session ids (and with their digits the Content-Length), dates.
fn masked(message: &str) -> String {
    let sdp = message.contains("\no=");
    let mut out = Vec::new();
    for line in message.lines() {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("to:") || lower.starts_with("t:") {
            let mut masked = String::new();
            let mut rest = line;
            while let Some(at) = rest.find("tag=") {
                masked.push_str(&rest[..at + 4]);
                rest = &rest[at + 4..];
                let end = rest.find([';', '>', ' ']).unwrap_or(rest.len());
                masked.push('*');
                rest = &rest[end..];
            }
            masked.push_str(rest);
            out.push(masked);
        } else if line.starts_with("o=") {
            out.push("o=*".to_owned());
        } else if let Some(media) = line.strip_prefix("m=audio ") {
            // The media port: the dry run names the range's first; a live
            // daemon takes the next free pair.
            let rest = media.split_once(' ').map_or("", |(_, rest)| rest);
            out.push(format!("m=audio * {rest}"));
        } else if lower.starts_with("date:") {
            out.push("Date: *".to_owned());
        } else if sdp && lower.starts_with("content-length:") {
            out.push("Content-Length: *".to_owned());
        } else {
            out.push(line.to_owned());
        }
    }
    out.join("\n")
}

/// Receives one message as text with LF line ends.
async fn recv_text(socket: &UdpSocket, wait: Duration) -> Option<String> {
    let mut buf = vec![0u8; 65536];
    let n = tokio::time::timeout(wait, socket.recv(&mut buf))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&buf[..n]).replace("\r\n", "\n");
    Some(text.trim_end().to_owned())
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
            (150, "SIP/2.0 486 Busy Here".to_owned()),
        ],
        "{text}"
    );
    let started = Instant::now();
    client
        .send_to(invite.as_bytes(), server)
        .await
        .expect("send");
    for (at_ms, message) in &expected {
        let received = recv_text(&client, Duration::from_secs(3))
            .await
            .expect("response in time");
        assert_eq!(masked(&received), masked(message), "explained:\n{text}");
        assert!(
            started.elapsed() + Duration::from_millis(20) >= Duration::from_millis(*at_ms),
            "{message} came too early"
        );
    }
}

/// Every SIP message the project ships as a fixture.
fn fixtures() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut paths = Vec::new();
    for dir in ["sip", "rfc4475", "rfc5118"] {
        let entries = std::fs::read_dir(root.join(dir)).expect("fixture directory");
        paths.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
    }
    paths.sort();
    paths
}

/// The embedded default rules on one UDP listener at `address`, answering
/// at the source port (the fixtures' Via ports are not ours to reach).
fn default_rules_at(address: &str) -> String {
    let default = sip_autoresponder::config::DEFAULT_CONFIG;
    let rules = &default[default.find("[[rule]]").expect("default rules")..];
    format!(
        "[server]\nforce_rport = true\n\n[[listen]]\ntransport = \"udp\"\naddress = \"{address}\"\n\n{rules}"
    )
}

/// The window compared: long enough for the default INVITE policy (180,
/// then 200 after a second), far short of any dialog's end.
const WINDOW_MS: u64 = 3000;

/// One fixture: explain's dry run and a fresh live daemon send the same
/// messages, in order, within the window; the client ACKs INVITE finals as
/// the dry run's client does.
async fn compare(path: PathBuf) -> Result<usize, String> {
    let name = path.display().to_string();
    let bytes = std::fs::read(&path).map_err(|e| format!("{name}: {e}"))?;
    let daemon = TestDaemon::start(&default_rules_at("127.0.0.1:0"));
    let server = daemon.udp();
    let config = Config::parse(&default_rules_at(&server.to_string()), "default-rules.toml")
        .map_err(|e| format!("{name}: {e}"))?;
    let client = UdpSocket::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let source = client.local_addr().map_err(|e| e.to_string())?;
    // Not a request (a response, or empty): nothing to compare.
    let Ok(text) = explain(&config, &bytes, source, Transport::Udp) else {
        return Ok(0);
    };
    let expected: Vec<_> = predicted(&text)
        .into_iter()
        .filter(|(ms, _)| *ms <= WINDOW_MS)
        .collect();
    client
        .send_to(&bytes, server)
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut received = Vec::new();
    let window = Duration::from_millis(WINDOW_MS + 300);
    while let Some(left) = window.checked_sub(started.elapsed()) {
        let Some(message) = recv_text(&client, left).await else {
            break;
        };
        if let Some(ack) = ack_if_final(&message, &bytes) {
            client
                .send_to(ack.as_bytes(), server)
                .await
                .map_err(|e| e.to_string())?;
        }
        received.push(message);
    }
    let want: Vec<_> = expected.iter().map(|(_, m)| masked(m)).collect();
    let got: Vec<_> = received.iter().map(|m| masked(m)).collect();
    if want != got {
        return Err(format!(
            "{name}: explain predicted\n{want:#?}\nthe daemon sent\n{got:#?}\nexplain:\n{text}"
        ));
    }
    Ok(want.len())
}

/// The ACK for a final response to the fixture's INVITE, as the dry run's
/// client sends it (same branch for a failure, a new one for a 2xx), built
/// from the response: the fixtures' own headers are folded and spaced in
/// every way RFC 4475 allows.
fn ack_if_final(response: &str, request: &[u8]) -> Option<String> {
    let status: u16 = response.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()?;
    let header = |name: &str| {
        response
            .lines()
            .find(|l| l.starts_with(&format!("{name}: ")))
            .map(|l| l[name.len() + 2..].to_owned())
    };
    let cseq = header("CSeq")?;
    if status < 200 || !cseq.ends_with("INVITE") {
        return None;
    }
    let request_line = request.split(|&b| b == b'\r').next()?;
    let uri = String::from_utf8_lossy(request_line)
        .split(' ')
        .nth(1)?
        .to_owned();
    // The request's top Via: the response's, less what the daemon added.
    let top = header("Via")?;
    let params: Vec<&str> = top
        .split(';')
        .filter(|p| {
            !p.trim_start().starts_with("received=") && !p.trim_start().starts_with("rport=")
        })
        .collect();
    let via = if status < 300 {
        format!("{};branch=z9hG4bK-ack-{}", params[0], fastrand::u64(..))
    } else {
        params.join(";")
    };
    let number = cseq.split_whitespace().next()?;
    Some(format!(
        "ACK {uri} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {number} ACK\r\nContent-Length: 0\r\n\r\n",
        header("From")?,
        header("To")?,
        header("Call-ID")?,
    ))
}

#[tokio::test]
async fn every_shipped_fixture_explains_as_a_live_daemon_answers() {
    let paths = fixtures();
    assert!(paths.len() > 50, "fixtures found: {}", paths.len());
    let runs: Vec<_> = paths
        .into_iter()
        .map(|p| tokio::spawn(compare(p)))
        .collect();
    let mut failures = Vec::new();
    let mut compared = 0;
    for run in runs {
        match run.await.expect("joined") {
            Ok(messages) => compared += messages,
            Err(failure) => failures.push(failure),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(compared > 60, "messages compared: {compared}");
}
