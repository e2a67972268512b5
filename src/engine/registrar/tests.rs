//! Tests of the registrar: dates, the total bound, all-or-nothing updates,
//! RFC 5626 keys and expiry without traffic (tokio's paused clock).

use std::time::Duration;

use super::*;
use crate::sip::{Limits, parse_datagram};

fn policy() -> RegisterPolicy {
    RegisterPolicy {
        min_expires: 60,
        max_expires: 3600,
        default_expires: 3600,
        max_contacts: 3,
        replace_oldest: false,
        owners: std::sync::Arc::default(),
    }
}

/// A UDP flow on loopback (the registrar only stores it).
async fn flow() -> Flow {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let local = socket.local_addr().expect("address");
    Flow::udp(Arc::new(socket), local, local)
}

fn register(user: &str, contacts: &str) -> Request {
    let text = format!(
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK-{user}\r\n\
         From: <sip:{user}@example.com>;tag=1\r\nTo: <sip:{user}@example.com>\r\n\
         Call-ID: {user}\r\nCSeq: 1 REGISTER\r\n{contacts}\r\n"
    );
    let message = parse_datagram(text.as_bytes(), &Limits::default()).expect("parses");
    Request::validate(message).expect("valid")
}

fn contacts(answer: &RegisterAnswer) -> Vec<String> {
    String::from_utf8_lossy(&answer.headers)
        .lines()
        .filter_map(|l| l.strip_prefix("Contact: "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn dates_are_rfc1123() {
    assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_eq!(http_date(1_795_000_000), "Wed, 18 Nov 2026 11:06:40 GMT");
}

/// The total bound: new bindings past it get 503 with Retry-After; a
/// refresh or removal still works, and the count is kept exactly.
#[tokio::test(start_paused = true)]
async fn the_total_bound_refuses_new_bindings_only() {
    let registrar = Registrar::default();
    let registrar = Registrar {
        shared: Arc::new(Shared {
            max_bindings: 2,
            ..Shared::default()
        }),
        ..registrar
    };
    let flow = flow().await;
    for user in ["a", "b"] {
        let answer =
            registrar.register(&register(user, "Contact: <sip:x@h>\r\n"), &policy(), &flow);
        assert_eq!(answer.status, 200);
    }
    let refused = registrar.register(&register("c", "Contact: <sip:x@h>\r\n"), &policy(), &flow);
    assert_eq!(
        (refused.status, refused.headers.as_slice()),
        (503, &b"Retry-After: 60\r\n"[..])
    );
    let refresh = registrar.register(
        &register("a", "Contact: <sip:x@h>;expires=120\r\n"),
        &policy(),
        &flow,
    );
    assert_eq!(contacts(&refresh), ["<sip:x@h>;expires=120"]);
    let removal = registrar.register(
        &register("b", "Contact: <sip:x@h>;expires=0\r\n"),
        &policy(),
        &flow,
    );
    assert_eq!((removal.status, registrar.len()), (200, 1));
    let now_fits = registrar.register(&register("c", "Contact: <sip:x@h>\r\n"), &policy(), &flow);
    assert_eq!((now_fits.status, registrar.len()), (200, 2));
}

/// §10.3 step 7: one contact refused (423) and nothing changes.
#[tokio::test(start_paused = true)]
async fn a_register_applies_all_or_nothing() {
    let registrar = Registrar::default();
    let flow = flow().await;
    let answer = registrar.register(
        &register("a", "Contact: <sip:one@h>, <sip:two@h>;expires=10\r\n"),
        &policy(),
        &flow,
    );
    assert_eq!(answer.status, 423);
    assert!(registrar.is_empty());
}

/// RFC 5626 §6: the same instance and reg-id replace each other whatever
/// the URI; another reg-id is another binding; without an instance the URI
/// decides.
#[tokio::test(start_paused = true)]
async fn instance_and_reg_id_name_the_binding() {
    let registrar = Registrar::default();
    let flow = flow().await;
    let instance = "+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"";
    let first = format!("Contact: <sip:l@192.0.2.1:40001;transport=tcp>;{instance};reg-id=1\r\n");
    let moved = format!("Contact: <sip:l@192.0.2.1:40002;transport=tcp>;{instance};reg-id=1\r\n");
    let second = format!("Contact: <sip:l@192.0.2.1:40003;transport=tcp>;{instance};reg-id=2\r\n");
    for contact in [&first, &moved] {
        registrar.register(&register("l", contact), &policy(), &flow);
    }
    let answer = registrar.register(&register("l", &second), &policy(), &flow);
    assert_eq!(
        contacts(&answer),
        [
            "<sip:l@192.0.2.1:40002;transport=tcp>;expires=3600",
            "<sip:l@192.0.2.1:40003;transport=tcp>;expires=3600"
        ]
    );
    let gone = registrar.register(
        &register("l", &moved.replace("reg-id=1", "reg-id=1;expires=0")),
        &policy(),
        &flow,
    );
    assert_eq!(contacts(&gone).len(), 1);
}

/// Expiry is owned: a binding goes when it expires, with no request to
/// trigger it.
#[tokio::test(start_paused = true)]
async fn bindings_expire_without_traffic() {
    let registrar = Registrar::default();
    let flow = flow().await;
    registrar.register(
        &register("a", "Contact: <sip:x@h>;expires=60\r\n"),
        &policy(),
        &flow,
    );
    registrar.register(
        &register("b", "Contact: <sip:y@h>;expires=300\r\n"),
        &policy(),
        &flow,
    );
    assert_eq!(registrar.len(), 2);
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(registrar.len(), 1, "the 60 s binding was removed");
    // A shorter binding added while the task sleeps for a longer one.
    registrar.register(
        &register("c", "Contact: <sip:z@h>;expires=60\r\n"),
        &policy(),
        &flow,
    );
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(registrar.len(), 1, "the reaper woke for the sooner expiry");
    assert_eq!(registrar.list().len(), 1);
}
