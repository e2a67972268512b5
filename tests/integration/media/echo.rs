//! Echo: the answer's port is from the range, 200 packets come back with
//! the daemon's SSRC, consecutive sequence numbers and timestamps advancing
//! by the ptime; echoes follow the packets' source (symmetric RTP) but not
//! a stranger's; nothing goes to a media address the caller has not shown
//! it receives at; IPv6; recording what arrives.

use std::time::Duration;

use super::calls::{Call, answer_with, daemon};
use super::rtp::{Media, Rtp, pcmu, released, ulaw};

const WAIT: Duration = Duration::from_secs(2);

#[tokio::test]
async fn two_hundred_packets_come_back_with_our_ssrc_sequence_and_timestamps() {
    let (daemon, (first, last)) = daemon("127.0.0.1:0", "", &answer_with("\"echo\""));
    let mut media = Media::bind("127.0.0.1").await;
    let mut call = Call::start(&daemon, "echo-200", &mut media, "0 101", "").await;
    assert!(
        (first..=last).contains(&call.port) && call.port % 2 == 0,
        "port {} outside {first}-{last}",
        call.port
    );
    assert!(
        call.answer.body.contains("a=sendrecv"),
        "{}",
        call.answer.body
    );
    let mut echoes: Vec<Rtp> = Vec::new();
    for n in 0..200u16 {
        let payload: Vec<u8> = (0..160).map(|i| (n as u8).wrapping_add(i as u8)).collect();
        media.send(&pcmu(n, payload)).await;
        // Paced a little, so the socket buffers never overflow.
        if n % 10 == 9 {
            while echoes.len() < usize::from(n) - 5 {
                echoes.push(media.recv(WAIT).await.expect("an echo"));
            }
        }
    }
    while echoes.len() < 200 {
        echoes.push(media.recv(WAIT).await.expect("an echo"));
    }
    let ssrc = echoes[0].ssrc;
    assert_ne!(ssrc, 0x0C0F_FEE0, "the daemon's own SSRC");
    for (n, pair) in echoes.windows(2).enumerate() {
        let (a, b) = (&pair[0], &pair[1]);
        assert_eq!(b.ssrc, ssrc);
        assert_eq!(b.sequence, a.sequence.wrapping_add(1), "packet {n}");
        assert_eq!(
            b.timestamp,
            a.timestamp.wrapping_add(160),
            "packet {n}: 20 ms of PCMU"
        );
    }
    for (n, echo) in echoes.iter().enumerate() {
        let sent: Vec<u8> = (0..160).map(|i| (n as u8).wrapping_add(i as u8)).collect();
        assert_eq!(echo.payload, sent, "packet {n} comes back as sent");
        assert_eq!(echo.payload_type, 0);
    }
    call.bye().await;
    assert!(
        released("127.0.0.1", call.port).await,
        "the port pair is free after BYE"
    );
}

#[tokio::test]
async fn echoes_follow_the_source_of_the_packets_but_not_a_stranger() {
    let (daemon, _) = daemon("127.0.0.1:0", "", &answer_with("\"echo\""));
    // The offer names a socket that never sends; packets come from another
    // (a NAT would do that), and from a stranger's address.
    let mut named = Media::bind("127.0.0.1").await;
    let call = Call::start(&daemon, "echo-nat", &mut named, "0", "").await;
    let mut behind_nat = Media::bind("127.0.0.1").await;
    behind_nat.remote = named.remote;
    let mut stranger = Media::bind("127.0.0.2").await;
    stranger.remote = named.remote;
    stranger.send(&pcmu(0, vec![1; 160])).await;
    assert!(
        stranger.recv(Duration::from_millis(300)).await.is_none(),
        "no echo to a stranger"
    );
    behind_nat.send(&pcmu(1, vec![2; 160])).await;
    let echo = behind_nat
        .recv(WAIT)
        .await
        .expect("the echo goes where the packet came from");
    assert_eq!(echo.payload, vec![2; 160]);
    assert!(named.recv(Duration::from_millis(200)).await.is_none());
    // The latched source keeps the stream: the stranger still gets nothing.
    stranger.send(&pcmu(2, vec![3; 160])).await;
    assert!(stranger.recv(Duration::from_millis(300)).await.is_none());
    drop(call);
}

