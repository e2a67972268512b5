//! Media with baresip: it calls the daemon over UDP, driven by its command
//! line (`-e /dial`, `-t`), sending a WAV file (aufile). baresip ends
//! a call whose audio stops for its `rtp_timeout` (here 5 s), as linphone
//! and SBCs do: with `media = "echo"` the call holds for 40 s and is ended
//! by baresip's own hang-up; without media baresip hangs up after 5 s
//! (which shows the first test can fail).

use std::process::Command;
use std::time::Duration;

use crate::harness::daemon::Daemon;
use crate::harness::process::run_bounded;
use crate::harness::tools::on_path;

/// Rules before the shared ones: `sip:media@` echoes, `sip:silent@` has no
/// media; ports below the ephemeral range.
const MEDIA: &str = r#"
[media]
port_range = "24000-24019"
timeout_ms = 10000

[[rule]]
name = "call-echo"
match.method = "INVITE"
match.request_uri = '^sip:media@'
accept = { body.sdp = "answer", media = "echo" }

[[rule]]
name = "call-silent"
match.method = "INVITE"
match.request_uri = '^sip:silent@'
accept = { body.sdp = "answer" }
"#;

/// What one baresip run printed, progress lines (`\r`) split out.
struct Baresip {
    output: String,
}

impl Baresip {
    /// baresip calls `user` at the daemon and quits after `quit_after`.
    fn call(daemon: &Daemon, user: &str, quit_after: Duration) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "sip-autoresponder-baresip-{}-{user}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("baresip dir");
        // 60 s of a 440 Hz tone, the audio baresip sends (aufile).
        let wav = dir.join("tone.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut writer = hound::WavWriter::create(&wav, spec).expect("tone file");
        for i in 0..8000 * 60 {
            let phase = f64::from(i) * 440.0 * std::f64::consts::TAU / 8000.0;
            writer
                .write_sample((phase.sin() * 8000.0) as i16)
                .expect("sample");
        }
        writer.finalize().expect("tone file");
        let sip_port = std::net::UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("a free port")
            .port();
        let config = format!(
            "poll_method epoll\nsip_listen 127.0.0.1:{sip_port}\n\
             audio_player aubridge,nil\naudio_alert aubridge,nil\n\
             audio_source aufile,{}\nrtp_timeout 5\n\
             module_path /usr/lib/baresip/modules\n\
             module g711.so\nmodule aufile.so\nmodule aubridge.so\nmodule menu.so\nmodule account.so\n",
            wav.display()
        );
        std::fs::write(dir.join("config"), config).expect("baresip config");
        std::fs::write(
            dir.join("accounts"),
            "<sip:baresip@127.0.0.1>;regint=0;audio_codecs=PCMU\n",
        )
        .expect("baresip accounts");
        let server = daemon.addr("udp");
        let mut command = Command::new(on_path("baresip").expect("checked by the harness"));
        command
            .arg("-f")
            .arg(&dir)
            .arg("-e")
            .arg(format!("/dial sip:{user}@{server}"))
            .arg("-t")
            .arg(quit_after.as_secs().to_string());
        let run = run_bounded(command, quit_after + Duration::from_secs(20));
        let _ = std::fs::remove_dir_all(&dir);
        Self {
            output: format!("{}\n{}", run.stdout, run.stderr).replace('\r', "\n"),
        }
    }

    /// The call's duration baresip reports when it ends.
    fn duration(&self) -> Option<u64> {
        let line = self
            .output
            .lines()
            .find(|l| l.contains(" terminated (duration: "))?;
        let rest = &line[line.find("(duration: ")? + "(duration: ".len()..];
        rest.split_whitespace().next()?.parse().ok()
    }

    fn summary(&self) -> String {
        self.output
            .lines()
            .filter(|l| !l.trim_start().starts_with('['))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

pub(super) fn a_call_answered_with_echo_holds_40_s() {
    let daemon = Daemon::start_with(&[("udp", "")], MEDIA);
    let baresip = Baresip::call(&daemon, "media", Duration::from_secs(44));
    let summary = baresip.summary();
    assert!(
        summary.contains("Call established"),
        "{summary}\n--- daemon ---\n{}",
        daemon.log()
    );
    assert!(
        !summary.contains("no audio RTP packets received"),
        "baresip lost the audio:\n{summary}"
    );
    let duration = baresip.duration().unwrap_or(0);
    assert!(
        duration >= 40,
        "the call lasted {duration} s (baresip's own hang-up at 44 s):\n{summary}\n--- daemon ---\n{}",
        daemon.log()
    );
    // The daemon saw the whole call: ended by baresip's BYE, with its
    // audio echoed (50 packets a second each way).
    daemon.expect_log(&[
        "media ended",
        "rule=\"call-echo\"",
        "reason=\"dialog ended\"",
    ]);
    let log = daemon.log();
    let line = log
        .lines()
        .find(|l| l.contains("media ended") && l.contains("call-echo"))
        .unwrap_or_default();
    let count = |key: &str| -> u64 {
        line.split_whitespace()
            .find_map(|part| part.strip_prefix(key)?.parse().ok())
            .unwrap_or(0)
    };
    assert!(count("packets_received=") >= 1800, "{line}");
    assert!(count("packets_sent=") >= 1800, "{line}");
    assert!(
        count("rtcp_received=") >= 1,
        "baresip's RTCP reached us: {line}"
    );
    assert!(!log.contains("RTP timeout"), "{log}");
}

pub(super) fn a_call_answered_without_media_is_hung_up_by_baresip() {
    let daemon = Daemon::start_with(&[("udp", "")], MEDIA);
    let baresip = Baresip::call(&daemon, "silent", Duration::from_secs(15));
    let summary = baresip.summary();
    assert!(summary.contains("Call established"), "{summary}");
    assert!(
        summary.contains("no audio RTP packets received"),
        "{summary}"
    );
    let duration = baresip.duration().unwrap_or(99);
    assert!(
        duration < 10,
        "hung up at its rtp_timeout, not {duration} s:\n{summary}"
    );
}
