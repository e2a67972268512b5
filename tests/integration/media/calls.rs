//! Calls for the media tests: a daemon with `[media]` on its own port range
//! (ranges below the ephemeral ports, one per test), an INVITE whose offer
//! names the test's media socket, the answer's port, ACK and BYE.

use std::sync::atomic::{AtomicU16, Ordering};

use super::rtp::{Media, answered, offer};
use crate::common::{Response, TestDaemon, UdpClient, in_dialog, request};

/// The next test's port range: 10 pairs, from 21000 on.
pub(super) fn port_range() -> (u16, u16) {
    static NEXT: AtomicU16 = AtomicU16::new(21_000);
    let first = NEXT.fetch_add(20, Ordering::Relaxed);
    (first, first + 19)
}

/// A daemon on UDP 127.0.0.1 (or `[::1]`) with `[media]` (`media` lines
/// added to it) and `rules`.
pub(super) fn daemon(listen: &str, media: &str, rules: &str) -> (TestDaemon, (u16, u16)) {
    daemon_sized(listen, 10, media, rules)
}

/// [`daemon`] with only `pairs` port pairs.
pub(super) fn daemon_sized(
    listen: &str,
    pairs: u16,
    media: &str,
    rules: &str,
) -> (TestDaemon, (u16, u16)) {
    let (first, _) = port_range();
    let range = (first, first + 2 * pairs - 1);
    let config = format!(
        "[server]\nforce_rport = true\n\n[[listen]]\ntransport = \"udp\"\naddress = \"{listen}\"\n\n\
         [media]\nport_range = \"{}-{}\"\n{media}\n\n{rules}",
        range.0, range.1
    );
    (TestDaemon::start(&config), range)
}

/// One rule answering INVITEs 200 with an SDP answer and `media`, then
/// 200 for in-dialog requests.
pub(super) fn answer_with(media: &str) -> String {
    format!(
        "[[rule]]\nname = \"media\"\nmatch.method = \"INVITE\"\n\
         accept = {{ body.sdp = \"answer\", media = {media} }}\n\n\
         [[rule]]\nname = \"in-dialog\"\nmatch.method = [\"BYE\", \"INFO\", \"UPDATE\"]\naccept = {{}}\n"
    )
}

pub(super) fn invite(call_id: &str, sdp: &str) -> String {
    request(
        "INVITE",
        "sip:echo@example.com",
        call_id,
        "Contact: <sip:alice@127.0.0.1:5999>\r\nContent-Type: application/sdp\r\n",
        sdp,
    )
}

/// A call answered with media: the 200, its To-tag, and `media` pointed
/// at the answer's address. The 200 is ACKed.
pub(super) struct Call {
    pub(super) client: UdpClient,
    pub(super) call_id: String,
    pub(super) tag: String,
    pub(super) answer: Response,
    pub(super) port: u16,
    pub(super) cseq: u32,
}

impl Call {
    /// Calls with an offer for `media`'s socket (`formats`, `extra` lines).
    pub(super) async fn start(
        daemon: &TestDaemon,
        call_id: &str,
        media: &mut Media,
        formats: &str,
        extra: &str,
    ) -> Self {
        let ip = media.socket.local_addr().expect("local").ip().to_string();
        let sdp = offer(&ip, media.port(), formats, extra);
        Self::start_with(daemon, call_id, media, &sdp).await
    }

    pub(super) async fn start_with(
        daemon: &TestDaemon,
        call_id: &str,
        media: &mut Media,
        sdp: &str,
    ) -> Self {
        let client = UdpClient::new(daemon.udp()).await;
        let answer = client.request(&invite(call_id, sdp)).await;
        assert_eq!(answer.status, 200, "{}", answer.raw);
        let tag = answer.to_tag().expect("To-tag");
        let (address, port) = answered(&answer.body);
        media.remote = Some(std::net::SocketAddr::new(address, port));
        let call = Self {
            client,
            call_id: call_id.to_owned(),
            tag,
            answer,
            port,
            cseq: 1,
        };
        call.client
            .send(&in_dialog(
                "ACK",
                call_id,
                &call.tag,
                1,
                &format!("{call_id}-ack"),
            ))
            .await;
        call
    }

    /// An in-dialog request from the caller, with a body; its response.
    pub(super) async fn request(
        &mut self,
        method: &str,
        content_type: &str,
        body: &str,
    ) -> Response {
        self.cseq += 1;
        let branch = format!("{}-{}", self.call_id, self.cseq);
        let plain = in_dialog(method, &self.call_id, &self.tag, self.cseq, &branch);
        let message = if body.is_empty() {
            plain
        } else {
            plain.replace(
                "Content-Length: 0\r\n",
                &format!(
                    "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
                    body.len()
                ),
            ) + body
        };
        self.client.request(&message).await
    }

    /// A re-INVITE with `sdp`, ACKed; its 200.
    pub(super) async fn reinvite(&mut self, sdp: &str) -> Response {
        let response = self.request("INVITE", "application/sdp", sdp).await;
        assert_eq!(response.status, 200, "{}", response.raw);
        let ack = in_dialog(
            "ACK",
            &self.call_id,
            &self.tag,
            self.cseq,
            &format!("{}-ack{}", self.call_id, self.cseq),
        );
        self.client.send(&ack).await;
        response
    }

    pub(super) async fn bye(&mut self) {
        assert_eq!(self.request("BYE", "", "").await.status, 200);
    }
}
