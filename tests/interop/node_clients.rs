//! Node.js SIP stacks against the daemon: the npm `sip` package (MESSAGE
//! over UDP and TCP), JsSIP (MESSAGE over WebSocket) and SIP.js (calls over
//! WebSocket). The scenarios live in tests/interop/*.js (see the README);
//! each prints one JSON line and exits 0 on success.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::daemon::Daemon;
use crate::harness::process::{CLIENT_WAIT, run_bounded};
use crate::harness::tools::{INTEROP_DIR, node_clients};
use crate::harness::{InteropTest, Tool};

/// The auto-reply body of the `im-echo` rule.
const AUTO_REPLY: &str = "I am away";

pub const TESTS: &[InteropTest] = &[
    InteropTest {
        name: "node::sip_package_message_over_udp_gets_200",
        requires: &[Tool::NodeClients],
        run: sip_package_message_over_udp_gets_200,
    },
    InteropTest {
        name: "node::sip_package_message_over_udp_gets_auto_reply",
        requires: &[Tool::NodeClients],
        run: sip_package_message_over_udp_gets_auto_reply,
    },
    InteropTest {
        name: "node::sip_package_message_over_tcp_gets_200",
        requires: &[Tool::NodeClients],
        run: sip_package_message_over_tcp_gets_200,
    },
    InteropTest {
        name: "node::sip_package_message_over_tcp_gets_auto_reply",
        requires: &[Tool::NodeClients],
        run: sip_package_message_over_tcp_gets_auto_reply,
    },
    InteropTest {
        name: "node::jssip_message_accepted_over_ws",
        requires: &[Tool::NodeClients],
        run: jssip_message_accepted_over_ws,
    },
    InteropTest {
        name: "node::jssip_message_accepted_over_ws_with_path",
        requires: &[Tool::NodeClients],
        run: jssip_message_accepted_over_ws_with_path,
    },
    InteropTest {
        name: "node::jssip_message_rejected_480_fails_with_cause_unavailable_over_ws",
        requires: &[Tool::NodeClients],
        run: jssip_message_rejected_480_fails_with_cause_unavailable_over_ws,
    },
    InteropTest {
        name: "node::jssip_receives_the_auto_reply_message_over_ws",
        requires: &[Tool::NodeClients],
        run: jssip_receives_the_auto_reply_message_over_ws,
    },
    InteropTest {
        name: "node::sipjs_call_rings_is_answered_acked_and_hung_up_over_ws",
        requires: &[Tool::NodeClients],
        run: sipjs_call_rings_is_answered_acked_and_hung_up_over_ws,
    },
    InteropTest {
        name: "node::sipjs_call_requiring_100rel_pracks_a_reliable_180_over_ws",
        requires: &[Tool::NodeClients],
        run: sipjs_call_requiring_100rel_pracks_a_reliable_180_over_ws,
    },
    InteropTest {
        name: "node::sipjs_call_rejected_with_the_configured_code_over_ws",
        requires: &[Tool::NodeClients],
        run: sipjs_call_rejected_with_the_configured_code_over_ws,
    },
    InteropTest {
        name: "node::sipjs_cancel_while_ringing_gets_200_and_487_over_ws",
        requires: &[Tool::NodeClients],
        run: sipjs_cancel_while_ringing_gets_200_and_487_over_ws,
    },
    InteropTest {
        name: "node::jssip_message_with_credentials_passes_the_challenge_over_ws",
        requires: &[Tool::NodeClients],
        run: jssip_message_with_credentials_passes_the_challenge_over_ws,
    },
    InteropTest {
        name: "node::jssip_message_with_a_wrong_password_fails_with_403_over_ws",
        requires: &[Tool::NodeClients],
        run: jssip_message_with_a_wrong_password_fails_with_403_over_ws,
    },
    InteropTest {
        name: "node::sipjs_call_with_credentials_passes_the_challenge_over_ws",
        requires: &[Tool::NodeClients],
        run: sipjs_call_with_credentials_passes_the_challenge_over_ws,
    },
];

/// `node`; the harness has checked it and installed the clients.
fn node() -> PathBuf {
    node_clients().expect("checked by the harness")
}

/// Runs tests/interop/`script` with `args` (SIP traces on its stderr) and
/// asserts it succeeded and its JSON result holds every one of `expect`;
/// returns the JSON line.
fn node_scenario(
    node: &Path,
    daemon: &Daemon,
    script: &str,
    args: &[&str],
    expect: &[&str],
) -> String {
    let mut command = Command::new(node);
    command
        .current_dir(INTEROP_DIR)
        .arg(script)
        .args(args)
        .env("SIP_INTEROP_DEBUG", "1")
        .env_remove("NODE_OPTIONS");
    let run = run_bounded(command, CLIENT_WAIT);
    let json = run.json().to_owned();
    let report = || {
        format!(
            "`node {script} {}` {}\nresult: {json}\n--- client stderr (SIP trace) ---\n{}\n--- daemon log ---\n{}",
            args.join(" "),
            match run.status {
                Some(status) => format!("exited with {status}"),
                None => format!("was killed after {CLIENT_WAIT:?}"),
            },
            run.stderr,
            daemon.log()
        )
    };
    assert!(run.success(), "{}", report());
    assert!(json.contains("\"ok\":true"), "{}", report());
    for part in expect {
        assert!(json.contains(part), "result lacks {part}: {}", report());
    }
    json
}

