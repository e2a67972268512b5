use super::*;
use crate::media::codec::ULAW_TO_LINEAR;
use crate::rules::media::Tone;
use crate::rules::sdp::Direction;
use std::sync::Arc;

fn params(ptime_ms: u32) -> StreamParams {
    StreamParams {
        payload_type: 0,
        clock: 8000,
        codec: Some(Codec::Pcmu),
        event: Some((101, 8000)),
        ptime_ms,
        remote_rtp: None,
        remote_rtcp: None,
        rtcp_mux: false,
        direction: Direction::SendRecv,
    }
}

fn incoming(sequence: u16, timestamp: u32, payload: &[u8]) -> Vec<u8> {
    let mut data = vec![0u8; HEADER_LEN];
    Header {
        marker: false,
        payload_type: 0,
        sequence,
        timestamp,
        ssrc: 99,
    }
    .write(&mut data);
    data.extend_from_slice(payload);
    data
}

#[test]
fn echoes_carry_our_ssrc_and_consecutive_numbers() {
    let mut out = Outbound::new();
    let params = params(20);
    let mut last: Option<RtpPacket> = None;
    for i in 0..5u16 {
        let mut data = incoming(1000 + i * 3, 7, &[0xAB; 160]);
        let packet = RtpPacket::parse(&data).expect("rtp");
        let len = out.echo(&mut data, &packet, &params);
        let echoed = RtpPacket::parse(&data[..len]).expect("rtp");
        assert_eq!(echoed.ssrc, out.ssrc);
        assert_eq!(echoed.payload(&data[..len]), &[0xAB; 160]);
        if let Some(previous) = last {
            assert_eq!(echoed.sequence, previous.sequence.wrapping_add(1));
            assert_eq!(echoed.timestamp, previous.timestamp.wrapping_add(160));
        }
        last = Some(echoed);
    }
    assert_eq!(out.packets, 5);
}

#[test]
fn a_tone_comes_out_frame_by_frame() {
    let mut out = Outbound::new();
    let params = params(20);
    out.set_sender(&Sender::Tone(Arc::new(Tone::new(1000))), &params);
    assert!(out.paced() && !out.echoes());
    let mut packet = Vec::new();
    let mut decoded = Vec::new();
    let mut previous = None;
    for _ in 0..10 {
        assert!(out.tick(&params, &mut packet));
        let rtp = RtpPacket::parse(&packet).expect("rtp");
        assert_eq!(rtp.payload(&packet).len(), 160);
        if let Some(ts) = previous {
            assert_eq!(rtp.timestamp, u32::wrapping_add(ts, 160));
        }
        previous = Some(rtp.timestamp);
        decoded.extend(
            rtp.payload(&packet)
                .iter()
                .map(|&b| ULAW_TO_LINEAR[usize::from(b)]),
        );
    }
    // 1 kHz at 8 kHz: 8 samples a period, 2 zero crossings each.
    let crossings = decoded
        .windows(2)
        .filter(|w| (w[0] < 0) != (w[1] < 0))
        .count();
    assert!((398..=401).contains(&crossings), "{crossings}");
}

#[test]
fn digits_go_as_events_with_three_end_packets() {
    let mut out = Outbound::new();
    let params = params(20);
    out.queue_digits("1#");
    let mut packet = Vec::new();
    let mut events = Vec::new();
    for _ in 0..40 {
        if out.tick(&params, &mut packet) {
            let rtp = RtpPacket::parse(&packet).expect("rtp");
            assert_eq!(rtp.payload_type, 101);
            let event = EventPayload::parse(rtp.payload(&packet)).expect("event");
            events.push((rtp.timestamp, rtp.marker, event));
        }
    }
    assert!(!out.paced(), "all sent");
    let first: Vec<_> = events.iter().filter(|(_, _, e)| e.event == 1).collect();
    // 100 ms at 20 ms: 5 packets, the last an end; then 2 more ends.
    assert_eq!(first.len(), 7);
    assert!(first[0].1, "the first packet of an event has the marker");
    assert!(first.iter().all(|(ts, _, _)| *ts == first[0].0));
    assert_eq!(first.iter().filter(|(_, _, e)| e.end).count(), 3);
    assert_eq!(first.last().map(|(_, _, e)| e.duration), Some(800));
    let hash: Vec<_> = events.iter().filter(|(_, _, e)| e.event == 11).collect();
    assert_eq!(hash.len(), 7);
    let later = hash[0].0.wrapping_sub(first[0].0);
    assert!((800..4000).contains(&later), "{later}");
}

#[test]
fn digits_waiting_to_be_sent_are_bounded() {
    let mut out = Outbound::new();
    let params = params(20);
    assert_eq!(out.queue_digits("1234"), 0);
    // A peer typing faster than digits go out: the newest beyond the bound
    // are dropped, never queued without end.
    let mut dropped = 0;
    for _ in 0..1000 {
        dropped += out.queue_digits("#");
    }
    assert_eq!(out.digits.len(), MAX_QUEUED_DIGITS);
    assert_eq!(dropped, 1000 + 4 - MAX_QUEUED_DIGITS);
    // What is queued still goes out in order: first `1`.
    let mut packet = Vec::new();
    assert!(out.tick(&params, &mut packet));
    assert_eq!(packet[HEADER_LEN], 1);
}
