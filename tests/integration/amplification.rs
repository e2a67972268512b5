//! No amplification toward a UDP source that has not shown it receives
//! (RFC 3261 §26.3.2.4): each response at most three times its request,
//! everything else (retransmissions, our requests) only on the credit the
//! source earned by what it sent. The "victim" is a socket on 127.0.0.2
//! that receives but never answers, as a spoofed source would; hours of
//! timers pass on the paused clock.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;

use crate::common::{TestDaemon, UdpClient, in_dialog, request};

/// The embedded default rules (INVITE: 180, then 200 with an SDP answer a
/// second later), an auto-reply rule, and the admin listener.
fn config() -> String {
    let default = sip_autoresponder::config::DEFAULT_CONFIG;
    let rules = &default[default.find("[[rule]]").expect("default rules")..];
    format!(
        "[server]\nforce_rport = true\nmax_message_size = 65536\n\n[admin]\naddress = \"127.0.0.1:0\"\n\n\
         [[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n\n\
         [[rule]]\nname = \"away\"\nmatch.method = \"MESSAGE\"\nmatch.request_uri = '^sip:away@'\n\
         accept = {{ status = 202 }}\nmessage = {{ body = \"I am away\" }}\n\n{rules}"
    )
}

/// What the victim receives until nothing comes for a (virtual) minute:
/// each distinct message once, and the bytes of the copies of them
/// (retransmissions are byte for byte the same).
struct Received {
    distinct: Vec<Vec<u8>>,
    copies_bytes: usize,
}

async fn received_by(victim: &UdpSocket) -> Received {
    let mut buf = vec![0u8; 65_536];
    let mut received = Received {
        distinct: Vec::new(),
        copies_bytes: 0,
    };
    while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(60), victim.recv(&mut buf)).await
    {
        if received.distinct.iter().any(|m| m[..] == buf[..n]) {
            received.copies_bytes += n;
        } else {
            received.distinct.push(buf[..n].to_vec());
        }
    }
    received
}

impl Received {
    fn largest(&self) -> usize {
        self.distinct.iter().map(Vec::len).max().unwrap_or(0)
    }

