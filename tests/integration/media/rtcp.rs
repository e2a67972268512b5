//! RTCP (RFC 3550 §6): sender reports with SDES at the interval to the
//! peer's RTCP address (RFC 3605 `a=rtcp`, else RTP + 1), BYE at the end;
//! the peer's reception report about our stream is in the log line and the
//! journal entry of the call's end; rtcp-mux (RFC 5761) shares the port.

use std::time::Duration;

use serde_json::Value;

use super::calls::{Call, answer_with, daemon};
use super::rtp::Media;
use crate::admin::http::records_where;
use crate::common::LogCapture;

const WAIT: Duration = Duration::from_secs(2);

/// The packet types of a compound RTCP packet, and the SSRC of the first.
fn compound(data: &[u8]) -> (Vec<u8>, u32) {
    let mut types = Vec::new();
    let mut rest = data;
    while rest.len() >= 4 {
        assert_eq!(rest[0] >> 6, 2, "RTCP version 2");
        types.push(rest[1]);
        let len = (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1) * 4;
        rest = &rest[len.min(rest.len())..];
    }
    (
        types,
        u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
    )
}

/// A receiver report from the caller about `ssrc`: 25 % lost, 3 in all,
/// jitter 80 ticks (10 ms at 8 kHz).
fn receiver_report(ssrc: u32) -> Vec<u8> {
    let mut out = vec![0x81, 201, 0, 7];
    out.extend_from_slice(&0x0C0F_FEE0u32.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(&[64, 0, 0, 3]);
    out.extend_from_slice(&1000u32.to_be_bytes());
    out.extend_from_slice(&80u32.to_be_bytes());
    out.extend_from_slice(&[0; 8]);
    out
}

#[tokio::test]
async fn reports_flow_and_the_peers_report_is_logged_and_journaled_at_the_end() {
    let logs = LogCapture::start();
    let rules = format!(
        "[admin]\naddress = \"127.0.0.1:0\"\n\n{}",
        answer_with("{ tone = 440 }")
    );
    let (daemon, _) = daemon("127.0.0.1:0", "rtcp_interval_ms = 200", &rules);
    let mut media = Media::bind("127.0.0.1").await;
    let rtcp = Media::bind("127.0.0.1").await;
    let extra = format!("a=rtcp:{} IN IP4 127.0.0.1\r\n", rtcp.port());
    let mut call = Call::start(&daemon, "rtcp-sr", &mut media, "0", &extra).await;
    let tone = media.recv(WAIT).await.expect("the tone");
    let (report, _) = rtcp
        .recv_raw(WAIT)
        .await
        .expect("an RTCP report within the interval");
    let (types, ssrc) = compound(&report);
    assert_eq!(types, vec![200, 202], "SR then SDES");
    assert_eq!(ssrc, tone.ssrc, "about the stream we got");
    assert!(
        report
            .windows(19)
            .any(|w| w.ends_with(b"@sip-autoresponder")),
        "a CNAME"
    );
    // The caller reports about the daemon's stream, to its RTCP port.
    let daemon_rtcp = format!("127.0.0.1:{}", call.port + 1);
    rtcp.socket
        .send_to(&receiver_report(tone.ssrc), &daemon_rtcp)
        .await
        .expect("send RR");
    tokio::time::sleep(Duration::from_millis(100)).await;
    call.bye().await;
    let mut bye_seen = false;
    while let Some((packet, _)) = rtcp.recv_raw(WAIT).await {
        if compound(&packet).0.contains(&203) {
            bye_seen = true;
            break;
        }
    }
    assert!(bye_seen, "RTCP BYE at the end");
    let records = records_where(daemon.admin(), "?call_id=rtcp-sr&method=INVITE", |list| {
        list.first().is_some_and(|r| {
            r["media"]
                .as_array()
                .is_some_and(|m| m.iter().any(|e| e["type"] == "media_ended"))
        })
    })
    .await;
    let ended: &Value = records[0]["media"]
        .as_array()
        .and_then(|m| m.iter().find(|e| e["type"] == "media_ended"))
        .expect("media_ended");
    assert_eq!(ended["remote_report"]["fraction_lost"], 0.25, "{ended}");
    assert_eq!(ended["remote_report"]["cumulative_lost"], 3);
    assert_eq!(ended["remote_report"]["jitter_ms"], 10.0);
    assert!(ended["packets_sent"].as_u64().unwrap_or(0) > 5, "{ended}");
    let line = logs.lines_with(&["media ended", "rtcp-sr"]);
    assert_eq!(line.len(), 1, "{}", logs.text());
    assert!(line[0].contains("remote_fraction_lost=0.25"), "{}", line[0]);
    assert!(line[0].contains("remote_jitter_ms=10"), "{}", line[0]);
}

#[tokio::test]
async fn rtcp_mux_shares_the_rtp_port() {
    let (daemon, _) = daemon(
        "127.0.0.1:0",
        "rtcp_interval_ms = 200",
        &answer_with("{ tone = 440 }"),
    );
    let mut media = Media::bind("127.0.0.1").await;
    let mut call = Call::start(&daemon, "rtcp-mux", &mut media, "0", "a=rtcp-mux\r\n").await;
    assert!(
        call.answer.body.contains("a=rtcp-mux"),
        "{}",
        call.answer.body
    );
    let mut rtcp_seen = false;
    for _ in 0..100 {
        let (packet, from) = media.recv_raw(WAIT).await.expect("media");
        assert_eq!(from.port(), call.port, "everything from the one port");
        if packet[1] == 200 {
            rtcp_seen = true;
            break;
        }
    }
    assert!(rtcp_seen, "an SR on the RTP port");
    call.bye().await;
}
