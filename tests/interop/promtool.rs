//! Prometheus's own linter on the admin listener's `/metrics`: after
//! traffic of every kind the metrics describe (an answered OPTIONS, a busy
//! INVITE and its ACK, a stray BYE the transaction layer answers, a
//! malformed request, an auto-reply MESSAGE the daemon sends),
//! `promtool check metrics` accepts the exposition, with no lint.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::daemon::Daemon;
use crate::harness::{InteropTest, Tool};

pub const TESTS: &[InteropTest] = &[InteropTest {
    name: "promtool::promtool_accepts_the_metrics",
    requires: &[Tool::Promtool],
    run: promtool_accepts_the_metrics,
}];

const WAIT: Duration = Duration::from_secs(5);

fn promtool_accepts_the_metrics() {
    let daemon = Daemon::start_with(&[("udp", "")], "\n[admin]\naddress = \"127.0.0.1:0\"\n");
    daemon.expect_log(&["admin listener on http://"]);
    let admin = admin_address(&daemon.log());
    let client = UdpSocket::bind("127.0.0.1:0").expect("bind");
    client.set_read_timeout(Some(WAIT)).expect("timeout");
    let sip = daemon.addr("udp");
    let local = client.local_addr().expect("local");
    let request = |method: &str, uri: &str, call_id: &str, extra: &str| {
        format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{call_id}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:p@127.0.0.1>;tag=p1\r\nTo: <{uri}>{extra}\r\n\
             Call-ID: {call_id}\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let exchange = |message: &str| {
        client.send_to(message.as_bytes(), sip).expect("send");
        let mut buf = [0u8; 8192];
        let (n, _) = client.recv_from(&mut buf).expect("an answer");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert!(
        exchange(&request(
            "OPTIONS",
            "sip:options@127.0.0.1",
            "prom-options",
            ""
        ))
        .starts_with("SIP/2.0 200")
    );
    let busy = exchange(&request("INVITE", "sip:busy@127.0.0.1", "prom-busy", ""));
    assert!(busy.starts_with("SIP/2.0 486"), "{busy}");
    let tag = busy
        .split("\r\n")
        .find(|l| l.starts_with("To:"))
        .and_then(|to| to.split("tag=").nth(1))
        .unwrap_or("x")
        .to_owned();
    let ack = request(
        "ACK",
        "sip:busy@127.0.0.1",
        "prom-busy",
        &format!(";tag={tag}"),
    );
    client.send_to(ack.as_bytes(), sip).expect("ACK");
    let stray = request("BYE", "sip:nobody@127.0.0.1", "prom-stray", ";tag=none");
    assert!(exchange(&stray).starts_with("SIP/2.0 481"));
    let malformed = request("OPTIONS", "sip:options@127.0.0.1", "prom-bad", "")
        .replace("Call-ID: prom-bad\r\n", "");
    assert!(exchange(&malformed).starts_with("SIP/2.0 400"));
    assert!(
        exchange(&request("MESSAGE", "sip:echo@127.0.0.1", "prom-im", ""))
            .starts_with("SIP/2.0 200")
    );
    // The auto-reply MESSAGE comes to us; answering it ends its transaction.
    let mut buf = [0u8; 8192];
    let (n, from) = client.recv_from(&mut buf).expect("the auto-reply");
    let auto = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(auto.starts_with("MESSAGE "), "{auto}");
    client
        .send_to(response_to(&auto).as_bytes(), from)
        .expect("answer");

    let metrics = http_get(admin, "/metrics");
    for family in [
        "requests_total",
        "requests_sent_total",
        "responses_total",
        "events_total",
        "parse_errors_total",
    ] {
        assert!(
            metrics.contains(&format!("# HELP sip_autoresponder_{family} ")),
            "{family}:\n{metrics}"
        );
    }
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn promtool");
    promtool
        .stdin
        .take()
        .expect("stdin")
        .write_all(metrics.as_bytes())
        .expect("write metrics");
    let output = promtool.wait_with_output().expect("promtool");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "promtool check metrics: {said}\n{metrics}"
    );
    assert!(
        said.trim().is_empty(),
        "promtool has lints: {said}\n{metrics}"
    );
}

/// 200 OK to a request, copying Via, From, To (with a tag), Call-ID, CSeq.
fn response_to(request: &str) -> String {
    let mut out = String::from("SIP/2.0 200 OK\r\n");
    for line in request.split("\r\n").skip(1) {
        let name = line.split(':').next().unwrap_or("");
        if ["Via", "From", "Call-ID", "CSeq"].contains(&name) {
            out.push_str(line);
            out.push_str("\r\n");
        } else if name == "To" {
            out.push_str(line);
            out.push_str(";tag=prom\r\n");
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

/// The address of `admin listener on http://ADDRESS` in the log.
fn admin_address(log: &str) -> SocketAddr {
    log.lines()
        .find_map(|l| {
            l.split_once("admin listener on http://")?
                .1
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no admin listener in the log:\n{log}"))
}

/// The body of `GET target` (HTTP/1.0: the server closes after it).
fn http_get(address: SocketAddr, target: &str) -> String {
    let mut stream = TcpStream::connect_timeout(&address, WAIT).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    write!(
        stream,
        "GET {target} HTTP/1.0\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    assert!(
        response.starts_with("HTTP/1.") && response.contains(" 200 "),
        "{response}"
    );
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}
