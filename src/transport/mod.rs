//! Transports: listeners that receive SIP messages and the [`Flow`] through
//! which replies and requests go back to a peer. Bytes only; no SIP
//! semantics beyond what framing needs.

pub mod connection;
mod dispatch;
mod framed;
mod guard;
mod handler;
mod stream;
mod tls;
mod udp;
mod ws;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use thiserror::Error;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::capture::{Capture, Direction};
use crate::sip::Transport;
use connection::{SendError, SendQueue};

pub use guard::{Allowance, SourceGuard};
pub use handler::{Admission, MessageHandler};
pub use stream::{StreamOptions, bind_tcp, serve_stream};
pub use tls::tls_acceptor;
pub use udp::{bind_udp, serve_udp};

/// Errors of the transport layer.
#[derive(Debug, Error)]
pub enum Error {
    #[error("cannot bind {transport} {address}: {source}")]
    Bind {
        transport: Transport,
        address: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("TLS setup failed: {0}")]
    Tls(String),
    #[error("send to {peer} failed: {source}")]
    Send {
        peer: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("send to {peer} failed: {source}")]
    Connection {
        peer: SocketAddr,
        #[source]
        source: SendError,
    },
}

/// A bound listener as the layers above see it: what it is and the address
/// it really bound (port 0 resolved).
#[derive(Debug, Clone)]
pub struct ListenerInfo {
    pub transport: Transport,
    pub local: SocketAddr,
    /// The URI this listener puts in Contact (RFC 3261 §8.1.1.8).
    pub contact: Arc<str>,
    /// `host:port` for the Via of requests sent from this listener.
    pub sent_by: Arc<str>,
    /// Only these sources are served (None: all).
    pub allow_sources: Option<Arc<[ipnet::IpNet]>>,
    /// Where received and sent messages are copied (`[capture]`), if on.
    pub capture: Option<Arc<Capture>>,
}

impl ListenerInfo {
    pub fn new(transport: Transport, local: SocketAddr, public_address: Option<&str>) -> Self {
        let host = match (public_address, local.ip()) {
            (Some(public), _) => public.to_owned(),
            (None, std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
            (None, std::net::IpAddr::V4(ip)) => ip.to_string(),
        };
        let contact = match transport {
            Transport::Udp => format!("sip:{host}:{}", local.port()),
            other => format!("sip:{host}:{};transport={}", local.port(), other.name()),
        };
        Self {
            transport,
            local,
            contact: contact.into(),
            sent_by: format!("{host}:{}", local.port()).into(),
            allow_sources: None,
            capture: None,
        }
    }

    /// Copies what this listener receives and sends to `capture`.
    pub fn with_capture(mut self, capture: Option<Arc<Capture>>) -> Self {
        self.capture = capture;
        self
    }

    /// Serves only `sources` (None: everyone).
    pub fn with_allow_sources(mut self, sources: Option<Arc<[ipnet::IpNet]>>) -> Self {
        self.allow_sources = sources;
        self
    }

    /// Whether `peer` may use this listener (IPv4-mapped addresses match
    /// IPv4 networks).
    pub fn allows(&self, peer: std::net::IpAddr) -> bool {
        self.allow_sources.as_ref().is_none_or(|nets| {
            let canonical = peer.to_canonical();
            nets.iter()
                .any(|net| net.contains(&peer) || net.contains(&canonical))
        })
    }
}

/// Where messages to one peer go: a UDP socket and an address, or a stream
/// connection (TCP, TLS, WebSocket) whose writer task sends them in order.
#[derive(Debug, Clone)]
pub struct Flow {
    pub transport: Transport,
    pub local: SocketAddr,
    pub peer: SocketAddr,
    sink: Sink,
    /// The listener's capture tap (`None`: no work per message).
    capture: Option<Arc<Capture>>,
    /// UDP: what an unverified peer may be sent (`None`: unmetered).
    meter: Option<Meter>,
}

/// The anti-amplification meter of a UDP flow.
#[derive(Debug, Clone)]
struct Meter {
    guard: Arc<SourceGuard>,
    allowance: Allowance,
    /// Size of the request the flow came with: its responses may be
    /// `ratio` times as large.
    request_len: usize,
}

#[derive(Debug, Clone)]
enum Sink {
    Udp(Arc<UdpSocket>),
    Connection(Arc<SendQueue>),
    /// Nothing is sent: each message is handed over with its destination
    /// (`explain`'s dry run).
    Recorder(mpsc::UnboundedSender<(SocketAddr, Bytes)>),
}

/// How long a UDP send waits for room in the socket's send buffer before
/// the datagram is dropped, as a congested network would drop it.
pub(crate) const UDP_SEND_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

impl Flow {
    pub fn udp(socket: Arc<UdpSocket>, local: SocketAddr, peer: SocketAddr) -> Self {
        Self {
            transport: Transport::Udp,
            local,
            peer,
            sink: Sink::Udp(socket),
            capture: None,
            meter: None,
        }
    }

    pub(crate) fn connection(
        transport: Transport,
        local: SocketAddr,
        peer: SocketAddr,
        queue: Arc<SendQueue>,
    ) -> Self {
        Self {
            transport,
            local,
            peer,
            sink: Sink::Connection(queue),
            capture: None,
            meter: None,
        }
    }

    /// The same flow, copying what goes through it to the listener's
    /// capture tap (if any).
    pub(crate) fn tapped(mut self, listener: &ListenerInfo) -> Self {
        self.capture.clone_from(&listener.capture);
        self
    }

    /// Copies a message received from this flow's peer to the capture tap.
    pub(crate) fn capture_received(&self, bytes: &[u8]) {
        if let Some(capture) = &self.capture {
            capture.record(
                Direction::Received,
                self.transport,
                self.local,
                self.peer,
                bytes,
            );
        }
    }