#[tokio::test]
async fn a_media_address_other_than_the_callers_gets_nothing_until_it_sends() {
    // The INVITE and its ACK come from 127.0.0.1; the offer names a socket
    // on 127.0.0.2. The ACK proves 127.0.0.1 receives, not 127.0.0.2: a
    // tone aimed at a third party must wait for media from there.
    let (daemon, _) = daemon("127.0.0.1:0", "", &answer_with("{ tone = 440 }"));
    let mut elsewhere = Media::bind("127.0.0.2").await;
    let mut call = Call::start(&daemon, "third-party", &mut elsewhere, "0", "").await;
    assert!(
        elsewhere.recv(Duration::from_millis(400)).await.is_none(),
        "no stream to an address the caller has not shown it receives at"
    );
    elsewhere.send(&pcmu(0, vec![0xFF; 160])).await;
    let tone = elsewhere
        .recv(WAIT)
        .await
        .expect("the tone once media came from there");
    assert_eq!((tone.payload_type, tone.payload.len()), (0, 160));
    call.bye().await;
}

#[tokio::test]
async fn ipv6_calls_are_answered_and_echoed() {
    let (daemon, (first, last)) = daemon("[::1]:0", "", &answer_with("\"echo\""));
    let mut media = Media::bind("[::1]").await;
    let mut call = Call::start(&daemon, "echo-v6", &mut media, "8", "").await;
    assert!(
        call.answer.body.contains("c=IN IP6 ::1"),
        "{}",
        call.answer.body
    );
    assert!((first..=last).contains(&call.port));
    let mut packet = pcmu(0, vec![0xD5; 160]);
    packet.payload_type = 8;
    media.send(&packet).await;
    let echo = media.recv(WAIT).await.expect("an echo over IPv6");
    assert_eq!((echo.payload_type, echo.payload.len()), (8, 160));
    call.bye().await;
    assert!(released("[::1]", call.port).await);
}

#[tokio::test]
async fn a_recording_holds_what_arrived_and_is_closed_at_the_end() {
    let dir = std::env::temp_dir().join(format!("sar-media-rec-{}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).expect("dir");
    let media_value = format!(
        "{{ record = \"{}/${{call_id}}.wav\", echo = true }}",
        dir.display()
    );
    let (daemon, _) = daemon("127.0.0.1:0", "", &answer_with(&media_value));
    let mut media = Media::bind("127.0.0.1").await;
    let mut call = Call::start(&daemon, "rec-call", &mut media, "0", "").await;
    let sent: Vec<u8> = (0..160u8).map(|i| i.wrapping_mul(3)).collect();
    for n in 0..25 {
        media.send(&pcmu(n, sent.clone())).await;
        media.recv(WAIT).await.expect("echoed while recorded");
    }
    call.bye().await;
    let path = dir.join("rec-call.wav");
    let mut reader = None;
    for _ in 0..100 {
        if let Ok(r) = hound::WavReader::open(&path)
            && r.len() == 25 * 160
        {
            reader = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reader = reader.unwrap_or_else(|| panic!("{} with 4000 samples", path.display()));
    assert_eq!(reader.spec().sample_rate, 8000);
    let samples: Vec<i16> = reader.into_samples().map(|s| s.expect("sample")).collect();
    let expected: Vec<i16> = sent.iter().map(|&b| ulaw(b)).collect();
    assert_eq!(&samples[..160], &expected[..]);
    assert_eq!(&samples[24 * 160..], &expected[..]);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn the_embedded_default_answers_calls_with_an_echo() {
    let default = sip_autoresponder::config::DEFAULT_CONFIG;
    let rules = &default[default.find("[[rule]]").expect("default rules")..];
    let config = format!(
        "[server]\nforce_rport = true\n\n[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n\n{rules}"
    );
    let daemon = crate::common::TestDaemon::start(&config);
    let mut media = Media::bind("127.0.0.1").await;
    let client = crate::common::UdpClient::new(daemon.udp()).await;
    let sdp = super::rtp::offer("127.0.0.1", media.port(), "0", "");
    let invite = super::calls::invite("default-echo", &sdp);
    assert_eq!(client.request(&invite).await.status, 180);
    let answer = client.recv().await;
    assert_eq!(answer.status, 200, "{}", answer.raw);
    let (address, port) = super::rtp::answered(&answer.body);
    assert!((40_000..=40_999).contains(&port), "port {port}");
    media.remote = Some(std::net::SocketAddr::new(address, port));
    let tag = answer.to_tag().expect("To-tag");
    client
        .send(&crate::common::in_dialog(
            "ACK",
            "default-echo",
            &tag,
            1,
            "default-echo-ack",
        ))
        .await;
    media.send(&pcmu(0, vec![0x55; 160])).await;
    let echo = media.recv(WAIT).await.expect("the default echoes");
    assert_eq!(echo.payload, vec![0x55; 160]);
    let bye = crate::common::in_dialog("BYE", "default-echo", &tag, 2, "default-echo-bye");
    assert_eq!(client.request(&bye).await.status, 200);
}
