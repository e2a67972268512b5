//! UDP input read in batches and answers sent in batches: a burst loses
//! nothing, and the answers to one request keep their order.

use std::collections::HashMap;

use tokio::net::UdpSocket;

use crate::common::*;

const RULES: &str = r#"
[[rule]]
name = "options"
match.method = "OPTIONS"
accept = {}

[[rule]]
name = "ring-answer"
match.method = "INVITE"
progress = [{ status = 180 }]
accept = {}
"#;

/// A client socket with room for the whole burst's answers, so nothing the
/// daemon sent is lost before the test reads it.
fn roomy_client() -> UdpSocket {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).expect("socket");
    socket.set_recv_buffer_size(8 << 20).expect("rcvbuf");
    socket
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .expect("addr")
                .into(),
        )
        .expect("bind");
    socket.set_nonblocking(true).expect("nonblocking");
    UdpSocket::from_std(socket.into()).expect("tokio socket")
}

#[tokio::test]
async fn a_burst_of_datagrams_is_answered_whole_and_in_order() {
    let daemon = TestDaemon::start(&config_with(RULES));
    let server = daemon.udp();
    let client = roomy_client();
    // 240 OPTIONS and 16 INVITEs, sent back to back before anything is
    // read: the daemon reads them several to a system call.
    let mut sent = Vec::new();
    for n in 0..256 {
        let (call_id, message) = if n % 16 == 0 {
            let call_id = format!("burst-invite-{n}");
            let invite = request("INVITE", "sip:ring@example.com", &call_id, "", "");
            (call_id, invite)
        } else {
            let call_id = format!("burst-options-{n}");
            let options = options(&call_id);
            (call_id, options)
        };
        client
            .send_to(message.as_bytes(), server)
            .await
            .expect("send");
        sent.push(call_id);
    }
    let mut statuses: HashMap<String, Vec<u16>> = HashMap::new();
    let mut buf = vec![0u8; 65_535];
    let expected = 240 + 16 * 2;
    let mut received = 0;
    while received < expected {
        let Ok(Ok(len)) = tokio::time::timeout(REPLY_WAIT, client.recv(&mut buf)).await else {
            break;
        };
        let response = Response::parse(&buf[..len]);
        let call_id = response.header("Call-ID").unwrap_or_default().to_owned();
        statuses.entry(call_id).or_default().push(response.status);
        if response.status >= 180 {
            received += 1;
        }
    }
    for call_id in &sent {
        let got: Vec<u16> = statuses
            .get(call_id)
            .map(|s| s.iter().copied().filter(|&s| s != 100).collect())
            .unwrap_or_default();
        let want: &[u16] = if call_id.contains("invite") {
            &[180, 200]
        } else {
            &[200]
        };
        assert_eq!(got, want, "answers to {call_id}");
    }
}
