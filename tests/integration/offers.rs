//! Offers `body.sdp = "answer"` cannot answer, and bodies it must look into
//! (issue 15, items 4, 5, 6 and 8), over real UDP: RFC 3261 §13.3.1.4 wants
//! the 2xx to carry the answer, so an offer with no usable stream gets 488
//! with a Warning (§20.43), one that does not parse 400 naming the defect
//! (for INVITE, re-INVITE, UPDATE and a PRACK's offer); a body type that is
//! not SDP gets 415 with Accept, a coded body 415 with Accept-Encoding
//! (§21.4.13); the SDP part of a multipart/mixed body is answered (RFC
//! 5621); `[sdp] prefer` picks whose codec order wins. Fixtures:
//! tests/fixtures/defects/.

use std::time::Duration;

use crate::common::*;

const RULES: &str = r#"
[[rule]]
name = "video-refused"
match.method = "INVITE"
match.request_uri = '^sip:video-refused@'
match.body = 'm=video'
reject = { status = 606 }

[[rule]]
name = "ignores-the-body"
match.method = "INVITE"
match.request_uri = '^sip:plain@'
accept = {}

[[rule]]
name = "call"
match.method = "INVITE"
progress = [{ status = 183, body.sdp = "answer" }]
accept = { body.sdp = "answer" }

[[rule]]
name = "update"
match.method = "UPDATE"
accept = { body.sdp = "answer" }

[[rule]]
name = "others"
accept = {}
"#;

/// A fixture message, byte-exact (the ISUP part is binary).
fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/defects/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The body of a fixture message that is text.
fn body_of(name: &str) -> String {
    let message = String::from_utf8(fixture(name)).expect("a text fixture");
    message.split_once("\r\n\r\n").expect("a body").1.to_owned()
}

/// The final response to what `client` sent (provisional ones skipped).
async fn final_response(client: &UdpClient) -> Response {
    loop {
        let response = client.recv().await;
        if response.status >= 200 {
            return response;
        }
    }
}

async fn answer_to(daemon: &TestDaemon, message: impl AsRef<[u8]>) -> Response {
    let client = UdpClient::new(daemon.udp()).await;
    client.send_bytes(message.as_ref()).await;
    final_response(&client).await
}

