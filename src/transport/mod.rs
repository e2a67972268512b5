//! Transports: listeners that receive SIP messages and the [`Flow`] through
//! which replies and requests go back to a peer. Bytes only; no SIP
//! semantics beyond what framing needs.

mod udp;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use thiserror::Error;
use tokio::net::UdpSocket;

use crate::sip::Transport;

pub use udp::{DatagramHandler, bind_udp, serve_udp};

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
    #[error("send to {peer} failed: {source}")]
    Send {
        peer: SocketAddr,
        #[source]
        source: io::Error,
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
        }
    }
}

/// Where messages to one peer go: over UDP from the listener's socket to an
/// address (stream transports will add their connection here).
#[derive(Debug, Clone)]
pub struct Flow {
    pub transport: Transport,
    pub local: SocketAddr,
    pub peer: SocketAddr,
    socket: Arc<UdpSocket>,
}

impl Flow {
    pub fn udp(socket: Arc<UdpSocket>, local: SocketAddr, peer: SocketAddr) -> Self {
        Self {
            transport: Transport::Udp,
            local,
            peer,
            socket,
        }
    }

    /// The same flow, sending to another port or address.
    pub fn to_peer(&self, peer: SocketAddr) -> Self {
        Self {
            peer,
            ..self.clone()
        }
    }

    pub async fn send(&self, bytes: &[u8]) -> Result<(), Error> {
        let send_error = |source| Error::Send {
            peer: self.peer,
            source,
        };
        // Fast path: most sends complete without waiting for writability.
        match self.socket.try_send_to(bytes, self.peer) {
            Ok(_) => Ok(()),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => self
                .socket
                .send_to(bytes, self.peer)
                .await
                .map(|_| ())
                .map_err(send_error),
            Err(error) => Err(send_error(error)),
        }
    }
}