// ---------------------------------------------------------------------------
// The npm `sip` package: MESSAGE over UDP and TCP

fn sip_package_message(transport: &str, auto_reply: bool) {
    let node = node();
    let daemon = Daemon::start(&[(transport, "")]);
    let server = daemon.addr(transport).to_string();
    let mut args = vec!["--server", &server, "--transport", transport];
    if auto_reply {
        args.extend(["--target-user", "echo", "--reply-body", AUTO_REPLY]);
        node_scenario(
            &node,
            &daemon,
            "sip-message.js",
            &args,
            &["\"status\":200", "\"body\":\"I am away\""],
        );
        daemon.expect_log(&["succeeded", "rule=\"im-echo\""]);
    } else {
        node_scenario(&node, &daemon, "sip-message.js", &args, &["\"status\":200"]);
        daemon.expect_log(&["accepted", "rule=\"im-accept\"", "MESSAGE"]);
    }
}

fn sip_package_message_over_udp_gets_200() {
    sip_package_message("udp", false);
}

fn sip_package_message_over_udp_gets_auto_reply() {
    sip_package_message("udp", true);
}

fn sip_package_message_over_tcp_gets_200() {
    sip_package_message("tcp", false);
}

fn sip_package_message_over_tcp_gets_auto_reply() {
    sip_package_message("tcp", true);
}

// ---------------------------------------------------------------------------
// JsSIP over WebSocket: ua.sendMessage()

/// A daemon with one WebSocket listener (`extra` keys, e.g. a path) and the
/// URL to reach it.
fn ws_daemon(extra: &str, path: &str) -> (Daemon, String) {
    let daemon = Daemon::start(&[("ws", extra)]);
    let url = format!("ws://{}{path}", daemon.addr("ws"));
    (daemon, url)
}

fn jssip_message_accepted_over_ws() {
    let node = node();
    let (daemon, url) = ws_daemon("", "");
    node_scenario(
        &node,
        &daemon,
        "jssip-message.js",
        &["--server", &url, "--scenario", "accept"],
        &["\"event\":\"succeeded\"", "\"status\":200"],
    );
    daemon.expect_log(&["accepted", "rule=\"im-accept\"", "ws"]);
}

fn jssip_message_accepted_over_ws_with_path() {
    let node = node();
    let (daemon, url) = ws_daemon("path = \"/sip\"", "/sip");
    node_scenario(
        &node,
        &daemon,
        "jssip-message.js",
        &["--server", &url, "--scenario", "accept"],
        &["\"event\":\"succeeded\""],
    );
}

fn jssip_message_rejected_480_fails_with_cause_unavailable_over_ws() {
    let node = node();
    let (daemon, url) = ws_daemon("", "");
    node_scenario(
        &node,
        &daemon,
        "jssip-message.js",
        &["--server", &url, "--scenario", "reject"],
        &[
            "\"event\":\"failed\"",
            "\"cause\":\"Unavailable\"",
            "\"status\":480",
        ],
    );
    daemon.expect_log(&["rejected", "rule=\"im-unavailable\"", "Unavailable"]);
}

fn jssip_receives_the_auto_reply_message_over_ws() {
    let node = node();
    let (daemon, url) = ws_daemon("", "");
    node_scenario(
        &node,
        &daemon,
        "jssip-message.js",
        &[
            "--server",
            &url,
            "--scenario",
            "auto-reply",
            "--reply-body",
            AUTO_REPLY,
        ],
        &[
            "\"event\":\"succeeded\"",
            "\"body\":\"I am away\"",
            "\"replied_200\":true",
        ],
    );
    daemon.expect_log(&["succeeded", "rule=\"im-echo\""]);
}

// ---------------------------------------------------------------------------
// SIP.js over WebSocket: Inviter calls

fn sipjs_call_rings_is_answered_acked_and_hung_up_over_ws() {
    let node = node();
    let (daemon, url) = ws_daemon("", "");
    node_scenario(
        &node,
        &daemon,
        "sipjs-call.js",
        &["--server", &url, "--scenario", "answer"],
        &[
            "\"provisional\":[180]",
            "\"final_status\":200",
            "\"bye_status\":200",
            "\"Established\"",
            "> ACK ",
        ],
    );
    daemon.expect_log(&["accepted", "rule=\"call-answer\"", "INVITE"]);
    // The BYE that ends the dialog is answered by the transaction layer.
    daemon.expect_log(&["method=\"BYE\"", "status=200"]);
}