#[tokio::test]
async fn an_offer_that_does_not_parse_is_a_400_naming_the_defect() {
    let daemon = TestDaemon::start(&config_with(RULES));
    let r = answer_to(&daemon, fixture("invite-offer-unparseable.sip")).await;
    assert_eq!(r.status, 400, "{}", r.raw);
    assert_eq!(
        r.reason, "Bad Request (unparseable SDP offer: line 6: malformed m= line)",
        "{}",
        r.raw
    );
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn an_offer_with_no_usable_stream_is_a_488_with_warning_304() {
    let daemon = TestDaemon::start(&config_with(RULES));
    let r = answer_to(&daemon, fixture("invite-offer-video-only.sip")).await;
    assert_eq!(
        (r.status, r.reason.as_str()),
        (488, "Not Acceptable Here"),
        "{}",
        r.raw
    );
    assert_eq!(
        r.header("Warning"),
        Some("304 127.0.0.1 \"Media type not available\"")
    );
    // The 183 of the policy was not sent either: the refusal comes first.
    assert_eq!(r.header("CSeq"), Some("1 INVITE"));
}

/// "A rule may still choose another status": a rule that matches such
/// offers answers them its way, and a policy that sends no SDP answer does
/// not look at the offer at all.
#[tokio::test]
async fn rules_still_choose_for_offers_they_match_or_ignore() {
    let daemon = TestDaemon::start(&config_with(RULES));
    let video = body_of("invite-offer-video-only.sip");
    let typed = "Content-Type: application/sdp\r\n";
    let refused = request(
        "INVITE",
        "sip:video-refused@127.0.0.1",
        "rule-1",
        typed,
        &video,
    );
    assert_eq!(answer_to(&daemon, &refused).await.status, 606);
    let ignored = request("INVITE", "sip:plain@127.0.0.1", "rule-2", typed, &video);
    assert_eq!(answer_to(&daemon, &ignored).await.status, 200);
    let garbage = request(
        "INVITE",
        "sip:plain@127.0.0.1",
        "rule-3",
        "Content-Type: aaaaaaaaa\r\n",
        &video,
    );
    assert_eq!(answer_to(&daemon, &garbage).await.status, 200);
}

/// Establishes a call to the `call` rule; returns the client and To-tag.
async fn established(daemon: &TestDaemon, call_id: &str) -> (UdpClient, String) {
    let client = UdpClient::new(daemon.udp()).await;
    let offer = body_of("invite-linphone-opus-first.sip");
    let invite = request(
        "INVITE",
        "sip:answer@127.0.0.1",
        call_id,
        "Contact: <sip:alice@127.0.0.1:5999>\r\nContent-Type: application/sdp\r\n",
        &offer,
    );
    client.send(&invite).await;
    let ok = final_response(&client).await;
    assert_eq!(ok.status, 200, "{}", ok.raw);
    let tag = ok.to_tag().expect("To-tag");
    client
        .send(&in_dialog(
            "ACK",
            call_id,
            &tag,
            1,
            &format!("{call_id}-ack"),
        ))
        .await;
    (client, tag)
}

/// `message` (ending in an empty body) with `sdp` as its body.
fn with_sdp(message: String, sdp: &str) -> String {
    message.replace(
        "Content-Length: 0\r\n\r\n",
        &format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        ),
    )
}

#[tokio::test]
async fn a_re_invite_or_update_with_an_unusable_offer_is_refused() {
    let daemon = TestDaemon::start(&config_with(RULES));
    let (client, tag) = established(&daemon, "reoffer-1").await;
    let video = body_of("invite-offer-video-only.sip");
    let reinvite = with_sdp(in_dialog("INVITE", "reoffer-1", &tag, 2, "re-2"), &video);
    client.send(&reinvite).await;
    let r = final_response(&client).await;
    assert_eq!(
        (r.status, r.header("CSeq")),
        (488, Some("2 INVITE")),
        "{}",
        r.raw
    );
    assert!(r.header("Warning").is_some_and(|w| w.starts_with("304 ")));
    client
        .send(&in_dialog("ACK", "reoffer-1", &tag, 2, "re-2"))
        .await;
    let bad = body_of("invite-offer-unparseable.sip");
    let update = with_sdp(in_dialog("UPDATE", "reoffer-1", &tag, 3, "re-3"), &bad);
    let r = client.request(&update).await;
    assert_eq!(
        (r.status, r.header("CSeq")),
        (400, Some("3 UPDATE")),
        "{}",
        r.raw
    );
    assert!(r.reason.contains("unparseable SDP offer"), "{}", r.raw);
    // The dialog lives on: a usable re-offer is answered.
    let good = body_of("invite-linphone-opus-first.sip");
    let update = with_sdp(in_dialog("UPDATE", "reoffer-1", &tag, 4, "re-4"), &good);
    let r = client.request(&update).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert!(
        r.body.contains("m=audio 40000 RTP/AVP 96 101"),
        "{}",
        r.body
    );
}

