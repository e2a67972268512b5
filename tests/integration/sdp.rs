//! `body = { sdp = "answer" }` over real UDP: answers to the RFC 4317
//! offers and to WebRTC offers, a rejected stream, late offer, and the
//! session version of a re-INVITE, and UPDATE under the default config.

use crate::common::*;

const RULES: &str = "[[rule]]\nname = \"answer\"\nmatch.method = \"INVITE\"\naccept = { body.sdp = \"answer\" }\n[[rule]]\nname = \"in-dialog\"\naccept = {}\n";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/sdp/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

fn invite_with(call_id: &str, sdp: &str) -> String {
    request(
        "INVITE",
        "sip:bob@example.com",
        call_id,
        "Contact: <sip:alice@127.0.0.1:5999>\r\nContent-Type: application/sdp\r\n",
        sdp,
    )
}

fn lines<'a>(body: &'a str, prefix: &str) -> Vec<&'a str> {
    body.split("\r\n")
        .filter(|l| l.starts_with(prefix))
        .collect()
}

#[tokio::test]
async fn audio_video_offer_gets_one_m_line_each_and_video_rejected() {
    let daemon = TestDaemon::start(&config_with(RULES));
    let client = UdpClient::new(daemon.udp()).await;
    let r = client
        .request(&invite_with("sdp-1", &fixture("rfc4317-2.1.offer.sdp")))
        .await;
    assert_eq!(
        (r.status, r.header("Content-Type")),
        (200, Some("application/sdp"))
    );
    let media = lines(&r.body, "m=");
    assert_eq!(media.len(), 2, "{}", r.body);
    assert!(
        media[0].starts_with("m=audio 40000 RTP/AVP 0"),
        "first common codec PCMU: {}",
        media[0]
    );
    assert!(
        media[1].starts_with("m=video 0 "),
        "no common video codec: port 0: {}",
        media[1]
    );
    assert_eq!(lines(&r.body, "c="), ["c=IN IP4 127.0.0.1"]);
    assert_eq!(
        r.header("Content-Length"),
        Some(r.body.len().to_string().as_str())
    );
}

#[tokio::test]
async fn webrtc_offer_gets_a_webrtc_answer() {
    let daemon = TestDaemon::start(&config_with(RULES));
    let client = UdpClient::new(daemon.udp()).await;
    let r = client
        .request(&invite_with(
            "sdp-2",
            &fixture("webrtc-sipjs-chrome.offer.sdp"),
        ))
        .await;
    assert_eq!(r.status, 200);
    let body = &r.body;
    assert!(
        lines(body, "m=audio ")[0].contains("UDP/TLS/RTP/SAVPF"),
        "{body}"
    );
    let fingerprint = lines(body, "a=fingerprint:sha-256 ");
    assert_eq!(fingerprint.len(), 1, "{body}");
    assert_eq!(
        fingerprint[0].len(),
        "a=fingerprint:sha-256 ".len() + 32 * 3 - 1,
        "{}",
        fingerprint[0]
    );
    assert_eq!(lines(body, "a=setup:"), ["a=setup:active"]);
    assert!(
        lines(body, "a=ice-ufrag:").len() == 1 && lines(body, "a=ice-pwd:").len() == 1,
        "{body}"
    );
    assert!(
        !lines(body, "a=group:BUNDLE").is_empty() && !lines(body, "a=mid:").is_empty(),
        "{body}"
    );
}

/// RFC 3261 §13.3.1.3: an offer none of whose streams can be taken is
/// answered 488 with warning 305 (§20.43), not a 2xx rejecting them all
/// (issue 15; the single stream here has no codec of ours).
#[tokio::test]
async fn no_common_codec_is_488_with_warning_305() {
    let daemon = TestDaemon::start(&config_with(RULES));
    let client = UdpClient::new(daemon.udp()).await;
    let r = client
        .request(&invite_with("sdp-3", &fixture("no-common-codec.offer.sdp")))
        .await;
    assert_eq!(
        (r.status, r.reason.as_str()),
        (488, "Not Acceptable Here"),
        "{}",
        r.raw
    );
    assert_eq!(
        r.header("Warning"),
        Some("305 127.0.0.1 \"Incompatible media format\"")
    );
    assert!(r.body.is_empty(), "{}", r.raw);
}

