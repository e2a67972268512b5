//! baresip (Debian's baresip-core) over UDP and TCP, and through Kamailio
//! (Debian's kamailio) as a proxy over IPv6, against the real binary on
//! loopback (issue 15): baresip registers its own Contact and is granted
//! the expiry it asked for, its un-REGISTER removes the binding; a call
//! from baresip is answered with SDP and hung up by baresip; the same call
//! through Kamailio on [::1], whose Via for a client with `;rport` holds
//! `received=` with an IPv6 address without brackets; with `media = "echo"`
//! a call holds 40 s past baresip's RTP timeout, and without media
//! baresip hangs up at it (`media.rs`, issue 16).

mod client;
mod kamailio;
mod media;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use crate::harness::daemon::Daemon;
use crate::harness::tools::on_path;
use crate::harness::{InteropTest, Tool};
use client::{Baresip, free_port};
use kamailio::start_kamailio;

pub const TESTS: &[InteropTest] = &[
    InteropTest {
        name: "baresip::register_is_granted_its_expiry_and_unregister_removes_over_udp",
        requires: &[Tool::Baresip],
        run: register_is_granted_its_expiry_and_unregister_removes_over_udp,
    },
    InteropTest {
        name: "baresip::register_is_granted_its_expiry_and_unregister_removes_over_tcp",
        requires: &[Tool::Baresip],
        run: register_is_granted_its_expiry_and_unregister_removes_over_tcp,
    },
    InteropTest {
        name: "baresip::call_is_answered_with_sdp_and_hung_up_over_udp",
        requires: &[Tool::Baresip],
        run: call_is_answered_with_sdp_and_hung_up_over_udp,
    },
    InteropTest {
        name: "baresip::call_is_answered_with_sdp_and_hung_up_over_tcp",
        requires: &[Tool::Baresip],
        run: call_is_answered_with_sdp_and_hung_up_over_tcp,
    },
    InteropTest {
        name: "baresip::register_with_a_password_passes_the_challenge_over_udp",
        requires: &[Tool::Baresip],
        run: register_with_a_password_passes_the_challenge_over_udp,
    },
    InteropTest {
        name: "baresip::call_through_kamailio_over_ipv6",
        requires: &[Tool::Baresip, Tool::Kamailio],
        run: call_through_kamailio_over_ipv6,
    },
    InteropTest {
        name: "baresip::a_call_answered_with_echo_holds_40_s",
        requires: &[Tool::Baresip],
        run: media::a_call_answered_with_echo_holds_40_s,
    },
    InteropTest {
        name: "baresip::a_call_answered_without_media_is_hung_up_by_baresip",
        requires: &[Tool::Baresip],
        run: media::a_call_answered_without_media_is_hung_up_by_baresip,
    },
];

/// The registrar, before the harness's shared rules (which answer
/// sip:answer@ with 180, then 200 with the SDP answer, and BYE with 200).
const REGISTRAR: &str = r#"
[[rule]]
name = "registrar"
match.method = "REGISTER"
register = { min_expires = 60, max_expires = 3600 }
"#;

fn baresip() -> std::path::PathBuf {
    on_path("baresip").expect("checked by the harness")
}

/// A REGISTER query (no Contact) for `aor` over UDP: the Contact lines of
/// the 200 (the bindings, RFC 3261 §10.3 step 8).
fn query_bindings(server: SocketAddr, aor: &str) -> Vec<String> {
    let socket = UdpSocket::bind(SocketAddr::new(server.ip(), 0)).expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let port = socket.local_addr().expect("addr").port();
    let query = format!(
        "REGISTER sip:{server} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-q{port};rport\r\n\
         Max-Forwards: 70\r\nFrom: <{aor}>;tag=q{port}\r\nTo: <{aor}>\r\nCall-ID: query-{port}\r\n\
         CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
    );
    socket.send_to(query.as_bytes(), server).expect("send");
    let mut buf = vec![0u8; 65_535];
    let (len, _) = socket.recv_from(&mut buf).expect("the 200 to the query");
    let text = String::from_utf8_lossy(&buf[..len]).into_owned();
    assert!(text.starts_with("SIP/2.0 200 "), "{text}");
    text.lines()
        .filter_map(|line| line.strip_prefix("Contact: "))
        .map(str::to_owned)
        .collect()
}

/// baresip registers over `transport`: its Contact is bound with the 600 s
/// it asks for (`;expires=600` before a quoted `+sip.instance`), and the
/// un-REGISTER it sends when it quits removes the binding.
fn registers(transport: &str) {
    let binary = baresip();
    let daemon = Daemon::start_with(&[("udp", ""), ("tcp", "")], REGISTRAR);
    let server = daemon.addr(transport);
    let account = format!("<sip:alice@{server};transport={transport}>;regint=600");
    let mut baresip = Baresip::start(&binary, &account, server.ip());
    // `reginfo` shows `OK` once the 200 to the REGISTER came.
    baresip.wait_until("reginfo", |data| data.contains("OK"));
    let output = baresip.output();
    assert!(
        output.contains(";expires=600;+sip.instance=\"<urn:uuid:"),
        "baresip sends the shape this test is about:\n{output}"
    );
    let aor = format!("sip:alice@{server}");
    let bound = query_bindings(daemon.addr("udp"), &aor);
    assert_eq!(bound.len(), 1, "{bound:?}\n{output}");
    let granted: u64 = bound[0]
        .rsplit_once(";expires=")
        .and_then(|(_, s)| s.parse().ok())
        .unwrap_or_else(|| panic!("no expires in {bound:?}"));
    assert!(
        (590..=600).contains(&granted),
        "granted {granted}, asked 600"
    );
    assert!(
        bound[0].starts_with("<sip:alice-"),
        "baresip's own Contact: {bound:?}"
    );
    baresip.quit();
    let output = baresip.output();
    assert!(output.contains(";expires=0"), "the un-REGISTER:\n{output}");
    assert_eq!(
        query_bindings(daemon.addr("udp"), &aor),
        Vec::<String>::new(),
        "the un-REGISTER removed the binding\n{output}\n--- daemon log ---\n{}",
        daemon.log()
    );
}