/// RFC 3262 §5: a PRACK may carry a new offer; one with no usable stream
/// gets 488 with the Warning, like an INVITE's.
#[tokio::test(start_paused = true)]
async fn a_prack_with_an_unusable_offer_is_488() {
    let daemon = TestDaemon::start(&config_with(
        r#"
[[rule]]
name = "early"
match.method = "INVITE"
progress = [{ status = 183, body.sdp = "answer" }]
accept = { delay_ms = 5000, body.sdp = "answer" }
"#,
    ));
    let client = UdpClient::new(daemon.udp()).await;
    let offer = body_of("invite-linphone-opus-first.sip");
    let invite = request(
        "INVITE",
        "sip:answer@127.0.0.1",
        "prack-offer",
        "Contact: <sip:alice@127.0.0.1:5999>\r\nRequire: 100rel\r\nContent-Type: application/sdp\r\n",
        &offer,
    );
    client.send(&invite).await;
    let early = loop {
        let r = client
            .recv_within(Duration::from_secs(10))
            .await
            .expect("183");
        if r.status == 183 {
            break r;
        }
    };
    let tag = early.to_tag().expect("tag");
    let rseq = early.header("RSeq").expect("RSeq").trim().to_owned();
    let video = body_of("invite-offer-video-only.sip");
    let prack = in_dialog("PRACK", "prack-offer", &tag, 2, "pr-1").replace(
        "Content-Length: 0",
        &format!("RAck: {rseq} 1 INVITE\r\nContent-Length: 0"),
    );
    client.send(&with_sdp(prack, &video)).await;
    let r = loop {
        let r = client
            .recv_within(Duration::from_secs(10))
            .await
            .expect("PRACK answer");
        if r.header("CSeq") == Some("2 PRACK") {
            break r;
        }
    };
    assert_eq!(r.status, 488, "{}", r.raw);
    assert_eq!(
        r.header("Warning"),
        Some("304 127.0.0.1 \"Media type not available\"")
    );
}

#[tokio::test]
async fn body_types_the_policy_cannot_use_are_415_with_accept() {
    let daemon = TestDaemon::start(&config_with(RULES));
    for file in [
        "invite-content-type-garbage.sip",
        "invite-content-type-slashes.sip",
    ] {
        let r = answer_to(&daemon, fixture(file)).await;
        assert_eq!(
            (r.status, r.reason.as_str()),
            (415, "Unsupported Media Type"),
            "{file}: {}",
            r.raw
        );
        assert_eq!(
            r.header("Accept"),
            Some("application/sdp, multipart/mixed, multipart/alternative"),
            "{file}"
        );
    }
    let r = answer_to(&daemon, fixture("invite-content-encoding-gzip.sip")).await;
    assert_eq!(r.status, 415, "{}", r.raw);
    assert_eq!(r.header("Accept-Encoding"), Some("identity"));
}

#[tokio::test]
async fn the_sdp_part_of_a_multipart_mixed_offer_is_answered() {
    let daemon = TestDaemon::start(&config_with(RULES));
    for file in ["invite-multipart-isup.sip", "invite-multipart-location.sip"] {
        let r = answer_to(&daemon, fixture(file)).await;
        assert_eq!(
            (r.status, r.header("Content-Type")),
            (200, Some("application/sdp")),
            "{file}: {}",
            r.raw
        );
        assert!(
            r.body.contains("m=audio 40000 RTP/AVP 0 101\r\n"),
            "{file}: {}",
            r.body
        );
    }
}

/// linphone offers opus first; PCMU is first in our list. The default
/// (`theirs`) takes opus; `prefer = "ours"` takes PCMU.
#[tokio::test]
async fn sdp_prefer_picks_whose_codec_order_wins() {
    let invite = fixture("invite-linphone-opus-first.sip");
    let daemon = TestDaemon::start(&config_with(RULES));
    let r = answer_to(&daemon, &invite).await;
    assert!(
        r.body.contains("m=audio 40000 RTP/AVP 96 101\r\n"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("a=rtpmap:96 opus/48000/2\r\n"),
        "{}",
        r.body
    );
    let ours = format!("[sdp]\nprefer = \"ours\"\n\n{}", config_with(RULES));
    let daemon = TestDaemon::start(&ours);
    let r = answer_to(&daemon, &invite).await;
    assert!(
        r.body.contains("m=audio 40000 RTP/AVP 0 101\r\n"),
        "{}",
        r.body
    );
}
