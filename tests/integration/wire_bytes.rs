//! What goes back on the wire is what the peer sent (issue 15, item 1):
//! bytes that are not UTF-8 in From, To, Call-ID and CSeq are copied byte
//! for byte into responses (RFC 3261 §8.2.6.2) and into the BYE and the
//! auto-reply MESSAGE the daemon originates; and nothing the daemon sends
//! carries a control character the peer put where RFC 3261 §25.1 allows
//! none (issue 13, strict line syntax): such a request is a 400 naming it.
//! Fixtures: tests/fixtures/defects/ (see its README).

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::*;

const RULES: &str = r#"
[[rule]]
name = "im-echo"
match.method = "MESSAGE"
accept = {}
message = { body = "I am away", content_type = "text/plain" }

[[rule]]
name = "call"
match.method = "INVITE"
accept = { body.sdp = "answer", hangup_after_ms = 200 }

[[rule]]
name = "all"
accept = {}
"#;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/defects/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One datagram as bytes, and where it came from.
async fn recv_raw(client: &UdpClient, wait: Duration) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = vec![0u8; 65_535];
    match tokio::time::timeout(wait, client.socket.recv_from(&mut buf)).await {
        Ok(Ok((len, from))) => Some((buf[..len].to_vec(), from)),
        _ => None,
    }
}

/// The head's lines (the start line first), as bytes, split at CRLF only.
fn head_lines(message: &[u8]) -> Vec<&[u8]> {
    let end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(message.len());
    let head = &message[..end];
    let mut lines = Vec::new();
    let mut from = 0;
    while let Some(at) = head[from..].windows(2).position(|w| w == b"\r\n") {
        lines.push(&head[from..from + at]);
        from += at + 2;
    }
    lines.push(&head[from..]);
    lines
}

/// The value of the first header line named `name` (long form), as bytes.
fn value<'a>(message: &'a [u8], name: &str) -> Option<&'a [u8]> {
    head_lines(message).into_iter().skip(1).find_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        let found = std::str::from_utf8(&line[..colon]).ok()?.trim();
        found
            .eq_ignore_ascii_case(name)
            .then(|| line[colon + 1..].trim_ascii())
    })
}

fn status(message: &[u8]) -> Option<u16> {
    std::str::from_utf8(message.get(8..11)?).ok()?.parse().ok()
}

/// The reason phrase of a status line (ASCII by construction).
fn reason(message: &[u8]) -> String {
    String::from_utf8_lossy(head_lines(message)[0].get(12..).unwrap_or_default()).into_owned()
}

/// The To-tag a response added.
fn to_tag(response: &[u8]) -> String {
    let to = String::from_utf8_lossy(value(response, "To").expect("To")).into_owned();
    let tag = to.rsplit_once(";tag=").expect("a tag").1;
    tag.split(';').next().unwrap_or(tag).to_owned()
}