/// RFC 3262: SIP.js requires 100rel, the 180 comes reliably, SIP.js PRACKs
/// it and the PRACK gets 200; the call goes on as usual.
fn sipjs_call_requiring_100rel_pracks_a_reliable_180_over_ws() {
    let node = node();
    let (daemon, url) = ws_daemon("", "");
    node_scenario(
        &node,
        &daemon,
        "sipjs-call.js",
        &[
            "--server",
            &url,
            "--scenario",
            "answer",
            "--rel100",
            "required",
        ],
        &[
            "\"provisional\":[180]",
            "\"final_status\":200",
            "\"bye_status\":200",
            "\"prack_200\":true",
        ],
    );
    daemon.expect_log(&["method=\"PRACK\"", "status=200"]);
}

fn sipjs_call_rejected_with_the_configured_code_over_ws() {
    let node = node();
    let (daemon, url) = ws_daemon("", "");
    node_scenario(
        &node,
        &daemon,
        "sipjs-call.js",
        &["--server", &url, "--scenario", "reject", "--status", "486"],
        &["\"final_status\":486", "\"Terminated\""],
    );
    daemon.expect_log(&["rejected", "rule=\"call-busy\"", "Busy"]);
}

fn sipjs_cancel_while_ringing_gets_200_and_487_over_ws() {
    let node = node();
    let (daemon, url) = ws_daemon("", "");
    node_scenario(
        &node,
        &daemon,
        "sipjs-call.js",
        &["--server", &url, "--scenario", "cancel"],
        &[
            "\"provisional\":[180]",
            "\"final_status\":487",
            "\"cancel_200\":true",
            "\"Terminated\"",
        ],
    );
    daemon.expect_log(&["failed", "rule=\"call-ring\"", "Canceled"]);
}

// ---------------------------------------------------------------------------
// Digest authentication (issue 17): JsSIP and SIP.js answer the challenge

/// JsSIP sends MESSAGE to sip:auth@, gets 401 and retries with alice's
/// credentials; the retry is accepted and the daemon logs who it was.
fn jssip_message_with_credentials_passes_the_challenge_over_ws() {
    let node = node();
    let daemon = Daemon::start_with(&[("ws", "")], crate::harness::daemon::AUTH);
    let url = format!("ws://{}", daemon.addr("ws"));
    let args = [
        "--server",
        &url,
        "--scenario",
        "accept",
        "--target",
        "sip:auth@interop.invalid",
        "--uri",
        "sip:alice@interop.invalid",
        "--user",
        "alice",
        "--password",
        "secret",
    ];
    node_scenario(
        &node,
        &daemon,
        "jssip-message.js",
        &args,
        &[
            "\"event\":\"succeeded\"",
            "\"status\":200",
            "< SIP/2.0 401 Unauthorized",
        ],
    );
    daemon.expect_log(&[
        "credentials accepted",
        "auth.user=\"alice\"",
        "rule=\"im-auth\"",
    ]);
}

/// A wrong password: JsSIP's retry gets 403, `failed` with cause Rejected.
fn jssip_message_with_a_wrong_password_fails_with_403_over_ws() {
    let node = node();
    let daemon = Daemon::start_with(&[("ws", "")], crate::harness::daemon::AUTH);
    let url = format!("ws://{}", daemon.addr("ws"));
    let args = [
        "--server",
        &url,
        "--scenario",
        "reject",
        "--target",
        "sip:auth@interop.invalid",
        "--uri",
        "sip:alice@interop.invalid",
        "--user",
        "alice",
        "--password",
        "guess",
        "--status",
        "403",
        "--cause",
        "Rejected",
    ];
    node_scenario(
        &node,
        &daemon,
        "jssip-message.js",
        &args,
        &["\"status\":403", "< SIP/2.0 401 Unauthorized"],
    );
    daemon.expect_log(&[
        "credentials refused",
        "reason=\"wrong_password\"",
        "auth.user=\"alice\"",
    ]);
}

/// SIP.js calls sip:auth@: 401, ACK, the INVITE again with credentials,
/// 180, 200 with the SDP answer, ACK, BYE.
fn sipjs_call_with_credentials_passes_the_challenge_over_ws() {
    let node = node();
    let daemon = Daemon::start_with(&[("ws", "")], crate::harness::daemon::AUTH);
    let url = format!("ws://{}", daemon.addr("ws"));
    let args = [
        "--server",
        &url,
        "--scenario",
        "answer",
        "--target",
        "sip:auth@interop.invalid",
        "--uri",
        "sip:alice@interop.invalid",
        "--user",
        "alice",
        "--password",
        "secret",
    ];
    node_scenario(
        &node,
        &daemon,
        "sipjs-call.js",
        &args,
        &[
            "\"final_status\":200",
            "\"bye_status\":200",
            "< SIP/2.0 401 Unauthorized",
            "> ACK ",
        ],
    );
    daemon.expect_log(&[
        "credentials accepted",
        "auth.user=\"alice\"",
        "rule=\"call-auth\"",
    ]);
}
