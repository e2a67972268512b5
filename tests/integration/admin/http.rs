//! A hand-written HTTP/1.1 client and the helpers the admin tests share: a
//! daemon with `[admin]`, journal polling and Prometheus series.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::common::*;

pub(super) const RULES: &str = r#"
[[rule]]
name = "ping"
match.method = "OPTIONS"
accept = {}

[[rule]]
name = "busy"
match.method = "INVITE"
progress = [{ status = 180 }]
reject = { status = 486, delay_ms = 50 }

[[rule]]
name = "im"
match.method = "MESSAGE"
accept = { status = 202 }

[[rule]]
name = "registrar"
match.method = "REGISTER"
register = { min_expires = 60, max_expires = 600 }
"#;

/// A daemon with the admin listener on an ephemeral loopback port.
pub(super) fn daemon(token: Option<&str>) -> TestDaemon {
    let token = token.map_or(String::new(), |t| format!("token = \"{t}\"\n"));
    TestDaemon::start(&config_with(&format!(
        "[admin]\naddress = \"127.0.0.1:0\"\njournal_size = 50\n{token}\n{RULES}"
    )))
}

/// An HTTP response as the test parses it.
#[derive(Debug)]
pub(crate) struct Http {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Http {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> Value {
        assert_eq!(self.status, 200, "body: {}", self.body);
        assert_eq!(self.header("Content-Type"), Some("application/json"));
        serde_json::from_str(&self.body).expect("the body is JSON")
    }
}

/// One request on a fresh connection (`Connection: close`); `headers` are
/// whole lines without CRLF.
pub(crate) async fn http(admin: SocketAddr, method: &str, target: &str, headers: &[&str]) -> Http {
    send(admin, method, target, headers, None).await
}

/// One request with `body` (its Content-Length added).
pub(crate) async fn http_body(
    admin: SocketAddr,
    method: &str,
    target: &str,
    headers: &[&str],
    body: &str,
) -> Http {
    send(admin, method, target, headers, Some(body)).await
}

/// A JSON body's value, whatever the status.
pub(crate) fn value(reply: &Http) -> Value {
    serde_json::from_str(&reply.body)
        .unwrap_or_else(|_| panic!("a JSON body ({}): {}", reply.status, reply.body))
}

async fn send(
    admin: SocketAddr,
    method: &str,
    target: &str,
    headers: &[&str],
    body: Option<&str>,
) -> Http {
    let mut stream = TcpStream::connect(admin)
        .await
        .expect("connect to the admin listener");
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n");
    for line in headers {
        head.push_str(line);
        head.push_str("\r\n");
    }
    if let Some(body) = body {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    head.push_str(body.unwrap_or(""));
    stream
        .write_all(head.as_bytes())
        .await
        .expect("send the request");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut raw))
        .await
        .expect("the admin listener answers and closes")
        .expect("read the response");
    let raw = String::from_utf8(raw).expect("the response is UTF-8");
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .expect("a blank line ends the head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("a status line");
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line `{status_line}`"));
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').expect("`Name: value`");
            (name.to_owned(), value.trim().to_owned())
        })
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
        .map(|(_, v)| v.parse::<usize>().expect("numeric Content-Length"));
    if let Some(length) = length.filter(|_| method != "HEAD") {
        assert_eq!(body.len(), length, "the body has its Content-Length");
    }
    Http {
        status,
        headers,
        body: body.to_owned(),
    }
}

pub(crate) async fn get(admin: SocketAddr, target: &str) -> Http {
    http(admin, "GET", target, &[]).await
}

/// The journal records for `query`, polled until `done` holds of them (the
/// journal is written while the responses are sent).
pub(crate) async fn records_where(
    admin: SocketAddr,
    query: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + REPLY_WAIT;
    loop {
        let list = get(admin, &format!("/requests{query}")).await.json();
        let list = list.as_array().expect("a JSON array").clone();
        if done(&list) {
            return list;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "records for `{query}`: {list:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Exactly `count` records for `query`, each with at least `responses`
/// responses.
pub(crate) async fn records(
    admin: SocketAddr,
    query: &str,
    count: usize,
    responses: usize,
) -> Vec<Value> {
    records_where(admin, query, |list| {
        list.len() == count
            && list.iter().all(|r| {
                r["responses"]
                    .as_array()
                    .is_some_and(|a| a.len() >= responses)
            })
    })
    .await
}

/// The value of one series (`name{labels}`) in a Prometheus exposition.
pub(crate) fn series(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .map_or(0.0, |value| value.trim().parse().expect("a number"))
}

pub(crate) fn statuses(record: &Value) -> Vec<u64> {
    record["responses"]
        .as_array()
        .expect("responses")
        .iter()
        .filter_map(|r| r["status"].as_u64())
        .filter(|s| *s != 100)
        .collect()
}
