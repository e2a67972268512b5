//! `[media]` and a step's `media` / `on_dtmf`: what loads, and the errors
//! (with positions) for what does not.

use super::Config;
use crate::rules::media::{Media, Sender};
use crate::rules::{ReplyPolicy, Step};

const LISTEN: &str = "[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:0\"\n";

fn rule(accept: &str) -> String {
    format!("{LISTEN}[[rule]]\nname = \"r\"\nmatch.method = \"INVITE\"\naccept = {accept}\n")
}

fn errors(text: &str) -> Vec<String> {
    match Config::parse(text, "t.toml") {
        Ok(_) => Vec::new(),
        Err(errors) => errors.errors.iter().map(ToString::to_string).collect(),
    }
}

fn assert_error(text: &str, expected: &str) {
    let found = errors(text);
    assert!(
        found.iter().any(|e| e.contains(expected)),
        "expected {expected:?} in {found:#?}"
    );
}

fn accept_step(config: &Config) -> Step {
    match config.rules.rules()[0].choice.policies()[0].as_ref() {
        ReplyPolicy::Respond {
            final_step: Some(step),
            ..
        } => step.clone(),
        other => panic!("not a respond policy: {other}"),
    }
}

#[test]
fn media_settings_and_their_defaults() {
    let config = Config::parse(LISTEN, "t.toml").expect("valid");
    assert_eq!(
        (
            config.server.media.first_port,
            config.server.media.last_port
        ),
        (40_000, 40_999)
    );
    assert_eq!(
        config.server.media.timeout,
        Some(std::time::Duration::from_secs(60))
    );
    let text = format!(
        "{LISTEN}[media]\nport_range = \"20000-20099\"\ntimeout_ms = 0\nrtcp_interval_ms = 1000\n"
    );
    let config = Config::parse(&text, "t.toml").expect("valid");
    assert_eq!(config.server.media.first_port, 20_000);
    assert_eq!(config.server.media.timeout, None);
    for bad in ["20001-20099", "20000-20098", "20099-20000", "x", "0-99"] {
        assert_error(
            &format!("{LISTEN}[media]\nport_range = \"{bad}\"\n"),
            "t.toml:5:14: port_range",
        );
    }
    assert_error(
        &format!("{LISTEN}[media]\nrtcp_interval_ms = 5\n"),
        "rtcp_interval_ms must be from 100 to 60000",
    );
    assert_error(
        &format!("{LISTEN}[media]\nport_rang = \"1-2\"\n"),
        "did you mean `port_range`?",
    );
}

#[test]
fn media_modes_compile() {
    let cases = [
        ("\"echo\"", "echo"),
        ("\"silence\"", "silence"),
        ("{ tone = 440 }", "tone"),
        ("{ dtmf = \"1234#\" }", "silence"),
        ("{ dtmf = \"9\", echo = true }", "echo"),
    ];
    for (value, sender) in cases {
        let text = rule(&format!("{{ body.sdp = \"answer\", media = {value} }}"));
        let config = Config::parse(&text, "t.toml").unwrap_or_else(|e| panic!("{value}: {e}"));
        match accept_step(&config).media {
            Some(Media::Plan(plan)) => assert_eq!(plan.send.name(), sender, "{value}"),
            other => panic!("{value}: {other:?}"),
        }
    }
    let text = rule("{ body.sdp = \"answer\", media = \"none\" }");
    let config = Config::parse(&text, "t.toml").expect("valid");
    assert!(matches!(accept_step(&config).media, Some(Media::Off)));
}

