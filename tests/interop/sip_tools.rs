//! Debian's SIP tools against the daemon: sipsak (OPTIONS over UDP and
//! TCP) and SIPp (calls over UDP and TCP, with and without 100rel).

use std::path::Path;
use std::process::Command;

use crate::harness::daemon::Daemon;
use crate::harness::process::{CLIENT_WAIT, run_bounded};
use crate::harness::tools::{INTEROP_DIR, on_path};
use crate::harness::{InteropTest, Tool};

pub const TESTS: &[InteropTest] = &[
    InteropTest {
        name: "sip_tools::sipsak_options_over_udp_gets_200",
        requires: &[Tool::Sipsak],
        run: sipsak_options_over_udp_gets_200,
    },
    InteropTest {
        name: "sip_tools::sipsak_options_over_tcp_gets_200",
        requires: &[Tool::Sipsak],
        run: sipsak_options_over_tcp_gets_200,
    },
    InteropTest {
        name: "sip_tools::sipp_uac_calls_over_udp_succeed",
        requires: &[Tool::Sipp],
        run: sipp_uac_calls_over_udp_succeed,
    },
    InteropTest {
        name: "sip_tools::sipp_uac_calls_over_tcp_succeed",
        requires: &[Tool::Sipp],
        run: sipp_uac_calls_over_tcp_succeed,
    },
    InteropTest {
        name: "sip_tools::sipp_calls_requiring_100rel_pracks_over_udp_succeed",
        requires: &[Tool::Sipp],
        run: sipp_calls_requiring_100rel_pracks_over_udp_succeed,
    },
    InteropTest {
        name: "sip_tools::sipp_calls_with_digest_credentials_over_udp_succeed",
        requires: &[Tool::Sipp],
        run: sipp_calls_with_digest_credentials_over_udp_succeed,
    },
    InteropTest {
        name: "sip_tools::sipp_calls_with_digest_credentials_over_tcp_succeed",
        requires: &[Tool::Sipp],
        run: sipp_calls_with_digest_credentials_over_tcp_succeed,
    },
];

/// How a SIPp run is set up: its scenario (built-in `uac` when `None`),
/// the service it calls, its credentials and the rule that must answer.
struct SippRun<'a> {
    scenario: Option<&'a str>,
    service: &'a str,
    credentials: Option<(&'a str, &'a str)>,
    rule: &'a str,
}

/// sipsak sends OPTIONS over `transport` and must see a 200.
fn sipsak_options(transport: &str) {
    let sipsak = on_path("sipsak").expect("checked by the harness");
    let daemon = Daemon::start(&[(transport, "")]);
    let server = daemon.addr(transport);
    let uri = format!("sip:options@{server}");
    let mut command = Command::new(sipsak);
    command.args(["-vv", "-H", "127.0.0.1", "-s", &uri]);
    if transport != "udp" {
        command.args(["-E", transport]);
    }
    let run = run_bounded(command, CLIENT_WAIT);
    let report = || {
        format!(
            "sipsak -s {uri} over {transport}: {:?}\n--- sipsak stdout ---\n{}\n--- sipsak stderr ---\n{}\n--- daemon log ---\n{}",
            run.status,
            run.stdout,
            run.stderr,
            daemon.log()
        )
    };
    // sipsak exits 0 only when it received a 200.
    assert!(run.success(), "{}", report());
    assert!(run.stdout.contains("SIP/2.0 200"), "{}", report());
    daemon.expect_log(&["accepted", "rule=\"options\"", "OPTIONS"]);
}

// ---------------------------------------------------------------------------
// sipsak (Debian): OPTIONS over UDP and TCP

fn sipsak_options_over_udp_gets_200() {
    sipsak_options("udp");
}

fn sipsak_options_over_tcp_gets_200() {
    sipsak_options("tcp");
}

// ---------------------------------------------------------------------------
// SIPp (Debian's sip-tester): calls to sip:answer@ (180, then 200 with an
// SDP answer after 300 ms), each ACKed and ended with BYE

