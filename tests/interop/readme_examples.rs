//! The README's "Using it from a test suite" examples, run as written
//! against the real binary (only the addresses are changed to the ports it
//! bound): the curl one with bash and curl, the call in its middle made
//! here, and the Python one with python3's standard library.

use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::daemon::Daemon;
use crate::harness::{InteropTest, Tool};

pub const TESTS: &[InteropTest] = &[
    InteropTest {
        name: "readme::the_curl_example_runs",
        requires: &[Tool::Program {
            program: "curl",
            package: "curl",
        }],
        run: the_curl_example_runs,
    },
    InteropTest {
        name: "readme::the_python_example_runs",
        requires: &[Tool::Program {
            program: "python3",
            package: "python3",
        }],
        run: the_python_example_runs,
    },
];

const README: &str = include_str!("../../README.md");
/// Where the README's examples say the daemon is.
const ADMIN_IN_README: &str = "http://127.0.0.1:9060";
const SIP_IN_README: &str = "(\"127.0.0.1\", 5060)";
/// The line of the curl example where the client under test calls.
const THE_CALL: &str = "# … the client under test calls";

/// The first fenced block of `language` in the README's section `title`.
fn example(title: &str, language: &str) -> String {
    let section = README
        .split(&format!("\n## {title}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("no README section {title}"));
    let section = section.split("\n## ").next().unwrap_or(section);
    section
        .split(&format!("```{language}\n"))
        .nth(1)
        .and_then(|block| block.split("\n```").next())
        .unwrap_or_else(|| panic!("no {language} block in README section {title}"))
        .to_owned()
}

/// A daemon with the admin listener, and its admin address.
fn daemon() -> (Daemon, SocketAddr) {
    let daemon = Daemon::start_with(&[("udp", "")], "\n[admin]\naddress = \"127.0.0.1:0\"\n");
    daemon.expect_log(&["admin listener on http://"]);
    let admin = daemon
        .log()
        .lines()
        .find_map(|l| {
            l.split_once("admin listener on http://")?
                .1
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .expect("the admin address");
    (daemon, admin)
}

fn bash(script: &str) -> String {
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .stdin(Stdio::null())
        .output()
        .expect("run bash");
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{script}\nfailed: {out}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

fn the_curl_example_runs() {
    let (daemon, admin) = daemon();
    let script = example("Using it from a test suite", "sh")
        .replace(ADMIN_IN_README, &format!("http://{admin}"));
    let (set_up, rest) = script
        .split_once(THE_CALL)
        .expect("the call's place in the example");
    let rest = rest.split_once('\n').map_or("", |(_, rest)| rest);
    let admin_line = script.lines().next().unwrap_or_default();
    bash(set_up);
    // The client under test: an INVITE of scope t1, acknowledged.
    let phone = UdpSocket::bind("127.0.0.1:0").expect("bind");
    phone
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let local = phone.local_addr().expect("local");
    let invite = |method: &str, to_tag: &str| {
        format!(
            "{method} sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-readme;rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a\r\nTo: <sip:bob@127.0.0.1>{to_tag}\r\n\
             Call-ID: readme-call\r\nCSeq: 1 {method}\r\nX-Test-Id: t1\r\nContent-Length: 0\r\n\r\n"
        )
    };
    phone
        .send_to(invite("INVITE", "").as_bytes(), daemon.addr("udp"))
        .expect("send");
    let mut buf = [0u8; 65535];
    let (n, _) = phone.recv_from(&mut buf).expect("an answer");
    let busy = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(busy.starts_with("SIP/2.0 486"), "{busy}");
    let tag = busy
        .split("\r\n")
        .find(|line| line.starts_with("To:"))
        .and_then(|to| to.split("tag=").nth(1))
        .unwrap_or("");
    phone
        .send_to(
            invite("ACK", &format!(";tag={tag}")).as_bytes(),
            daemon.addr("udp"),
        )
        .expect("ACK");
    let said = bash(&format!("{admin_line}\n{rest}"));
    assert!(said.contains("{\"count\":1}"), "{said}");
    assert!(!said.contains("no ACK"), "{said}");
}

fn the_python_example_runs() {
    let (daemon, admin) = daemon();
    let program = example("Using it from a test suite", "python")
        .replace(ADMIN_IN_README, &format!("http://{admin}"))
        .replace(
            SIP_IN_README,
            &format!("(\"127.0.0.1\", {})", daemon.addr("udp").port()),
        );
    let output = Command::new("python3")
        .args([
            "-c",
            &format!("{program}\ntest_busy_line()\nprint('passed')\n"),
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run python3");
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && out.contains("passed"),
        "{program}\n{out}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