#[tokio::test]
async fn late_offer_gets_an_offer_and_the_acks_answer_is_accepted() {
    let logs = LogCapture::start();
    let daemon = TestDaemon::start(&config_with(RULES));
    let client = UdpClient::new(daemon.udp()).await;
    let r = client.request(&invite_with("sdp-4", "")).await;
    assert_eq!(r.status, 200);
    assert!(
        lines(&r.body, "m=audio 40000 RTP/AVP").len() == 1,
        "our offer: {}",
        r.body
    );
    let answer = "v=0\r\no=- 5 5 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 50000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    let ack = in_dialog("ACK", "sdp-4", &r.to_tag().expect("tag"), 1, "sdp-4-ack").replace(
        "Content-Length: 0\r\n\r\n",
        &format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        ),
    );
    client.send(&ack).await;
    client.expect_silence().await;
    assert!(
        logs.lines_with(&["SDP answer in the ACK"]).is_empty(),
        "{}",
        logs.text()
    );
}

#[tokio::test]
async fn a_new_offer_in_the_dialog_increments_the_session_version() {
    let daemon = TestDaemon::start(&config_with(RULES));
    let client = UdpClient::new(daemon.udp()).await;
    let first = client
        .request(&invite_with("sdp-5", &fixture("rfc4317-2.2.offer.sdp")))
        .await;
    let tag = first.to_tag().expect("tag");
    client
        .send(&in_dialog("ACK", "sdp-5", &tag, 1, "sdp-5-ack"))
        .await;
    let origin = |body: &str| {
        lines(body, "o=")
            .first()
            .map(|o| o.split(' ').map(str::to_owned).collect::<Vec<_>>())
            .expect("o=")
    };
    let offer = fixture("rfc4317-2.2.second-offer.sdp");
    let reinvite = in_dialog("INVITE", "sdp-5", &tag, 2, "sdp-5-re").replace(
        "Content-Length: 0\r\n\r\n",
        &format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{offer}",
            offer.len()
        ),
    );
    let second = client.request(&reinvite).await;
    assert_eq!(second.status, 200);
    let (a, b) = (origin(&first.body), origin(&second.body));
    assert_eq!(a[1], b[1], "same session id");
    assert_eq!(
        b[2].parse::<u64>().expect("version"),
        a[2].parse::<u64>().expect("version") + 1,
        "version incremented"
    );
}

/// The rules of the embedded default config, on an ephemeral UDP listener.
fn default_rules() -> String {
    let config = sip_autoresponder::config::DEFAULT_CONFIG;
    let first_rule = config
        .find("[[rule]]")
        .expect("the default config has rules");
    config_with(&config[first_rule..])
}

fn with_offer(message: String, sdp: &str) -> String {
    message.replace(
        "Content-Length: 0\r\n\r\n",
        &format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        ),
    )
}

#[tokio::test]
async fn default_config_answers_an_updates_offer_and_a_refresh_without_sdp() {
    let daemon = TestDaemon::start(&default_rules());
    let client = UdpClient::new(daemon.udp()).await;
    client
        .send(&invite_with("sdp-upd", &fixture("rfc4317-2.2.offer.sdp")))
        .await;
    assert_eq!(client.recv().await.status, 180);
    let answered = client.recv().await;
    assert_eq!(answered.status, 200);
    let tag = answered.to_tag().expect("tag");
    client
        .send(&in_dialog("ACK", "sdp-upd", &tag, 1, "sdp-upd-ack"))
        .await;

    // RFC 3311 §5.2: an UPDATE with an offer gets the answer in its 200.
    let offer = fixture("rfc4317-2.2.second-offer.sdp");
    let update = client
        .request(&with_offer(
            in_dialog("UPDATE", "sdp-upd", &tag, 2, "sdp-upd-2"),
            &offer,
        ))
        .await;
    assert_eq!(
        (update.status, update.header("Content-Type")),
        (200, Some("application/sdp")),
        "{}",
        update.raw
    );
    assert_eq!(lines(&update.body, "m=").len(), 2, "{}", update.body);

    // A session-timer refresh carries no offer: its 200 carries no SDP.
    let refresh = client
        .request(&in_dialog("UPDATE", "sdp-upd", &tag, 3, "sdp-upd-3"))
        .await;
    assert_eq!(refresh.status, 200, "{}", refresh.raw);
    assert_eq!(
        (refresh.body.as_str(), refresh.header("Content-Type")),
        ("", None),
        "{}",
        refresh.raw
    );
    assert_eq!(refresh.header("Content-Length"), Some("0"));
}

#[tokio::test]
async fn default_config_options_advertise_prack_and_100rel() {
    let daemon = TestDaemon::start(&default_rules());
    let client = UdpClient::new(daemon.udp()).await;
    let r = client.request(&options("sdp-opt")).await;
    assert_eq!(r.status, 200);
    let allow = r.header("Allow").expect("Allow");
    for method in ["INVITE", "ACK", "CANCEL", "BYE", "UPDATE", "PRACK"] {
        assert!(
            allow.split(", ").any(|m| m == method),
            "{method} in Allow: {allow}"
        );
    }
    assert_eq!(r.header("Supported"), Some("100rel"));
}