/// Runs SIPp for `calls` calls to sip:answer@ over `transport` ("u1" or
/// "t1"), with its built-in `uac` scenario or tests/interop/sipp/`scenario`;
/// every call must succeed (SIPp exits 0 only then).
fn sipp_calls(transport: &str, scenario: Option<&str>, calls: u32) {
    let run = SippRun {
        scenario,
        service: "answer",
        credentials: None,
        rule: "call-answer",
    };
    sipp_run(transport, &run, calls);
}

fn sipp_run(transport: &str, setup: &SippRun<'_>, calls: u32) {
    let scenario = setup.scenario;
    let test = &format!("SIPp {} over {transport}", scenario.unwrap_or("uac"));
    let sipp = on_path("sipp").expect("checked by the harness");
    let listener = if transport == "t1" { "tcp" } else { "udp" };
    let extra = if setup.credentials.is_some() {
        crate::harness::daemon::AUTH
    } else {
        ""
    };
    let daemon = Daemon::start_with(&[(listener, "")], extra);
    let server = daemon.addr(listener);
    // SIPp writes its logs to the working directory, and binds a media
    // port (6000 by default): a scratch directory and a free port.
    let scratch = std::env::temp_dir().join(format!(
        "sip-autoresponder-sipp-{}-{transport}-{}",
        std::process::id(),
        scenario.unwrap_or("uac")
    ));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let media_port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|socket| socket.local_addr())
        .expect("a free port")
        .port();
    let mut command = Command::new(sipp);
    command.current_dir(&scratch);
    match scenario {
        Some(file) => command
            .arg("-sf")
            .arg(Path::new(INTEROP_DIR).join("sipp").join(file)),
        None => command.args(["-sn", "uac"]),
    };
    command
        .arg(server.to_string())
        .args(["-s", setup.service, "-i", "127.0.0.1", "-t", transport])
        .args(["-mp", &media_port.to_string()])
        .args(["-m", &calls.to_string(), "-r", "20", "-l", "20"]);
    if let Some((user, password)) = setup.credentials {
        command.args(["-au", user, "-ap", password]);
    }
    command.args([
        "-nostdin",
        "-timeout",
        "15s",
        "-timeout_error",
        "-trace_err",
    ]);
    let run = run_bounded(command, CLIENT_WAIT);
    let errors: String = std::fs::read_dir(&scratch)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().ends_with("_errors.log"))
        .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
        .collect();
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(
        run.success(),
        "{test}: {:?}\n--- sipp stdout ---\n{}\n--- sipp stderr ---\n{}\n--- sipp errors ---\n{errors}\n--- daemon log ---\n{}",
        run.status,
        run.stdout,
        run.stderr,
        daemon.log()
    );
    let rule = format!("rule=\"{}\"", setup.rule);
    daemon.expect_log(&["accepted", &rule, "INVITE"]);
    if let Some((user, _)) = setup.credentials {
        daemon.expect_log(&["credentials accepted", &format!("auth.user=\"{user}\"")]);
    }
}

fn sipp_uac_calls_over_udp_succeed() {
    sipp_calls("u1", None, 10);
}

fn sipp_uac_calls_over_tcp_succeed() {
    sipp_calls("t1", None, 10);
}

/// SIPp requires 100rel: each 180 comes reliably, SIPp PRACKs it and the
/// PRACK gets 200 before the 200 to the INVITE (checked by the scenario).
fn sipp_calls_requiring_100rel_pracks_over_udp_succeed() {
    sipp_calls("u1", Some("uac-100rel.xml"), 10);
}

/// SIPp with `-au`/`-ap` (tests/interop/sipp/uac-auth.xml): each call's
/// INVITE gets 401, SIPp ACKs it and sends the INVITE again with its
/// digest (CSeq 2); the call is answered and hung up. SIPp exits 0 only
/// when every call went so.
fn sipp_digest_calls(transport: &str) {
    let run = SippRun {
        scenario: Some("uac-auth.xml"),
        service: "auth",
        credentials: Some(("sipp", "sipp-secret")),
        rule: "call-auth",
    };
    sipp_run(transport, &run, 10);
}

fn sipp_calls_with_digest_credentials_over_udp_succeed() {
    sipp_digest_calls("u1");
}

fn sipp_calls_with_digest_credentials_over_tcp_succeed() {
    sipp_digest_calls("t1");
}