    /// A flow that sends nothing but hands every message to `recorder`,
    /// behaving otherwise as `transport` does.
    pub fn recorder(
        transport: Transport,
        local: SocketAddr,
        peer: SocketAddr,
        recorder: mpsc::UnboundedSender<(SocketAddr, Bytes)>,
    ) -> Self {
        Self {
            transport,
            local,
            peer,
            sink: Sink::Recorder(recorder),
            capture: None,
            meter: None,
        }
    }

    /// The same flow, sending to another address (UDP only: a connection
    /// always reaches its own peer).
    pub fn to_peer(&self, peer: SocketAddr) -> Self {
        match self.sink {
            Sink::Udp(_) | Sink::Recorder(_) => Self {
                peer,
                ..self.clone()
            },
            Sink::Connection(_) => self.clone(),
        }
    }

    /// Meters what this flow sends (UDP only: a connection has shown its
    /// peer receives): at most what `allowance` grants an unverified peer
    /// that sent a request of `request_len` bytes.
    pub fn metered(
        mut self,
        guard: &Arc<SourceGuard>,
        allowance: Allowance,
        request_len: usize,
    ) -> Self {
        if !self.transport.is_reliable() {
            self.meter = Some(Meter {
                guard: guard.clone(),
                allowance,
                request_len,
            });
        }
        self
    }

    /// The same flow, unmetered (a destination the operator configured).
    pub fn unmetered(mut self) -> Self {
        self.meter = None;
        self
    }

    /// The peer showed it receives what this flow sends (RFC 3261
    /// §26.3.2.4): it is no longer metered for a while.
    pub fn trust_peer(&self) {
        if let Some(meter) = &self.meter {
            meter.guard.trust(self.peer.ip());
        }
    }

    /// Sends a response to the request this flow came with. To an
    /// unverified UDP peer one larger than the ratio allows goes only on
    /// credit; without it nothing is sent (and it is counted): that is no
    /// error of the flow. Never waits on a connection (its queue takes the
    /// message or refuses at once: closed, or full because the peer stopped
    /// reading) and waits at most [`UDP_SEND_WAIT`] on a UDP socket. From a
    /// receive loop, a UDP send joins the loop's batch (`udp::outbox`):
    /// a failure at its flush is logged there, not returned here.
    pub async fn send(&self, bytes: &[u8]) -> Result<(), Error> {
        if let Some(meter) = &self.meter
            && !meter.guard.admit_response(
                self.peer.ip(),
                bytes.len(),
                meter.request_len,
                &meter.allowance,
            )
        {
            return Ok(());
        }
        self.deliver(bytes).await
    }

    /// Sends a retransmission, or a request of ours: to an unverified UDP
    /// peer only on the credit it earned (else nothing is sent, and it is
    /// counted).
    pub async fn send_again(&self, bytes: &[u8]) -> Result<(), Error> {
        if let Some(meter) = &self.meter
            && !meter
                .guard
                .admit(self.peer.ip(), bytes.len(), &meter.allowance)
        {
            return Ok(());
        }
        self.deliver(bytes).await
    }

    async fn deliver(&self, bytes: &[u8]) -> Result<(), Error> {
        let sent = self.send_bytes(bytes).await;
        // A CRLF keep-alive answer (RFC 5626 §3.5.1) is no SIP message.
        if let (Ok(()), Some(capture)) = (&sent, &self.capture)
            && bytes != b"\r\n"
        {
            capture.record(
                Direction::Sent,
                self.transport,
                self.local,
                self.peer,
                bytes,
            );
        }
        sent
    }

    /// A receive loop's own answers wait for the end of its batch (order
    /// kept: a full batch goes out before the next joins it). `false`: not
    /// sent from a receive loop of `socket`.
    async fn batched(&self, socket: &Arc<UdpSocket>, bytes: &[u8]) -> bool {
        use udp::outbox::{self, Queued};
        match outbox::queue(socket, self.peer, bytes) {
            Queued::Yes => true,
            Queued::NotHere => false,
            Queued::Full => {
                // Boxed, as the waiting send below: rare, and every
                // response's future would otherwise carry them.
                Box::pin(outbox::flush(UDP_SEND_WAIT)).await;
                outbox::queue(socket, self.peer, bytes) == Queued::Yes
            }
        }
    }

    async fn send_bytes(&self, bytes: &[u8]) -> Result<(), Error> {
        let send_error = |source| Error::Send {
            peer: self.peer,
            source,
        };
        match &self.sink {
            Sink::Udp(socket) if self.batched(socket, bytes).await => Ok(()),
            // Fast path: most sends complete without waiting for writability.
            Sink::Udp(socket) => match socket.try_send_to(bytes, self.peer) {
                Ok(_) => Ok(()),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    let wait =
                        tokio::time::timeout(UDP_SEND_WAIT, socket.send_to(bytes, self.peer));
                    match Box::pin(wait).await {
                        Ok(sent) => sent.map(|_| ()).map_err(send_error),
                        Err(_) => Err(send_error(io::ErrorKind::TimedOut.into())),
                    }
                }
                Err(error) => Err(send_error(error)),
            },
            Sink::Recorder(recorder) => recorder
                .send((self.peer, Bytes::copy_from_slice(bytes)))
                .map_err(|_| {
                    send_error(io::Error::new(io::ErrorKind::NotConnected, "recorder gone"))
                }),
            Sink::Connection(queue) => queue.push(bytes).map_err(|source| Error::Connection {
                peer: self.peer,
                source,
            }),
        }
    }
}
