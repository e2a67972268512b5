//! Capture for VoIP tooling: every SIP message the transports receive and
//! send, exported as HEP v3 to a Homer collector (`[capture] hep`). The
//! transports call [`Capture::record`] where bytes enter and leave; it
//! copies the message into a bounded queue and returns at once (a full
//! queue drops the copy and counts it), so the SIP path never waits for
//! the collector. Without `[capture]` no `Capture` exists and the
//! transports do nothing per message.

pub mod hep;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::SystemTime;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::warn;

use crate::ratelog::LogLimiter;
use crate::sip::Transport;

/// Messages waiting for the exporter, at most.
const QUEUE_MESSAGES: usize = 4096;
/// Bytes of messages waiting for the exporter, at most.
const QUEUE_BYTES: usize = 8 * 1024 * 1024;

static DROP_LOG: LogLimiter = LogLimiter::new(10_000);

/// `[capture]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureSettings {
    /// The Homer collector (HEP over UDP).
    pub hep: SocketAddr,
    /// The capture agent id HEP carries (Homer's "node").
    pub node_id: u32,
    /// HEP auth key, when the collector wants one.
    pub password: Option<String>,
}

/// Whether the responder received or sent a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Received,
    Sent,
}

/// One message waiting for export.
#[derive(Debug)]
struct Captured {
    direction: Direction,
    transport: Transport,
    local: SocketAddr,
    peer: SocketAddr,
    time: SystemTime,
    payload: Bytes,
}

/// The capture tap: shared by every listener and flow while `[capture]`
/// is set; the exporter task ends when the last handle goes.
#[derive(Debug)]
pub struct Capture {
    queue: mpsc::Sender<Captured>,
    queued_bytes: Arc<AtomicUsize>,
    dropped: AtomicU64,
}

impl Capture {
    /// Opens the exporter's socket and starts the exporter (needs a tokio
    /// runtime).
    pub fn start(settings: &CaptureSettings) -> std::io::Result<Arc<Self>> {
        let any: SocketAddr = if settings.hep.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = std::net::UdpSocket::bind(any)?;
        socket.set_nonblocking(true)?;
        let socket = UdpSocket::from_std(socket)?;
        let (queue, receiver) = mpsc::channel(QUEUE_MESSAGES);
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        tokio::spawn(export(
            socket,
            settings.clone(),
            receiver,
            queued_bytes.clone(),
        ));
        Ok(Arc::new(Self {
            queue,
            queued_bytes,
            dropped: AtomicU64::new(0),
        }))
    }

    /// Queues a copy of one message for export; never waits. `local` is
    /// the responder's address, `peer` the other end's.
    pub fn record(
        &self,
        direction: Direction,
        transport: Transport,
        local: SocketAddr,
        peer: SocketAddr,
        bytes: &[u8],
    ) {
        let queued = self.queued_bytes.fetch_add(bytes.len(), Ordering::Relaxed);
        let captured = Captured {
            direction,
            transport,
            local,
            peer,
            time: SystemTime::now(),
            payload: Bytes::copy_from_slice(bytes),
        };
        if queued + bytes.len() > QUEUE_BYTES || self.queue.try_send(captured).is_err() {
            self.queued_bytes.fetch_sub(bytes.len(), Ordering::Relaxed);
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if let Some(suppressed) = DROP_LOG.allow() {
                warn!(
                    dropped,
                    suppressed, "capture queue full: messages not exported"
                );
            }
        }
    }

    /// Messages not exported because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Sends each queued message to the collector until every handle is gone.
async fn export(
    socket: UdpSocket,
    settings: CaptureSettings,
    mut queue: mpsc::Receiver<Captured>,
    queued_bytes: Arc<AtomicUsize>,
) {
    let mut packet = Vec::with_capacity(2048);
    while let Some(captured) = queue.recv().await {
        queued_bytes.fetch_sub(captured.payload.len(), Ordering::Relaxed);
        let (source, destination) = match captured.direction {
            Direction::Received => (captured.peer, captured.local),
            Direction::Sent => (captured.local, captured.peer),
        };
        let fits = hep::encode(
            &hep::Packet {
                source,
                destination,
                transport: captured.transport,
                time: captured.time,
                payload: &captured.payload,
            },
            settings.node_id,
            settings.password.as_deref(),
            &mut packet,
        );
        if !fits {
            continue;
        }
        if let Err(error) = socket.send_to(&packet, settings.hep).await
            && let Some(suppressed) = DROP_LOG.allow()
        {
            warn!(%error, collector = %settings.hep, suppressed, "HEP export failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(hep: SocketAddr) -> CaptureSettings {
        CaptureSettings {
            hep,
            node_id: 7,
            password: None,
        }
    }

    /// On a current-thread runtime the exporter cannot run while the test
    /// records, so the queue fills: what does not fit is dropped and
    /// counted, and `record` never waits.
    #[tokio::test]
    async fn a_full_queue_drops_and_counts_without_waiting() {
        let collector = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let capture =
            Capture::start(&settings(collector.local_addr().expect("addr"))).expect("start");
        let (local, peer) = (
            SocketAddr::from(([127, 0, 0, 1], 5060)),
            SocketAddr::from(([127, 0, 0, 1], 5999)),
        );
        let extra = 100;
        for _ in 0..QUEUE_MESSAGES + extra {
            capture.record(
                Direction::Received,
                Transport::Udp,
                local,
                peer,
                b"OPTIONS sip:x SIP/2.0\r\n\r\n",
            );
        }
        assert_eq!(capture.dropped(), extra as u64);
        // The byte budget bounds large messages before the count does.
        let big = vec![b'x'; QUEUE_BYTES];
        capture.record(Direction::Sent, Transport::Udp, local, peer, &big);
        assert_eq!(capture.dropped(), extra as u64 + 1);
    }

    #[tokio::test]
    async fn the_exporter_sends_each_queued_message() {
        let collector = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let capture =
            Capture::start(&settings(collector.local_addr().expect("addr"))).expect("start");
        let (local, peer) = (
            SocketAddr::from(([127, 0, 0, 1], 5060)),
            SocketAddr::from(([127, 0, 0, 1], 5999)),
        );
        capture.record(
            Direction::Sent,
            Transport::Udp,
            local,
            peer,
            b"SIP/2.0 200 OK\r\n\r\n",
        );
        let mut buf = [0u8; 512];
        let len = tokio::time::timeout(std::time::Duration::from_secs(3), collector.recv(&mut buf))
            .await
            .expect("a packet")
            .expect("recv");
        assert!(buf[..len].starts_with(b"HEP3"));
        assert!(buf[..len].ends_with(b"SIP/2.0 200 OK\r\n\r\n"));
        assert_eq!(capture.dropped(), 0);
    }
}
