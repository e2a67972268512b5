//! Who and what the admin listener serves: routes and methods, the bearer
//! token, the registrar's bindings, broken clients and the connection limit.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::http::*;
use crate::common::*;

#[tokio::test]
async fn unknown_paths_and_methods_are_refused() {
    let daemon = daemon(None);
    let admin = daemon.admin();
    assert_eq!(get(admin, "/nope").await.status, 404);
    assert_eq!(get(admin, "/requests/").await.status, 404);
    let reply = http(admin, "POST", "/requests", &["Content-Length: 2"]).await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("Allow"), Some("GET, HEAD, DELETE"));
    let reply = http(admin, "DELETE", "/metrics", &[]).await;
    assert_eq!(
        (reply.status, reply.header("Allow")),
        (405, Some("GET, HEAD"))
    );
}

#[tokio::test]
async fn the_token_guards_everything_but_health() {
    let daemon = daemon(Some("s3cret-T0ken"));
    let admin = daemon.admin();
    for target in ["/requests", "/metrics", "/registrations", "/nope"] {
        let reply = get(admin, target).await;
        assert_eq!(reply.status, 401, "{target} without a token");
        assert_eq!(reply.header("WWW-Authenticate"), Some("Bearer"));
        let wrong = http(admin, "GET", target, &["Authorization: Bearer s3cret-T0ke"]).await;
        assert_eq!(wrong.status, 401, "{target} with a wrong token");
        assert!(
            wrong
                .header("WWW-Authenticate")
                .is_some_and(|c| c.starts_with("Bearer"))
        );
        let basic = http(
            admin,
            "GET",
            target,
            &["Authorization: Basic czNjcmV0LVQwa2Vu"],
        )
        .await;
        assert_eq!(basic.status, 401, "{target} with another scheme");
    }
    let bearer = ["Authorization: Bearer s3cret-T0ken"];
    assert_eq!(http(admin, "GET", "/requests", &bearer).await.status, 200);
    assert_eq!(http(admin, "GET", "/metrics", &bearer).await.status, 200);
    assert_eq!(
        http(
            admin,
            "GET",
            "/requests",
            &["authorization: bearer s3cret-T0ken"]
        )
        .await
        .status,
        200
    );
    assert_eq!(
        http(
            admin,
            "DELETE",
            "/requests",
            &["Authorization: Bearer wrong"]
        )
        .await
        .status,
        401
    );
    assert_eq!(
        http(admin, "DELETE", "/requests", &bearer).await.status,
        204
    );
    assert_eq!(http(admin, "GET", "/nope", &bearer).await.status, 404);
    let health = get(admin, "/health").await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
}

#[tokio::test]
async fn registrations_list_live_bindings() {
    let daemon = daemon(None);
    let admin = daemon.admin();
    assert_eq!(
        get(admin, "/registrations").await.json(),
        Value::Array(Vec::new())
    );
    let client = UdpClient::new(daemon.udp()).await;
    let register = request(
        "REGISTER",
        "sip:example.com",
        "admin-reg",
        "Contact: <sip:carol@127.0.0.1:5070>;expires=120\r\n",
        "",
    )
    .replace("To: <sip:example.com>", "To: <sip:carol@example.com>");
    assert_eq!(client.request(&register).await.status, 200);
    let list = get(admin, "/registrations").await.json();
    let list = list.as_array().expect("a JSON array");
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["aor"], "sip:carol@example.com");
    assert_eq!(list[0]["contact"], "sip:carol@127.0.0.1:5070");
    let left = list[0]["expires"].as_u64().expect("seconds left");
    assert!((110..=120).contains(&left), "{left}");
}

#[tokio::test]
async fn a_slow_or_broken_client_does_not_stop_the_listener() {
    let daemon = daemon(None);
    let admin = daemon.admin();
    // A connection that sends garbage and one that sends half a head.
    let mut garbage = TcpStream::connect(admin).await.expect("connect");
    garbage
        .write_all(b"\x00\x01 not http\r\n\r\n")
        .await
        .expect("send");
    let mut idle = TcpStream::connect(admin).await.expect("connect");
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("send");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), garbage.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the broken connection is closed");
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // Others are still served.
    assert_eq!(get(admin, "/health").await.status, 200);
    drop(idle);
}

#[tokio::test]
async fn connections_beyond_the_limit_are_closed_at_once() {
    use sip_autoresponder::admin::slots::TOTAL;
    let daemon = daemon(None);
    let admin = daemon.admin();
    let mut open = Vec::new();
    for _ in 0..TOTAL {
        open.push(TcpStream::connect(admin).await.expect("connect"));
    }
    // Served connections are counted once accepted: a request on the last
    // one proves they all are.
    let last = open.last_mut().expect("TOTAL connections");
    last.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("send");
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(REPLY_WAIT, last.read(&mut buf))
        .await
        .expect("an answer")
        .expect("read");
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );

    let mut refused = TcpStream::connect(admin)
        .await
        .expect("the kernel still accepts");
    let _ = refused
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(REPLY_WAIT, refused.read_to_end(&mut answer)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the connection past {TOTAL} is closed unanswered: {answer:?}"
    );

    drop(open);
    let deadline = tokio::time::Instant::now() + REPLY_WAIT;
    loop {
        let mut stream = TcpStream::connect(admin).await.expect("connect");
        let _ = stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(REPLY_WAIT, stream.read_to_end(&mut answer)).await;
        if answer.starts_with(b"HTTP/1.1 200") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "served again once the others closed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
