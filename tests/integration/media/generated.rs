//! What the daemon sends by itself: a tone and a WAV file arrive at the
//! ptime (20 ms, timestamps by 160) and decode to the tone or the file;
//! G.722 carries the tone too; silence is digital silence.

use std::time::Duration;

use tokio::time::Instant;

use super::calls::{Call, answer_with, daemon};
use super::rtp::{Media, Rtp, frequency, rms, ulaw};

const WAIT: Duration = Duration::from_secs(2);

/// `count` packets as they arrive, with their arrival times.
async fn collect(media: &Media, count: usize) -> Vec<(Instant, Rtp)> {
    let mut packets = Vec::new();
    while packets.len() < count {
        let packet = media.recv(WAIT).await.expect("a packet at the ptime");
        packets.push((Instant::now(), packet));
    }
    packets
}

/// Consecutive sequence numbers, timestamps by `ticks`, and arrivals whose
/// mean spacing is the ptime.
fn assert_paced(packets: &[(Instant, Rtp)], ticks: u32) {
    for pair in packets.windows(2) {
        let (a, b) = (&pair[0].1, &pair[1].1);
        assert_eq!(b.sequence, a.sequence.wrapping_add(1));
        assert_eq!(b.timestamp, a.timestamp.wrapping_add(ticks));
        assert_eq!(b.ssrc, a.ssrc);
    }
    let span = packets[packets.len() - 1].0 - packets[0].0;
    let mean = span / (packets.len() as u32 - 1);
    assert!(
        (Duration::from_millis(17)..=Duration::from_millis(23)).contains(&mean),
        "mean spacing {mean:?} for 20 ms"
    );
}

#[tokio::test]
async fn a_tone_arrives_at_the_ptime_and_decodes_to_the_tone() {
    let (daemon, _) = daemon("127.0.0.1:0", "", &answer_with("{ tone = 440 }"));
    let mut media = Media::bind("127.0.0.1").await;
    let mut call = Call::start(&daemon, "tone-pcmu", &mut media, "0", "").await;
    let packets = collect(&media, 50).await;
    assert_paced(&packets, 160);
    assert!(
        packets[0].1.marker,
        "the first packet of the stream is marked"
    );
    let samples: Vec<i16> = packets
        .iter()
        .flat_map(|(_, p)| p.payload.iter().map(|&b| ulaw(b)))
        .collect();
    assert_eq!(samples.len(), 50 * 160);
    let heard = frequency(&samples, 8000);
    assert!((heard - 440.0).abs() < 3.0, "{heard} Hz");
    // -10 dBFS peak: RMS of a sine of peak 10362.
    let level = rms(&samples);
    assert!((7000.0..7700.0).contains(&level), "RMS {level}");
    // Sample by sample: the tone starts at phase 0 with the first packet.
    for (n, &got) in samples.iter().enumerate() {
        let want = (n as f64 * 440.0 * std::f64::consts::TAU / 8000.0).sin() * 10362.0;
        let step = want.abs() / 16.0 + 16.0;
        assert!(
            (f64::from(got) - want).abs() <= step,
            "sample {n}: {got} for {want:.0}"
        );
    }
    call.bye().await;
}

#[tokio::test]
async fn g722_carries_the_tone() {
    use audio_codec::Decoder as _;
    let (daemon, _) = daemon("127.0.0.1:0", "", &answer_with("{ tone = 1000 }"));
    let mut media = Media::bind("127.0.0.1").await;
    let mut call = Call::start(&daemon, "tone-g722", &mut media, "9 0", "").await;
    assert!(
        call.answer.body.contains("m=audio "),
        "{}",
        call.answer.body
    );
    assert!(
        call.answer.body.contains("a=rtpmap:9 G722/8000"),
        "{}",
        call.answer.body
    );
    let packets = collect(&media, 50).await;
    // RFC 3551 §4.5.2: G.722's RTP clock is 8000 Hz: 160 ticks per 20 ms.
    assert_paced(&packets, 160);
    let mut decoder = audio_codec::g722::G722Decoder::new();
    let mut samples = Vec::new();
    for (_, packet) in &packets {
        assert_eq!((packet.payload_type, packet.payload.len()), (9, 160));
        samples.extend(decoder.decode(&packet.payload));
    }
    assert_eq!(samples.len(), 50 * 320, "16 kHz audio");
    let heard = frequency(&samples[1600..], 16000);
    assert!((heard - 1000.0).abs() < 5.0, "{heard} Hz");
    call.bye().await;
}

