//! RFC 3262 reliable provisional responses over real UDP, on tokio's paused
//! clock (T1 = 100 ms), and once over TCP: `Require: 100rel` and RSeq,
//! retransmission until PRACK, 200/481/400 to PRACK, the 2xx held for the
//! PRACK of an SDP 183 (and not for one without SDP), one reliable
//! provisional at a time, PRACKs after the final response, re-INVITEs, 500
//! when no PRACK comes, CANCEL while waiting, and `[server]
//! reliable_provisionals`, a rule that sets RSeq or Require itself, and
//! UPDATE in the early dialog, and SDP in a PRACK (answer or new offer).

use std::time::Duration;

use tokio::time::Instant;

use crate::common::clients::{Client, StreamClient};
use crate::common::*;
use sip_autoresponder::sip::Transport;

fn config(server: &str, rules: &str) -> String {
    format!(
        "[timers]\nt1_ms = 100\nt2_ms = 400\nt4_ms = 500\n\n{}{SILENT_CLIENT_ALLOWED}",
        config_with(rules).replacen("[server]\n", &format!("[server]\n{server}"), 1)
    )
}

const LONG: Duration = Duration::from_secs(60);

/// 183 with SDP at once, 180 after 1 s, 200 after another second.
const RINGS_THEN_ANSWERS: &str = r#"
[[rule]]
name = "early-media"
match.method = "INVITE"
progress = [
  { status = 183, body = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n", content_type = "application/sdp" },
  { status = 180, delay_ms = 1000 },
]
accept = { delay_ms = 1000 }
"#;

fn invite(call_id: &str, extra: &str) -> String {
    request(
        "INVITE",
        "sip:callee@example.com",
        call_id,
        &format!("Contact: <sip:alice@127.0.0.1:5999>\r\n{extra}"),
        "",
    )
}

fn prack(call_id: &str, to_tag: &str, cseq: u32, rack: &str, branch: &str) -> String {
    in_dialog("PRACK", call_id, to_tag, cseq, branch).replace(
        "Content-Length: 0",
        &format!("RAck: {rack}\r\nContent-Length: 0"),
    )
}

/// An audio offer from the test client.
const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";

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

/// The session id and version of an SDP body's `o=` line.
fn origin(sdp: &str) -> (String, u64) {
    let fields: Vec<&str> = sdp
        .lines()
        .find(|l| l.starts_with("o="))
        .unwrap_or_else(|| panic!("no o= in:\n{sdp}"))
        .split(' ')
        .collect();
    (fields[1].to_owned(), fields[2].parse().expect("o= version"))
}

fn rseq(response: &Response) -> u32 {
    response
        .header("RSeq")
        .unwrap_or_else(|| panic!("no RSeq in:\n{}", response.raw))
        .trim()
        .parse()
        .expect("RSeq is a number")
}

/// Receives until a response with `status`, skipping others (such as
/// retransmitted provisional responses).
async fn recv_status(client: &UdpClient, status: u16) -> Response {
    loop {
        let response = client.recv_within(LONG).await.expect("a response");
        if response.status == status {
            return response;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn required_100rel_gets_reliable_provisionals_acknowledged_by_prack() {
    let daemon = TestDaemon::start(&config("", RINGS_THEN_ANSWERS));
    let client = UdpClient::new(daemon.udp()).await;
    let start = Instant::now();
    client.send(&invite("rel-1", "Require: 100rel\r\n")).await;
    let early = client.recv_within(LONG).await.expect("183");
    assert_eq!(early.status, 183);
    assert_eq!(early.header("Require"), Some("100rel"), "{}", early.raw);
    let first = rseq(&early);
    assert!((1..1 << 31).contains(&first));
    let tag = early.to_tag().expect("a To tag on the 183");

    // Unacknowledged, the 183 comes again after T1, then 2·T1 later.
    let again = client.recv_within(LONG).await.expect("183 again");
    assert_eq!((again.status, rseq(&again)), (183, first));
    assert_eq!(start.elapsed().as_millis(), 100);
    let third = client.recv_within(LONG).await.expect("183 a third time");
    assert_eq!((third.status, rseq(&third)), (183, first));
    assert_eq!(start.elapsed().as_millis(), 300);

    // A PRACK for another RSeq is 481; the right one 200, and the
    // retransmissions stop.
    let wrong = client
        .request(&prack(
            "rel-1",
            &tag,
            2,
            &format!("{} 1 INVITE", first + 1),
            "p0",
        ))
        .await;
    assert_eq!(wrong.status, 481);
    let wrong_method = client
        .request(&prack("rel-1", &tag, 3, &format!("{first} 1 BYE"), "p0b"))
        .await;
    assert_eq!(wrong_method.status, 481);
    let ok = client
        .request(&prack("rel-1", &tag, 3, &format!("{first} 1 INVITE"), "p1"))
        .await;
    assert_eq!((ok.status, ok.header("CSeq")), (200, Some("3 PRACK")));

    // The 180 follows its delay, reliable too, with the next RSeq.
    let ringing = client.recv_within(LONG).await.expect("180");
    assert_eq!(ringing.status, 180, "no more 183 after the PRACK");
    assert_eq!(rseq(&ringing), first + 1);
    assert_eq!(ringing.header("Require"), Some("100rel"));
    let ok = client
        .request(&prack(
            "rel-1",
            &tag,
            4,
            &format!("{} 1 INVITE", first + 1),
            "p2",
        ))
        .await;
    assert_eq!(ok.status, 200);

    let answer = recv_status(&client, 200).await;
    assert_eq!(answer.header("CSeq"), Some("1 INVITE"));
    assert_eq!(answer.header("RSeq"), None, "a final response has no RSeq");
    client
        .send(&in_dialog("ACK", "rel-1", &tag, 1, "rel-ack"))
        .await;
    client.expect_silence().await;
}

/// Receives for `wait`, asserting that only `status` (retransmitted) comes.
async fn only(client: &UdpClient, status: u16, wait: Duration) {
    let until = Instant::now() + wait;
    while let Some(response) = client
        .recv_within(until.saturating_duration_since(Instant::now()))
        .await
    {
        assert_eq!(response.status, status, "{}", response.raw);
    }
}

/// §3: a 2xx waits for the PRACK of a reliable provisional response that
/// carried SDP.
#[tokio::test(start_paused = true)]
async fn the_answer_waits_for_the_prack_of_the_early_sdp() {
    let daemon = TestDaemon::start(&config(
        "",
        r#"
[[rule]]
name = "early-media"
match.method = "INVITE"
progress = [{ status = 183, body = "v=0\r\n", content_type = "application/sdp" }]
accept = {}
"#,
    ));
    let client = UdpClient::new(daemon.udp()).await;
    client
        .send(&invite("rel-wait", "Require: 100rel\r\n"))
        .await;
    let early = client.recv_within(LONG).await.expect("183");
    assert_eq!(early.status, 183);
    let tag = early.to_tag().expect("tag");
    only(&client, 183, Duration::from_secs(1)).await;
    let ok = client
        .request(&prack(
            "rel-wait",
            &tag,
            2,
            &format!("{} 1 INVITE", rseq(&early)),
            "w1",
        ))
        .await;
    assert_eq!(ok.status, 200);
    let answer = client.recv_within(LONG).await.expect("200");
    assert_eq!(
        (answer.status, answer.header("CSeq")),
        (200, Some("1 INVITE"))
    );
}

/// §3: a second reliable provisional response waits for the PRACK of the
/// first; a 2xx after one without SDP does not wait, and the PRACK that
/// comes after the final response (even after the ACK) still gets 200.
#[tokio::test(start_paused = true)]
async fn one_reliable_provisional_at_a_time_and_pracks_after_the_answer() {
    let daemon = TestDaemon::start(&config(
        "",
        "[[rule]]\nname = \"ring\"\nmatch.method = \"INVITE\"\nprogress = [{ status = 180 }, { status = 182 }]\naccept = {}\n",
    ));
    let client = UdpClient::new(daemon.udp()).await;
    client.send(&invite("rel-two", "Require: 100rel\r\n")).await;
    let ringing = client.recv_within(LONG).await.expect("180");
    assert_eq!(ringing.status, 180);
    let tag = ringing.to_tag().expect("tag");
    only(&client, 180, Duration::from_secs(1)).await;
    let rack = |r: &Response| format!("{} 1 INVITE", rseq(r));
    assert_eq!(
        client
            .request(&prack("rel-two", &tag, 2, &rack(&ringing), "t1"))
            .await
            .status,
        200
    );
    let queued = client.recv_within(LONG).await.expect("182");
    assert_eq!(queued.status, 182, "{}", queued.raw);
    assert_eq!(rseq(&queued), rseq(&ringing) + 1);
    // The 182 has no SDP: the 200 does not wait for its PRACK.
    let answer = recv_status(&client, 200).await;
    assert_eq!(answer.header("CSeq"), Some("1 INVITE"));
    client
        .send(&in_dialog("ACK", "rel-two", &tag, 1, "t-ack"))
        .await;
    client.expect_silence().await;
    assert_eq!(
        client
            .request(&prack("rel-two", &tag, 3, &rack(&queued), "t2"))
            .await
            .status,
        200,
        "a PRACK after the ACK for an outstanding response"
    );
}

/// A re-INVITE requiring 100rel: its reliable provisional responses carry
/// the dialog's tag, and the PRACK naming that tag finds them.
#[tokio::test(start_paused = true)]
async fn a_re_invite_gets_reliable_provisionals_in_its_dialog() {
    let daemon = TestDaemon::start(&config(
        "",
        "[[rule]]\nname = \"ring\"\nmatch.method = \"INVITE\"\nprogress = [{ status = 180 }]\naccept = { delay_ms = 500 }\n",
    ));
    let client = UdpClient::new(daemon.udp()).await;
    let first = invite("rel-re", "");
    client.send(&first).await;
    let answer = recv_status(&client, 200).await;
    let tag = answer.to_tag().expect("tag");
    client
        .send(&in_dialog("ACK", "rel-re", &tag, 1, "re-ack"))
        .await;
    let reinvite = in_dialog("INVITE", "rel-re", &tag, 2, "re-2").replace(
        "Content-Length: 0",
        "Require: 100rel\r\nContact: <sip:alice@127.0.0.1:5999>\r\nContent-Length: 0",
    );
    client.send(&reinvite).await;
    let ringing = recv_status(&client, 180).await;
    assert_eq!(ringing.to_tag().as_deref(), Some(tag.as_str()));
    let ok = client
        .request(&prack(
            "rel-re",
            &tag,
            3,
            &format!("{} 2 INVITE", rseq(&ringing)),
            "re-p",
        ))
        .await;
    assert_eq!(ok.status, 200);
    let answer = recv_status(&client, 200).await;
    assert_eq!(answer.header("CSeq"), Some("2 INVITE"));
}

/// Over TCP too the reliable 180 is sent again until its PRACK (RFC 3262
/// retransmits above the transport); real time, T1 = 100 ms.
#[tokio::test]
async fn over_tcp_the_provisional_is_retransmitted_until_prack() {
    let daemon = TestDaemon::start(&format!(
        "[timers]\nt1_ms = 100\n[[listen]]\ntransport = \"tcp\"\naddress = \"127.0.0.1:0\"\n{}",
        "[[rule]]\nname = \"ring\"\nmatch.method = \"INVITE\"\nprogress = [{ status = 180 }]\n",
    ));
    let mut client = Client::Stream(StreamClient::tcp(daemon.addr(Transport::Tcp)).await);
    let invite = invite("rel-tcp", "Require: 100rel\r\n")
        .replace("SIP/2.0/UDP 127.0.0.1:5999", &client.via());
    client.send(&invite).await;
    let first = client.recv().await;
    let again = client.recv().await;
    assert_eq!((first.status, again.status), (180, 180));
    assert_eq!(rseq(&first), rseq(&again));
    let tag = first.to_tag().expect("tag");
    let prack = prack(
        "rel-tcp",
        &tag,
        2,
        &format!("{} 1 INVITE", rseq(&first)),
        "tcp-p",
    )
    .replace("SIP/2.0/UDP 127.0.0.1:5999", &client.via());
    let mut ok = client.request(&prack).await;
    // A retransmission may have crossed the PRACK.
    while ok.status == 180 {
        ok = client.recv().await;
    }
    assert_eq!((ok.status, ok.header("CSeq")), (200, Some("2 PRACK")));
    client.expect_silence().await;
}

/// §3: without a PRACK for 64·T1, the INVITE is rejected with 500.
#[tokio::test(start_paused = true)]
async fn no_prack_within_64_t1_rejects_the_invite_with_500() {
    let daemon = TestDaemon::start(&config("", RINGS_THEN_ANSWERS));
    let client = UdpClient::new(daemon.udp()).await;
    let start = Instant::now();
    let invite = invite("rel-none", "Require: 100rel\r\n");
    client.send(&invite).await;
    let mut retransmissions = 0;
    let rejected = loop {
        let response = client.recv_within(LONG).await.expect("a response");
        match response.status {
            183 => retransmissions += 1,
            _ => break response,
        }
    };
    assert_eq!(rejected.status, 500, "{}", rejected.raw);
    assert_eq!(
        start.elapsed().as_millis(),
        6400,
        "64·T1 after the first 183"
    );
    // T1 doubling: 100, 200, 400, 800, 1600, 3200 ms after the first.
    assert_eq!(retransmissions, 1 + 6);
    let tag = rejected.to_tag().expect("tag");
    client.send(&ack_for(&invite, &tag)).await;
    client.expect_silence().await;
}

/// A CANCEL while the 2xx waits for a PRACK: 200, then 487.
#[tokio::test(start_paused = true)]
async fn cancel_while_waiting_for_prack_gets_487() {
    let daemon = TestDaemon::start(&config(
        "",
        r#"
[[rule]]
name = "early-media"
match.method = "INVITE"
progress = [{ status = 183, body = "v=0\r\n", content_type = "application/sdp" }]
accept = {}
"#,
    ));
    let client = UdpClient::new(daemon.udp()).await;
    let invite = invite("rel-cancel", "Require: 100rel\r\n");
    client.send(&invite).await;
    let tag = recv_status(&client, 183).await.to_tag().expect("tag");
    client.send(&cancel_for(&invite)).await;
    let mut statuses = Vec::new();
    while statuses.len() < 2 {
        let response = client.recv_within(LONG).await.expect("a response");
        if response.status != 183 {
            statuses.push((response.status, response.header("CSeq").map(str::to_owned)));
        }
    }
    statuses.sort();
    assert_eq!(
        statuses,
        [
            (200, Some("1 CANCEL".to_owned())),
            (487, Some("1 INVITE".to_owned()))
        ]
    );
    // Nothing more: no 183 retransmission after the 487 (once ACKed).
    client.send(&ack_for(&invite, &tag)).await;
    if let Some(late) = client.recv_within(Duration::from_secs(10)).await {
        panic!("nothing after the ACK, got:\n{}", late.raw);
    }
}

/// `Supported: 100rel` alone gets reliable provisionals only when the config
/// says `reliable_provisionals = "supported"`; `"never"` refuses a
/// `Require: 100rel` with 420, like any extension.
#[tokio::test(start_paused = true)]
async fn the_config_decides_when_provisionals_are_reliable() {
    let rule =
        "[[rule]]\nname = \"ring\"\nmatch.method = \"INVITE\"\nprogress = [{ status = 180 }]\n";

    let default = TestDaemon::start(&config("", rule));
    let client = UdpClient::new(default.udp()).await;
    client
        .send(&invite("rel-sup-1", "Supported: 100rel, timer\r\n"))
        .await;
    let ringing = recv_status(&client, 180).await;
    assert_eq!(ringing.header("RSeq"), None, "{}", ringing.raw);

    let supported = TestDaemon::start(&config("reliable_provisionals = \"supported\"\n", rule));
    let client = UdpClient::new(supported.udp()).await;
    client
        .send(&invite("rel-sup-2", "Supported: timer, 100rel\r\n"))
        .await;
    let ringing = recv_status(&client, 180).await;
    assert!(ringing.header("RSeq").is_some(), "{}", ringing.raw);
    assert_eq!(ringing.header("Require"), Some("100rel"));

    let never = TestDaemon::start(&config("reliable_provisionals = \"never\"\n", rule));
    let client = UdpClient::new(never.udp()).await;
    client
        .send(&invite("rel-never", "Require: 100rel\r\n"))
        .await;
    let refused = recv_status(&client, 420).await;
    assert_eq!(refused.header("Unsupported"), Some("100rel"));
}

/// A PRACK without RAck is 400; one for no early dialog 481.
#[tokio::test(start_paused = true)]
async fn a_prack_without_rack_is_400_and_for_nothing_481() {
    let daemon = TestDaemon::start(&config("", RINGS_THEN_ANSWERS));
    let client = UdpClient::new(daemon.udp()).await;
    let bare = in_dialog("PRACK", "rel-x", "nosuchtag", 2, "x1");
    assert_eq!(client.request(&bare).await.status, 400);
    let unknown = prack("rel-x", "nosuchtag", 3, "1 1 INVITE", "x2");
    assert_eq!(client.request(&unknown).await.status, 481);
}

/// A rule that sets `RSeq` or `Require: 100rel` itself on a provisional
/// response does not duplicate them when it is sent reliably; its other
/// option tags stay.
#[tokio::test(start_paused = true)]
async fn a_rules_own_rseq_and_require_are_not_duplicated() {
    let rule = r#"
[[rule]]
name = "ring"
match.method = "INVITE"
progress = [{ status = 180, extra_headers = ["RSeq: 5", "Require: 100rel, timer", "X-Ring: yes"] }]
"#;
    let daemon = TestDaemon::start(&config("", rule));
    let client = UdpClient::new(daemon.udp()).await;
    client
        .send(&invite(
            "rel-dup",
            "Require: 100rel\r\nSupported: timer\r\n",
        ))
        .await;
    let ringing = recv_status(&client, 180).await;
    assert_eq!(ringing.all("RSeq").len(), 1, "{}", ringing.raw);
    assert_ne!(
        rseq(&ringing),
        5,
        "the responder numbers it: {}",
        ringing.raw
    );
    assert_eq!(
        ringing.all("Require"),
        ["100rel", "timer"],
        "{}",
        ringing.raw
    );
    assert_eq!(ringing.header("X-Ring"), Some("yes"));
}

/// RFC 3311 §5.2: an UPDATE in the early dialog of a reliable 183 reaches
/// the rules (here: an SDP answer to its offer); once the INVITE has its
/// final response, an UPDATE for the early dialog gets 481.
#[tokio::test(start_paused = true)]
async fn an_update_in_the_early_dialog_is_answered_by_the_rules() {
    let daemon = TestDaemon::start(&config(
        "",
        r#"
[[rule]]
name = "early-media"
match.method = "INVITE"
progress = [{ status = 183, body.sdp = "answer" }]
reject = { status = 486, delay_ms = 5000 }
[[rule]]
name = "update"
match.method = "UPDATE"
accept = { body.sdp = "answer" }
"#,
    ));
    let offer = OFFER;
    let client = UdpClient::new(daemon.udp()).await;
    client
        .send(&with_sdp(invite("rel-upd", "Require: 100rel\r\n"), offer))
        .await;
    let early = recv_status(&client, 183).await;
    let tag = early.to_tag().expect("tag");
    let rack = format!("{} 1 INVITE", rseq(&early));
    let acked = client
        .request(&prack("rel-upd", &tag, 2, &rack, "u1"))
        .await;
    assert_eq!(acked.status, 200);

    let second_offer = offer.replace("o=- 1 1", "o=- 1 2").replace("5000", "5002");
    let update = with_sdp(in_dialog("UPDATE", "rel-upd", &tag, 3, "u2"), &second_offer);
    let answered = recv_status_after(&client, &update, "UPDATE").await;
    assert_eq!(
        (answered.status, answered.header("Content-Type")),
        (200, Some("application/sdp")),
        "{}",
        answered.raw
    );
    assert!(
        answered.body.contains("m=audio 40000 RTP/AVP 0"),
        "{}",
        answered.body
    );
    assert_eq!(answered.to_tag().as_deref(), Some(tag.as_str()));

    assert_eq!(recv_status(&client, 486).await.status, 486);
    client.send(&ack_for(&invite("rel-upd", ""), &tag)).await;
    let late = in_dialog("UPDATE", "rel-upd", &tag, 4, "u3");
    assert_eq!(
        recv_status_after(&client, &late, "UPDATE").await.status,
        481
    );
}

/// Sends `message` and returns the response whose CSeq names `method`
/// (skipping retransmitted provisional responses to the INVITE).
async fn recv_status_after(client: &UdpClient, message: &str, method: &str) -> Response {
    client.send(message).await;
    loop {
        let response = client.recv_within(LONG).await.expect("a response");
        if response.header("CSeq").is_some_and(|c| c.ends_with(method)) {
            return response;
        }
    }
}

/// RFC 3262 §5: SDP in a PRACK that answers our offer (late offer: the
/// INVITE had none) gets a plain 200; SDP in a PRACK after the exchange is
/// complete is a new offer, and the 200 carries the answer (again for a
/// retransmission), which the INVITE's 2xx then repeats.
#[tokio::test(start_paused = true)]
async fn a_prack_with_a_new_offer_gets_the_answer_in_its_200() {
    let daemon = TestDaemon::start(&config(
        "",
        r#"
[[rule]]
name = "early-media"
match.method = "INVITE"
progress = [{ status = 183, body.sdp = "answer" }]
accept = { delay_ms = 5000, body.sdp = "answer" }
"#,
    ));
    let offer = OFFER;
    let client = UdpClient::new(daemon.udp()).await;

    // The INVITE offers, the 183 answers: the PRACK's SDP is a new offer.
    client
        .send(&with_sdp(invite("rel-offer", "Require: 100rel\r\n"), offer))
        .await;
    let early = recv_status(&client, 183).await;
    let tag = early.to_tag().expect("tag");
    let rack = format!("{} 1 INVITE", rseq(&early));
    let new_offer = offer.replace("o=- 1 1", "o=- 1 2");
    let prack_offer = with_sdp(prack("rel-offer", &tag, 2, &rack, "o1"), &new_offer);
    let answered = recv_status_after(&client, &prack_offer, "PRACK").await;
    assert_eq!(
        (answered.status, answered.header("Content-Type")),
        (200, Some("application/sdp")),
        "{}",
        answered.raw
    );
    assert!(
        answered.body.contains("m=audio 40000 RTP/AVP 0"),
        "{}",
        answered.body
    );
    let (session, version) = origin(&early.body);
    assert_eq!(
        origin(&answered.body),
        (session, version + 1),
        "a new version of the same session"
    );
    // A retransmitted PRACK gets the same 200 again.
    let again = recv_status_after(&client, &prack_offer, "PRACK").await;
    assert_eq!(again.raw, answered.raw);
    // The 2xx to the INVITE repeats the latest SDP, not a new one (RFC 6337).
    let final_answer = recv_status(&client, 200).await;
    assert_eq!(final_answer.header("CSeq"), Some("1 INVITE"));
    assert_eq!(final_answer.body, answered.body);
    client
        .send(&in_dialog("ACK", "rel-offer", &tag, 1, "o2"))
        .await;

    // Late offer: the 183 offers, the PRACK answers; its 200 has no body.
    client
        .send(&invite("rel-late", "Require: 100rel\r\n"))
        .await;
    let early = recv_status(&client, 183).await;
    assert!(
        early.body.contains("m=audio 40000"),
        "our offer: {}",
        early.body
    );
    let tag = early.to_tag().expect("tag");
    let rack = format!("{} 1 INVITE", rseq(&early));
    let prack_answer = with_sdp(prack("rel-late", &tag, 2, &rack, "l1"), offer);
    let acknowledged = recv_status_after(&client, &prack_answer, "PRACK").await;
    assert_eq!(
        (acknowledged.status, acknowledged.body.as_str()),
        (200, ""),
        "{}",
        acknowledged.raw
    );
}

/// RFC 3311 §5.2 in the early dialog: an UPDATE offering while our offer
/// (in a reliable 183) awaits its answer gets 491; one offering while the
/// INVITE's offer awaits ours gets 500 with Retry-After; an UPDATE with a
/// CSeq not above the last gets 500; one no rule answers gets 200.
#[tokio::test(start_paused = true)]
async fn early_updates_with_a_colliding_offer_or_an_old_cseq_are_refused() {
    let daemon = TestDaemon::start(&config(
        "",
        r#"
[[rule]]
name = "late-offer"
match.method = "INVITE"
match.request_uri = '^sip:late@'
progress = [{ status = 183, body.sdp = "answer" }]
[[rule]]
name = "ringing"
match.method = "INVITE"
progress = [{ status = 180 }]
"#,
    ));
    let client = UdpClient::new(daemon.udp()).await;
    let update = |call_id: &str, tag: &str, cseq: u32, sdp: Option<&str>| {
        let message = in_dialog("UPDATE", call_id, tag, cseq, &format!("{call_id}-{cseq}"));
        match sdp {
            Some(sdp) => with_sdp(message, sdp),
            None => message,
        }
    };

    // Our 183 offers (the INVITE had none); no PRACK has answered it yet.
    let late = request(
        "INVITE",
        "sip:late@example.com",
        "early-ours",
        "Contact: <sip:alice@127.0.0.1:5999>\r\nRequire: 100rel\r\n",
        "",
    );
    client.send(&late).await;
    let tag = recv_status(&client, 183).await.to_tag().expect("tag");
    let collided = recv_status_after(
        &client,
        &update("early-ours", &tag, 2, Some(OFFER)),
        "UPDATE",
    )
    .await;
    assert_eq!(collided.status, 491, "{}", collided.raw);
    let plain = recv_status_after(&client, &update("early-ours", &tag, 3, None), "UPDATE").await;
    assert_eq!(
        (plain.status, plain.body.as_str()),
        (200, ""),
        "{}",
        plain.raw
    );
    let reordered = in_dialog("UPDATE", "early-ours", &tag, 3, "early-ours-again");
    let old = recv_status_after(&client, &reordered, "UPDATE").await;
    assert_eq!(old.status, 500, "{}", old.raw);

    // The INVITE offers; the 180 carries no answer: its offer is open.
    client
        .send(&with_sdp(
            invite("early-theirs", "Require: 100rel\r\n"),
            OFFER,
        ))
        .await;
    let tag = recv_status(&client, 180).await.to_tag().expect("tag");
    let open = recv_status_after(
        &client,
        &update("early-theirs", &tag, 2, Some(OFFER)),
        "UPDATE",
    )
    .await;
    assert_eq!(
        (open.status, open.header("Retry-After").is_some()),
        (500, true),
        "{}",
        open.raw
    );
}