fn shown(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// Asserts `response` copies From, Call-ID and CSeq of `request` byte for
/// byte, and To with at most a tag appended.
fn assert_copied(request: &[u8], response: &[u8]) {
    for name in ["From", "Call-ID", "CSeq"] {
        assert_eq!(
            value(response, name).map(shown),
            value(request, name).map(shown),
            "{name}"
        );
    }
    let to = value(request, "To").expect("request To");
    let copied = value(response, "To").expect("response To");
    assert!(
        copied.starts_with(to),
        "To: {} vs {}",
        shown(copied),
        shown(to)
    );
}

#[tokio::test]
async fn identity_bytes_that_are_not_utf8_are_copied_into_the_200() {
    let daemon = TestDaemon::start(&config_with(RULES));
    let client = UdpClient::new(daemon.udp()).await;
    let request = fixture("options-not-utf8-identity.sip");
    client.send_bytes(&request).await;
    let (response, _) = recv_raw(&client, REPLY_WAIT).await.expect("a response");
    assert_eq!(status(&response), Some(200), "{}", shown(&response));
    assert_copied(&request, &response);
    assert_eq!(
        value(&response, "Call-ID"),
        Some(&b"\xe5\xe4\xf6\xe5\xe4\xf6\xe5\xe4\xf6@192.0.2.15"[..])
    );
}

#[tokio::test]
async fn a_400_copies_bytes_that_are_not_utf8_too() {
    let daemon = TestDaemon::start(&config_with(RULES));
    let client = UdpClient::new(daemon.udp()).await;
    let request = fixture("options-cseq-not-utf8.sip");
    client.send_bytes(&request).await;
    let (response, _) = recv_raw(&client, REPLY_WAIT).await.expect("a response");
    assert_eq!(status(&response), Some(400), "{}", shown(&response));
    assert_eq!(reason(&response), "Bad Request (malformed CSeq header)");
    assert_copied(&request, &response);
}

/// The BYE of `hangup_after_ms` carries the INVITE's From (as To), To (as
/// From), Call-ID and Contact URI (as Request-URI) as received.
#[tokio::test]
async fn the_bye_of_a_dialog_carries_the_bytes_of_its_invite() {
    let daemon = TestDaemon::start(&config_with(RULES));
    let client = UdpClient::new(daemon.udp()).await;
    let invite = fixture("invite-not-utf8-identity.sip");
    client.send_bytes(&invite).await;
    let (ok, server) = recv_raw(&client, REPLY_WAIT).await.expect("200");
    assert_eq!(status(&ok), Some(200), "{}", shown(&ok));
    assert_copied(&invite, &ok);
    let tag = to_tag(&ok);
    let mut ack = b"ACK sip:answer@127.0.0.1 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-nu8-3-ack;rport\r\nMax-Forwards: 70\r\nFrom: "
        .to_vec();
    ack.extend_from_slice(value(&invite, "From").expect("From"));
    ack.extend_from_slice(b"\r\nTo: ");
    ack.extend_from_slice(value(&invite, "To").expect("To"));
    ack.extend_from_slice(format!(";tag={tag}\r\nCall-ID: ").as_bytes());
    ack.extend_from_slice(value(&invite, "Call-ID").expect("Call-ID"));
    ack.extend_from_slice(b"\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n");
    client.socket.send_to(&ack, server).await.expect("send ACK");

    let (bye, _) = recv_raw(&client, Duration::from_secs(3))
        .await
        .expect("the BYE");
    let lines = head_lines(&bye);
    assert_eq!(
        shown(lines[0]),
        shown(b"BYE sip:j\xfcrgen@127.0.0.1:5999 SIP/2.0"),
        "the Contact URI as received"
    );
    assert_eq!(value(&bye, "To"), value(&invite, "From"));
    assert_eq!(value(&bye, "Call-ID"), value(&invite, "Call-ID"));
    let from = value(&bye, "From").expect("From");
    assert!(
        from.starts_with(value(&invite, "To").expect("To")),
        "{}",
        shown(from)
    );
}

/// The auto-reply MESSAGE goes to the From URI as received: in its
/// Request-URI and its To.
#[tokio::test]
async fn the_auto_reply_message_carries_the_from_uri_as_received() {
    let daemon = TestDaemon::start(&config_with(RULES));
    let client = UdpClient::new(daemon.udp()).await;
    let message = fixture("message-not-utf8-from.sip");
    client.send_bytes(&message).await;
    let (ok, _) = recv_raw(&client, REPLY_WAIT).await.expect("200");
    assert_eq!(status(&ok), Some(200), "{}", shown(&ok));
    assert_copied(&message, &ok);
    let (reply, from) = recv_raw(&client, REPLY_WAIT).await.expect("the auto-reply");
    let lines = head_lines(&reply);
    let uri: &[u8] = b"sip:j\xfcrgen\xe5@127.0.0.1:5999";
    assert_eq!(
        shown(lines[0]),
        shown(&[b"MESSAGE ", uri, b" SIP/2.0"].concat())
    );
    assert_eq!(
        value(&reply, "To").map(shown),
        Some(shown(&[b"<", uri, b">"].concat()))
    );
    // Answer it, as a client would (ASCII from here on).
    let text = String::from_utf8_lossy(&reply).into_owned();
    let answer = Received { raw: text, from }.response(200, "OK");
    client.send_to(&answer, from).await;
}

/// Issue 13: a lone CR, a NUL or an ESC outside a quoted-pair, in each
/// place the daemon would otherwise have echoed it, is a 400 that names
/// the header; the 400 carries no control character, and the request does
/// nothing else (no auto-reply MESSAGE, no 420 listing the Require tags).
#[tokio::test]
async fn control_characters_are_a_400_that_echoes_none() {
    let daemon = TestDaemon::start(&config_with(RULES));
    let cases = [
        ("message-cr-in-from-uri.sip", "the From header"),
        ("invite-cr-in-require.sip", "the Require header"),
        ("options-cr-in-display-name.sip", "the From header"),
        ("options-nul-in-display-name.sip", "the From header"),
        ("options-cr-in-call-id.sip", "the Call-ID header"),
        ("options-esc-in-call-id.sip", "the Call-ID header"),
        ("options-cr-in-via-param.sip", "the Via header"),
    ];
    for (file, header) in cases {
        let client = UdpClient::new(daemon.udp()).await;
        let request = fixture(file);
        client.send_bytes(&request).await;
        let (response, _) = recv_raw(&client, REPLY_WAIT)
            .await
            .unwrap_or_else(|| panic!("{file}: no answer"));
        assert_eq!(status(&response), Some(400), "{file}: {}", shown(&response));
        assert_eq!(
            reason(&response),
            format!("Bad Request (control character in {header})"),
            "{file}"
        );
        for line in head_lines(&response) {
            assert!(
                !line.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f),
                "{file}: a control character went out: {}",
                shown(&response)
            );
        }
        assert!(
            value(&response, "Unsupported").is_none(),
            "{file}: {}",
            shown(&response)
        );
        if let Some((more, _)) = recv_raw(&client, SILENCE_WAIT).await {
            panic!("{file}: more than the 400: {}", shown(&more));
        }
    }
}