#[test]
fn a_wav_file_is_read_at_load() {
    let dir = std::env::temp_dir().join(format!("sar-media-config-{}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).expect("dir");
    let good = dir.join("good.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&good, spec).expect("wav");
    for i in 0..800 {
        writer.write_sample(i as i16).expect("sample");
    }
    writer.finalize().expect("wav");
    let stereo = dir.join("stereo.wav");
    let mut writer = hound::WavWriter::create(
        &stereo,
        hound::WavSpec {
            channels: 2,
            ..spec
        },
    )
    .expect("wav");
    writer.write_sample(0i16).expect("sample");
    writer.write_sample(0i16).expect("sample");
    writer.finalize().expect("wav");
    let play = |path: &std::path::Path| {
        rule(&format!(
            "{{ body.sdp = \"answer\", media = {{ play = \"{}\", loop = true }} }}",
            path.display()
        ))
    };
    let config = Config::parse(&play(&good), "t.toml").expect("valid");
    match accept_step(&config).media {
        Some(Media::Plan(plan)) => match &plan.send {
            Sender::Play(clip) => {
                assert!(clip.looped);
                assert_eq!(clip.duration_ms(), 100);
                assert_eq!(clip.pcm(8000).len(), 800);
                assert_eq!(clip.pcm(16000).len(), 1600);
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    assert_error(&play(&stereo), "expected mono 16-bit PCM");
    assert_error(&play(&dir.join("missing.wav")), "t.toml:7:41: play `");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn media_mistakes_are_errors_with_positions() {
    assert_error(
        &rule("{ media = \"echo\" }"),
        "media needs `body = { sdp = \"answer\" }`",
    );
    assert_error(
        &rule("{ body.sdp = \"answer\", media = \"loud\" }"),
        "unknown media `loud`",
    );
    assert_error(
        &rule("{ body.sdp = \"answer\", media = { tone = 440, echo = true } }"),
        "media sends one thing",
    );
    assert_error(
        &rule("{ body.sdp = \"answer\", media = { tone = 5 } }"),
        "tone 5 Hz",
    );
    assert_error(
        &rule("{ body.sdp = \"answer\", media = { dtmf = \"12x\" } }"),
        "dtmf `12x`",
    );
    assert_error(
        &rule("{ body.sdp = \"answer\", media = { loop = true } }"),
        "needs tone, play, record, dtmf or echo",
    );
    assert_error(
        &rule("{ body.sdp = \"answer\", media = { record = \"/no/such/dir/x.wav\" } }"),
        "no directory /no/such/dir",
    );
    assert_error(
        &rule("{ body.sdp = \"answer\", media = { record = \"/tmp/${nope}.wav\" } }"),
        "unknown template variable `${nope}`",
    );
    assert_error(
        &rule("{ body.sdp = \"answer\", on_dtmf = [{ digits = '#', hangup = true }] }"),
        "on_dtmf needs `media`",
    );
    assert_error(
        &rule("{ body.sdp = \"answer\", media = \"echo\", on_dtmf = [{ digits = '(' }] }"),
        "digits: regex parse error",
    );
    assert_error(
        &rule("{ body.sdp = \"answer\", media = \"echo\", on_dtmf = [{ digits = '1' }] }"),
        "needs hangup, media or dtmf",
    );
    assert_error(
        &format!(
            "{LISTEN}[[rule]]\nname = \"r\"\nmatch.method = \"INVITE\"\nreject = {{ status = 486, media = \"echo\" }}\n"
        ),
        "media belongs on `progress`",
    );
    assert_error(
        &format!(
            "{LISTEN}[[rule]]\nname = \"r\"\nmatch.method = \"INVITE\"\naccept = {{}}\nno_media_port = {{ status = 486, media = \"echo\" }}\n"
        ),
        "it takes status, reason and extra_headers only",
    );
}

#[test]
fn play_refuses_what_is_not_a_regular_file() {
    assert_error(
        &rule("{ body.sdp = \"answer\", media = { play = \"/dev/zero\" } }"),
        "play `/dev/zero`: not a regular file",
    );
    assert_error(
        &rule("{ body.sdp = \"answer\", media = { play = \"/tmp\" } }"),
        "not a regular file",
    );
}