    fn first_lines(&self) -> Vec<String> {
        self.distinct
            .iter()
            .map(|m| {
                String::from_utf8_lossy(m)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect()
    }
}

async fn victim() -> (UdpSocket, SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.2:0")
        .await
        .expect("bind 127.0.0.2");
    let address = socket.local_addr().expect("address");
    (socket, address)
}

/// An offer with `streams` bare audio m-lines (each answered with a few
/// attribute lines: the answer outgrows the offer).
fn offer(streams: usize) -> String {
    let mut sdp =
        String::from("v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n");
    for n in 0..streams {
        sdp.push_str(&format!("m=audio {} RTP/AVP 0 8 101\r\n", 20_000 + 2 * n));
    }
    sdp
}

fn invite_from(victim: SocketAddr, call_id: &str, body: &str) -> String {
    request(
        "INVITE",
        "sip:callee@example.com",
        call_id,
        "Contact: <sip:alice@127.0.0.2>\r\nContent-Type: application/sdp\r\n",
        body,
    )
    .replace("127.0.0.1:5999", &victim.to_string())
}

async fn metric(daemon: &TestDaemon, series: &str) -> Option<u64> {
    let text = crate::admin::http::get(daemon.admin(), "/metrics")
        .await
        .body;
    text.lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse().ok())
}

/// The case: an INVITE with 64 m-lines drew a 180, eleven large
/// 200s and BYEs (76 times its size). Now each distinct response is at most
/// three times the request, and the 2xx retransmissions and the No ACK BYE
/// together spend at most the INVITE's credit (three times its size).
#[tokio::test(start_paused = true)]
async fn a_spoofed_invite_with_a_huge_offer_draws_a_few_times_its_size() {
    let daemon = TestDaemon::start(&config());
    let (victim, address) = victim().await;
    let invite = invite_from(address, "huge-offer", &offer(64));
    victim
        .send_to(invite.as_bytes(), daemon.udp())
        .await
        .expect("send");
    let got = received_by(&victim).await;
    let distinct: usize = got.distinct.iter().map(Vec::len).sum();
    let total = distinct + got.copies_bytes;
    assert!(got.largest() <= 3 * invite.len(), "{:?}", got.first_lines());
    let beyond_responses = total - got.distinct.iter().take(2).map(Vec::len).sum::<usize>();
    assert!(
        beyond_responses <= 3 * invite.len(),
        "retransmissions and BYE on credit: {beyond_responses} bytes for {}",
        invite.len()
    );
    assert!(
        total <= 9 * invite.len(),
        "{total} bytes for {} (was 76 times)",
        invite.len()
    );
    let withheld = metric(
        &daemon,
        "sip_autoresponder_bound_reached_total{state=\"unverified_udp\"} ",
    )
    .await;
    assert!(withheld.is_some_and(|n| n > 0), "{withheld:?}");
}

/// A response more than three times its request does not go to an
/// unverified source at all (there is no credit for it either).
#[tokio::test(start_paused = true)]
async fn a_response_much_larger_than_its_request_is_withheld() {
    let body = "x".repeat(4000);
    let rules = format!(
        "[server]\nforce_rport = true\n\n[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n\n\
         [[rule]]\nname = \"big\"\nmatch.method = \"OPTIONS\"\naccept = {{ body = \"{body}\" }}\n"
    );
    let daemon = TestDaemon::start(&rules);
    let (victim, address) = victim().await;
    let options = request("OPTIONS", "sip:callee@example.com", "big-body", "", "")
        .replace("127.0.0.1:5999", &address.to_string());
    victim
        .send_to(options.as_bytes(), daemon.udp())
        .await
        .expect("send");
    assert!(received_by(&victim).await.distinct.is_empty());
}

/// A spoofed INVITE of a usual size: the 180 and the 200, and of the 2xx
/// retransmissions (and the No ACK BYE) only what the INVITE's credit pays:
/// within four times the request in all.
#[tokio::test(start_paused = true)]
async fn a_spoofed_invite_gets_its_responses_but_few_retransmissions() {
    let daemon = TestDaemon::start(&config());
    let (victim, address) = victim().await;
    let invite = invite_from(address, "plain-offer", &offer(1));
    victim
        .send_to(invite.as_bytes(), daemon.udp())
        .await
        .expect("send");
    let got = received_by(&victim).await;
    assert_eq!(
        got.first_lines(),
        ["SIP/2.0 180 Ringing", "SIP/2.0 200 OK"],
        "no BYE"
    );
    assert!(got.largest() <= 3 * invite.len());
    assert!(
        got.copies_bytes > 0 && got.copies_bytes <= 3 * invite.len(),
        "retransmissions on the INVITE's credit: {} bytes for {}",
        got.copies_bytes,
        invite.len()
    );
}

/// The case: a spoofed MESSAGE to an auto-reply rule drew a 202 and
/// the MESSAGE with 11 retransmissions. Now the MESSAGE and its
/// retransmissions spend the spoofed MESSAGE's credit.
#[tokio::test(start_paused = true)]
async fn a_spoofed_message_draws_no_auto_reply_storm() {
    let daemon = TestDaemon::start(&config());
    let (victim, address) = victim().await;
    let message = request(
        "MESSAGE",
        "sip:away@example.com",
        "spoofed-im",
        "Content-Type: text/plain\r\n",
        "are you there?",
    )
    .replace("127.0.0.1:5999", &address.to_string());
    victim
        .send_to(message.as_bytes(), daemon.udp())
        .await
        .expect("send");
    let got = received_by(&victim).await;
    assert_eq!(got.first_lines()[0], "SIP/2.0 202 Accepted");
    assert!(got.distinct.len() <= 2, "{:?}", got.first_lines());
    let sent: usize = got.distinct.iter().skip(1).map(Vec::len).sum::<usize>() + got.copies_bytes;
    assert!(
        sent <= 3 * message.len(),
        "the MESSAGE and its copies on credit: {sent} bytes for {}",
        message.len()
    );
}

/// A client that ACKs has shown it receives: from then on it gets every
/// retransmission (a lossy link is not mistaken for a spoofed source).
#[tokio::test(start_paused = true)]
async fn a_source_that_acked_gets_every_retransmission() {
    let daemon = TestDaemon::start(&config());
    let client = UdpClient::new(daemon.udp()).await;
    let first = request(
        "INVITE",
        "sip:callee@example.com",
        "trusted-1",
        "Contact: <sip:a@127.0.0.1>\r\n",
        "",
    );
    client.send(&first).await;
    let answer = loop {
        let response = client.recv().await;
        if response.status == 200 {
            break response;
        }
    };
    let tag = answer.to_tag().expect("tag");
    client
        .send(&in_dialog("ACK", "trusted-1", &tag, 1, "t1-ack"))
        .await;
    // A second call this client never ACKs: the 2xx comes again and again.
    let second = request(
        "INVITE",
        "sip:callee@example.com",
        "trusted-2",
        "Contact: <sip:a@127.0.0.1>\r\n",
        "",
    );
    client.send(&second).await;
    let mut twos = 0;
    while let Some(received) = client.recv_any_within(Duration::from_secs(40)).await {
        if received.status() == Some(200)
            && received.header("Call-ID").as_deref() == Some("trusted-2")
        {
            twos += 1;
        }
    }
    assert!(
        twos >= 8,
        "the 2xx and its retransmissions until 64·T1: {twos}"
    );
}