/// A WAV file of `samples` at `rate`.
fn wav(samples: &[i16], rate: u32) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("sar-media-{}.wav", fastrand::u64(..)));
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&path, spec).expect("create WAV");
    for &sample in samples {
        writer.write_sample(sample).expect("write");
    }
    writer.finalize().expect("finalize");
    path
}

#[tokio::test]
async fn a_file_arrives_at_the_ptime_as_the_file_then_silence() {
    // 0.3 s of a deterministic pattern: a ramp with a wobble.
    let file: Vec<i16> = (0..2400i32)
        .map(|i| ((i * 37) % 20_000 - 10_000 + (i % 7) * 100) as i16)
        .collect();
    let path = wav(&file, 8000);
    let value = format!("{{ play = \"{}\" }}", path.display());
    let (daemon, _) = daemon("127.0.0.1:0", "", &answer_with(&value));
    let mut media = Media::bind("127.0.0.1").await;
    let mut call = Call::start(&daemon, "play-file", &mut media, "0", "").await;
    let packets = collect(&media, 20).await;
    assert_paced(&packets, 160);
    let samples: Vec<i16> = packets
        .iter()
        .flat_map(|(_, p)| p.payload.iter().map(|&b| ulaw(b)))
        .collect();
    for (i, (&got, &want)) in samples.iter().zip(&file).enumerate() {
        // µ-law keeps a sample within its segment's step (1/16 of it).
        let step = (i32::from(want).abs() / 16).max(8) + 4;
        assert!(
            (i32::from(got) - i32::from(want)).abs() <= step,
            "sample {i}: {got} for {want}"
        );
    }
    // After the 2400 samples (15 packets), the file does not loop: silence.
    assert!(
        samples[2400..].iter().all(|&s| s.abs() <= 8),
        "silence after the file"
    );
    call.bye().await;
    std::fs::remove_file(path).ok();
}

#[tokio::test]
async fn silence_is_digital_silence_at_the_ptime() {
    let (daemon, _) = daemon("127.0.0.1:0", "", &answer_with("\"silence\""));
    let mut media = Media::bind("127.0.0.1").await;
    let mut call = Call::start(&daemon, "silence", &mut media, "8", "").await;
    let packets = collect(&media, 10).await;
    assert_paced(&packets, 160);
    // PCMA's zero is 0xD5.
    assert!(packets.iter().all(|(_, p)| p.payload == vec![0xD5; 160]));
    call.bye().await;
}

#[tokio::test]
async fn opus_carries_the_tone_at_48_khz() {
    let (daemon, _) = daemon("127.0.0.1:0", "", &answer_with("{ tone = 440 }"));
    let mut media = Media::bind("127.0.0.1").await;
    let port = media.port();
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\na=ptime:20\r\n"
    );
    let mut call = Call::start_with(&daemon, "tone-opus", &mut media, &sdp).await;
    assert!(
        call.answer.body.contains("a=rtpmap:111 opus/48000/2"),
        "{}",
        call.answer.body
    );
    let packets = collect(&media, 50).await;
    // RFC 7587 §4.1: a 48 kHz RTP clock, 960 ticks per 20 ms.
    assert_paced(&packets, 960);
    let mut decoder = opus_rs::OpusDecoder::new(48000, 1).expect("decoder");
    let mut samples = Vec::new();
    let mut frame = vec![0f32; 960];
    for (_, packet) in &packets {
        assert_eq!(packet.payload_type, 111);
        let len = decoder
            .decode(&packet.payload, 960, &mut frame)
            .expect("an Opus packet");
        samples.extend(frame[..len].iter().map(|&s| (s * 32768.0) as i16));
    }
    assert_eq!(samples.len(), 50 * 960);
    let heard = frequency(&samples[4800..], 48000);
    assert!((heard - 440.0).abs() < 5.0, "{heard} Hz");
    call.bye().await;
}
