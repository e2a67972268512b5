//! DTMF: RFC 4733 digits received are logged (`dtmf`, digit, duration),
//! journaled with their call and counted in /metrics, once each however
//! often their end packet comes; SIP INFO digits the same; digits drive
//! `on_dtmf` (hang up on `#`, switch to a tone); `{ dtmf = "…" }` sends
//! digits as RFC 4733 events.

use std::time::Duration;

use serde_json::Value;

use super::calls::{Call, answer_with, daemon};
use super::rtp::{Media, Rtp};
use crate::admin::http::{get, records_where, series};
use crate::common::LogCapture;

const WAIT: Duration = Duration::from_secs(2);
const ADMIN: &str = "[admin]\naddress = \"127.0.0.1:0\"\n\n";

/// The packets of one digit (RFC 4733 §2.5.1): 100 ms in 20 ms steps, the
/// end packet three times, all with the event's timestamp.
async fn send_digit(media: &Media, event: u8, first_sequence: u16, timestamp: u32) {
    let mut sequence = first_sequence;
    let mut send = |duration: u16, end: bool, marker: bool| {
        let packet = Rtp {
            marker,
            payload_type: 101,
            sequence,
            timestamp,
            ssrc: 0x0C0F_FEE0,
            payload: vec![
                event,
                (u8::from(end) << 7) | 10,
                (duration >> 8) as u8,
                duration as u8,
            ],
        };
        sequence = sequence.wrapping_add(1);
        packet
    };
    let mut packets: Vec<Rtp> = (1..=5u16).map(|i| send(i * 160, i == 5, i == 1)).collect();
    packets.extend((0..2).map(|_| send(800, true, false)));
    for packet in packets {
        media.send(&packet).await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn dtmf_events(record: &Value) -> Vec<(String, String, u64)> {
    record["media"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter(|e| e["type"] == "dtmf")
                .map(|e| {
                    (
                        e["digit"].as_str().unwrap_or("").to_owned(),
                        e["source"].as_str().unwrap_or("").to_owned(),
                        e["duration_ms"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn rfc4733_digits_are_logged_journaled_and_counted_once_each() {
    let logs = LogCapture::start();
    let rules = format!("{ADMIN}{}", answer_with("\"echo\""));
    let (daemon, _) = daemon("127.0.0.1:0", "", &rules);
    let mut media = Media::bind("127.0.0.1").await;
    let mut call = Call::start(&daemon, "dtmf-rtp", &mut media, "0 101", "").await;
    send_digit(&media, 1, 100, 8000).await;
    send_digit(&media, 11, 110, 16000).await;
    let records = records_where(daemon.admin(), "?call_id=dtmf-rtp&method=INVITE", |list| {
        list.first().is_some_and(|r| dtmf_events(r).len() >= 2)
    })
    .await;
    assert_eq!(
        dtmf_events(&records[0]),
        vec![
            ("1".to_owned(), "rfc4733".to_owned(), 100),
            ("#".to_owned(), "rfc4733".to_owned(), 100)
        ],
        "one journal entry per digit, with the call's INVITE"
    );
    let lines = logs.lines_with(&["dtmf", "duration_ms=100", "source=\"rfc4733\"", "dtmf-rtp"]);
    assert_eq!(lines.len(), 2, "{}", logs.text());
    assert!(
        lines[0].contains("digit=1") && lines[1].contains("digit=#"),
        "{lines:?}"
    );
    let metrics = get(daemon.admin(), "/metrics").await.body;
    assert_eq!(
        series(
            &metrics,
            "sip_autoresponder_dtmf_digits_total{source=\"rfc4733\"}"
        ),
        2.0,
        "{metrics}"
    );
    // Digits are not echoed.
    while let Some(packet) = media.recv(Duration::from_millis(100)).await {
        assert_ne!(packet.payload_type, 101, "a digit echoed");
    }
    call.bye().await;
}

#[tokio::test]
async fn info_digits_are_recorded_with_the_call_the_same_way() {
    let logs = LogCapture::start();
    let rules = format!("{ADMIN}{}", answer_with("\"echo\""));
    let (daemon, _) = daemon("127.0.0.1:0", "", &rules);
    let mut media = Media::bind("127.0.0.1").await;
    let mut call = Call::start(&daemon, "dtmf-info", &mut media, "0", "").await;
    let info = call
        .request(
            "INFO",
            "application/dtmf-relay",
            "Signal=5\r\nDuration=160\r\n",
        )
        .await;
    assert_eq!(info.status, 200);
    let records = records_where(daemon.admin(), "?call_id=dtmf-info&method=INVITE", |list| {
        list.first().is_some_and(|r| !dtmf_events(r).is_empty())
    })
    .await;
    assert_eq!(
        dtmf_events(&records[0]),
        vec![("5".to_owned(), "info".to_owned(), 160)]
    );
    assert_eq!(
        logs.lines_with(&["dtmf 5", "source=\"info\""]).len(),
        1,
        "{}",
        logs.text()
    );
    let metrics = get(daemon.admin(), "/metrics").await.body;
    assert_eq!(
        series(
            &metrics,
            "sip_autoresponder_dtmf_digits_total{source=\"info\"}"
        ),
        1.0
    );
    call.bye().await;
}

#[tokio::test]
async fn a_hash_hangs_up_and_a_one_switches_to_a_tone() {
    let rules = "[[rule]]\nname = \"ivr\"\nmatch.method = \"INVITE\"\n\
        accept = { body.sdp = \"answer\", media = \"echo\", on_dtmf = [\
        { digits = '1$', media = { tone = 1000 } }, { digits = '#$', hangup = true }] }\n\
        [[rule]]\nname = \"bye\"\nmatch.method = \"BYE\"\naccept = {}\n";
    let (daemon, _) = daemon("127.0.0.1:0", "", rules);
    let mut media = Media::bind("127.0.0.1").await;
    let call = Call::start(&daemon, "dtmf-ivr", &mut media, "0 101", "").await;
    send_digit(&media, 1, 200, 4000).await;
    // Echo mode sends nothing by itself; after `1`, a tone.
    let tone = media.recv(WAIT).await.expect("the tone after 1");
    assert_eq!((tone.payload_type, tone.payload.len()), (0, 160));
    send_digit(&media, 11, 210, 12_000).await;
    let bye = call
        .client
        .recv_any_within(WAIT)
        .await
        .expect("BYE after #");
    assert!(bye.is_request("BYE"), "{}", bye.raw);
    call.client
        .send_to(&bye.response(200, "OK"), bye.from)
        .await;
}

#[tokio::test]
async fn digits_are_sent_as_rfc4733_events() {
    let (daemon, _) = daemon("127.0.0.1:0", "", &answer_with("{ dtmf = \"12#\" }"));
    let mut media = Media::bind("127.0.0.1").await;
    let mut call = Call::start(&daemon, "dtmf-send", &mut media, "0 101", "").await;
    let mut events: Vec<(u32, u8, bool)> = Vec::new();
    while events.iter().filter(|e| e.2).count() < 9 {
        let packet = media.recv(WAIT).await.expect("event packets");
        if packet.payload_type == 101 {
            events.push((
                packet.timestamp,
                packet.payload[0],
                packet.payload[1] & 0x80 != 0,
            ));
        }
    }
    let mut digits: Vec<u8> = events.iter().map(|e| e.1).collect();
    digits.dedup();
    assert_eq!(digits, vec![1, 2, 11], "1, 2, #");
    for digit in [1, 2, 11] {
        let ends = events.iter().filter(|e| e.1 == digit && e.2).count();
        assert_eq!(ends, 3, "event {digit}: the end packet three times");
        let stamps: Vec<u32> = events
            .iter()
            .filter(|e| e.1 == digit)
            .map(|e| e.0)
            .collect();
        assert!(
            stamps.iter().all(|&t| t == stamps[0]),
            "one timestamp per event"
        );
    }
    call.bye().await;
}