fn register_is_granted_its_expiry_and_unregister_removes_over_udp() {
    registers("udp");
}

fn register_is_granted_its_expiry_and_unregister_removes_over_tcp() {
    registers("tcp");
}

/// baresip calls `target`: 180, then 200 with the SDP answer; baresip
/// hangs up and its BYE gets 200.
fn call(baresip: &mut Baresip, daemon: &Daemon, target: &str) {
    baresip.command("dial", target);
    let established = baresip.wait_event("CALL_ESTABLISHED");
    let answered = baresip
        .events
        .iter()
        .any(|e| e["type"] == "CALL_REMOTE_SDP" && e["param"] == "answer");
    assert!(answered, "an SDP answer came: {:?}", baresip.events);
    baresip.command("hangup", "");
    let closed = baresip.wait_event("CALL_CLOSED");
    assert_eq!(
        closed["id"],
        established["id"],
        "{:?}\n{}",
        baresip.events,
        baresip.output()
    );
    daemon.expect_log(&["accepted", "rule=\"call-answer\"", "INVITE"]);
    daemon.expect_log(&["method=\"BYE\"", "status=200"]);
}

fn calls(transport: &str) {
    let binary = baresip();
    let daemon = Daemon::start(&[(transport, "")]);
    let server = daemon.addr(transport);
    let account = format!("<sip:alice@{server};transport={transport}>;regint=0");
    let mut baresip = Baresip::start(&binary, &account, server.ip());
    call(
        &mut baresip,
        &daemon,
        &format!("sip:answer@{server};transport={transport}"),
    );
    assert!(
        baresip.output().contains("m=audio 40000 RTP/AVP 0"),
        "{}",
        baresip.output()
    );
}

fn call_is_answered_with_sdp_and_hung_up_over_udp() {
    calls("udp");
}

fn call_is_answered_with_sdp_and_hung_up_over_tcp() {
    calls("tcp");
}

/// RFC 5118 §4.5 in the field: baresip calls through Kamailio over IPv6;
/// the INVITE reaches the daemon with `received=::1` in baresip's Via
/// (a 400 "malformed Via header" before issue 15), is answered with SDP,
/// and baresip hangs up through Kamailio.
fn call_through_kamailio_over_ipv6() {
    let baresip_binary = baresip();
    let kamailio_binary = on_path("kamailio").expect("checked by the harness");
    UdpSocket::bind("[::1]:0").expect("this test needs the IPv6 loopback, [::1]");
    let daemon = Daemon::start(&[("udp", "address = \"[::1]:0\"")]);
    let loopback = IpAddr::from(std::net::Ipv6Addr::LOCALHOST);
    let proxy = SocketAddr::new(loopback, free_port(loopback));
    let kamailio = start_kamailio(&kamailio_binary, proxy, daemon.addr("udp"));
    let account = format!("<sip:alice@{proxy};transport=udp>;regint=0");
    let mut baresip = Baresip::start(&baresip_binary, &account, loopback);
    call(&mut baresip, &daemon, &format!("sip:answer@{proxy}"));
    let output = baresip.output();
    assert!(
        output.contains(";received=::1"),
        "Kamailio's Via form reached the daemon and came back:\n{output}\n--- kamailio ---\n{}",
        kamailio.log()
    );
    assert!(!daemon.log().contains("malformed"), "{}", daemon.log());
}

/// baresip registers to a registrar that requires credentials (issue 17):
/// the REGISTER gets 401, baresip answers with `auth_pass` and is bound;
/// the daemon logs who authenticated. A wrong password leaves it unbound
/// (403), and its account shows the failure.
fn register_with_a_password_passes_the_challenge_over_udp() {
    let binary = baresip();
    let daemon = Daemon::start_with(&[("udp", "")], crate::harness::daemon::AUTH);
    let server = daemon.addr("udp");
    let account = format!("<sip:alice@{server};transport=udp>;auth_pass=secret;regint=600");
    let mut baresip = Baresip::start(&binary, &account, server.ip());
    baresip.wait_until("reginfo", |data| data.contains("OK"));
    daemon.expect_log(&[
        "credentials accepted",
        "auth.user=\"alice\"",
        "rule=\"registrar-auth\"",
    ]);
    daemon.expect_log(&["challenged", "method=\"REGISTER\"", "status=401"]);
    baresip.quit();

    let account = format!("<sip:alice@{server};transport=udp>;auth_pass=guess;regint=600");
    let mut wrong = Baresip::start(&binary, &account, server.ip());
    wrong.wait_until("reginfo", |data| {
        data.contains("403") || data.contains("ERR")
    });
    daemon.expect_log(&["credentials refused", "reason=\"wrong_password\""]);
    wrong.quit();
}