/// A quoted-pair may escape a control character (RFC 3261 §25.1): that
/// request is valid, and its From is copied as received.
#[tokio::test]
async fn a_control_character_in_a_quoted_pair_is_legal_and_copied() {
    let daemon = TestDaemon::start(&config_with(RULES));
    let client = UdpClient::new(daemon.udp()).await;
    let request = fixture("options-quoted-pair-nul.sip");
    client.send_bytes(&request).await;
    let (response, _) = recv_raw(&client, REPLY_WAIT).await.expect("a response");
    assert_eq!(status(&response), Some(200), "{}", shown(&response));
    assert_copied(&request, &response);
    assert!(value(&response, "From").is_some_and(|f| f.starts_with(b"\"Ali\\\x00ce\"")));
}

/// RFC 4475 and RFC 5118 messages that get no answer (responses, and what
/// cannot be routed), as tests/integration/conformance.rs says.
const UNANSWERED: [&str; 5] = ["unreason", "noreason", "bigcode", "scalarlg", "bcast"];

/// The head with folded lines joined the way the parser joins them (RFC
/// 3261 §7.3.1: CRLF before whitespace becomes two spaces), so a copied
/// value can be compared byte for byte.
fn unfolded(message: &[u8]) -> Vec<u8> {
    let mut out = message.to_vec();
    for at in 0..out.len().saturating_sub(2) {
        if out[at..].starts_with(b"\r\n") && matches!(out[at + 2], b' ' | b'\t') {
            out[at] = b' ';
            out[at + 1] = b' ';
        }
    }
    out
}

/// The first value of a header by its long or compact name.
fn copied_value<'a>(message: &'a [u8], long: &str, compact: &str) -> Option<&'a [u8]> {
    head_lines(message).into_iter().skip(1).find_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        let name = std::str::from_utf8(&line[..colon]).ok()?.trim();
        (name.eq_ignore_ascii_case(long) || name.eq_ignore_ascii_case(compact))
            .then(|| line[colon + 1..].trim_ascii())
    })
}

/// Issue 15's regression test: every RFC 4475 and RFC 5118 message that is
/// answered gets a response whose Call-ID, From, To (plus a tag) and CSeq
/// are the request's bytes.
#[tokio::test]
async fn every_torture_message_is_answered_with_its_own_identity_bytes() {
    let mut answered = 0;
    let mut failures = Vec::new();
    for dir in ["rfc4475", "rfc5118"] {
        let path = format!("{}/tests/fixtures/{dir}", env!("CARGO_MANIFEST_DIR"));
        let mut files: Vec<_> = std::fs::read_dir(&path)
            .expect("fixture directory")
            .map(|entry| entry.expect("entry").path())
            .collect();
        files.sort();
        for file in files {
            let name = file
                .file_stem()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            let request = std::fs::read(&file).expect("fixture");
            // A daemon of its own: some messages share a branch.
            let daemon = TestDaemon::start(&config_with("[[rule]]\nname = \"all\"\naccept = {}\n"));
            let client = UdpClient::new(daemon.udp()).await;
            client.send_bytes(&request).await;
            let wait = if UNANSWERED.contains(&name.as_str()) {
                SILENCE_WAIT
            } else {
                REPLY_WAIT
            };
            let Some((response, _)) = recv_raw(&client, wait).await else {
                if !UNANSWERED.contains(&name.as_str()) {
                    failures.push(format!("{name}: no answer"));
                }
                continue;
            };
            answered += 1;
            let request = unfolded(&request);
            for (long, compact) in [("Call-ID", "i"), ("From", "f"), ("CSeq", "")] {
                let sent = copied_value(&request, long, compact);
                let got = copied_value(&response, long, "");
                if sent != got {
                    failures.push(format!(
                        "{name}: {long} {:?} came back as {:?}",
                        sent.map(shown),
                        got.map(shown)
                    ));
                }
            }
            let to = copied_value(&request, "To", "t").unwrap_or_default();
            let got = copied_value(&response, "To", "").unwrap_or_default();
            let tag_only = got
                .strip_prefix(to)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(b";tag="));
            if !tag_only {
                failures.push(format!(
                    "{name}: To {} came back as {}",
                    shown(to),
                    shown(got)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        answered,
        49 + 12 - UNANSWERED.len(),
        "every other message is answered"
    );
}
