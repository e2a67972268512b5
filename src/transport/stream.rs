//! Stream listeners (TCP, TLS, and the TCP under WS/WSS): accept within a
//! connection limit and a per-source limit, then serve each connection in
//! its own task (TLS handshake, then SIP framing or WebSocket), releasing
//! its slot only once its tasks and socket are gone.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::connection::WriterLimits;
use super::{Error, ListenerInfo, MessageHandler, framed, ws};
use crate::sip::{Limits, Transport};

/// How a stream listener treats its connections.
#[derive(Clone)]
pub struct StreamOptions {
    pub limits: Limits,
    pub max_connections: usize,
    /// Connections one source address may hold open at once.
    pub max_connections_per_source: usize,
    pub idle_timeout: Duration,
    /// Until a connection sent its first whole message, it may stay idle
    /// only this long (shorter than `idle_timeout`).
    pub first_message_timeout: Duration,
    /// Each write to the peer must complete within this.
    pub write_timeout: Duration,
    /// Bytes that may wait to be written to one connection.
    pub max_send_queue: usize,
    /// A message (or a TLS / WebSocket handshake) must arrive whole within
    /// this time once its first byte did.
    pub message_timeout: Duration,
    pub max_ws_message_size: usize,
    /// WS and WSS: the only path the handshake accepts.
    pub ws_path: Option<String>,
    /// TLS and WSS.
    pub tls: Option<TlsAcceptor>,
    /// Connections open right now (read by the metrics).
    pub open_connections: Arc<AtomicUsize>,
}

impl std::fmt::Debug for StreamOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamOptions")
            .field("max_connections", &self.max_connections)
            .field(
                "max_connections_per_source",
                &self.max_connections_per_source,
            )
            .field("idle_timeout", &self.idle_timeout)
            .field("first_message_timeout", &self.first_message_timeout)
            .field("message_timeout", &self.message_timeout)
            .field("write_timeout", &self.write_timeout)
            .field("max_send_queue", &self.max_send_queue)
            .field("ws_path", &self.ws_path)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl StreamOptions {
    pub(crate) fn writer_limits(&self) -> WriterLimits {
        WriterLimits {
            max_queued_bytes: self.max_send_queue,
            write_timeout: self.write_timeout,
        }
    }
}

/// Binds a TCP listening socket (IPv6 sockets are IPv6-only).
pub fn bind_tcp(transport: Transport, address: SocketAddr) -> Result<TcpListener, Error> {
    let bind_error = |source| Error::Bind {
        transport,
        address,
        source,
    };
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )
    .map_err(bind_error)?;
    if address.is_ipv6() {
        socket.set_only_v6(true).map_err(bind_error)?;
    }
    socket.set_reuse_address(true).map_err(bind_error)?;
    socket.set_nonblocking(true).map_err(bind_error)?;
    socket.bind(&address.into()).map_err(bind_error)?;
    socket.listen(1024).map_err(bind_error)?;
    TcpListener::from_std(socket.into()).map_err(bind_error)
}

/// Accepts connections until `cancel` fires; each connection runs in its own
/// task and its errors end only that connection.
pub async fn serve_stream<H: MessageHandler>(
    listener: TcpListener,
    info: ListenerInfo,
    handler: Arc<H>,
    options: StreamOptions,
    cancel: CancellationToken,
) {
    let info = Arc::new(info);
    let options = Arc::new(options);
    let permits = Arc::new(Semaphore::new(options.max_connections));
    let sources = Arc::new(SourceSlots::new(options.max_connections_per_source));
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // EMFILE and friends: back off instead of spinning.
                crate::warn_limited!(%error, local = %info.local, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if !info.allows(peer.ip()) {
            handler.refused_source(peer, &info);
            continue;
        }
        let Some(source_slot) = sources.take(peer.ip()) else {
            crate::warn_limited!(%peer, local = %info.local, limit = options.max_connections_per_source, "connection refused: source at its connection limit");
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            crate::warn_limited!(%peer, local = %info.local, limit = options.max_connections, "connection refused: listener at its connection limit");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        // The kernel's send buffer is sized like the send queue: a peer that
        // stops reading is noticed after that much, not after the several
        // MB autotuning would grow it to (best effort: the kernel may adjust).
        let _ = socket2::SockRef::from(&tcp).set_send_buffer_size(options.max_send_queue);
        let (info, handler, options, cancel) = (
            info.clone(),
            handler.clone(),
            options.clone(),
            cancel.child_token(),
        );
        options.open_connections.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let reason = serve_connection(tcp, peer, &info, handler, &options, cancel).await;
            match reason {
                Closed::Normal(why) => {
                    debug!(%peer, transport = info.transport.name(), why, "connection closed");
                }
                Closed::Limit(why) => {
                    crate::warn_limited!(%peer, transport = info.transport.name(), why = %why, "connection closed");
                }
            }
            // Only now are the connection's socket and tasks gone.
            options.open_connections.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
            drop(source_slot);
        });
    }
}

/// Open connections per source address, each below the per-source limit;
/// an address leaves the table with its last connection, so the table
/// never holds more entries than the listener has connections.
#[derive(Debug)]
struct SourceSlots {
    limit: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One source's hold on a connection; released on drop.
struct SourceSlot {
    slots: Arc<SourceSlots>,
    source: IpAddr,
}

impl SourceSlots {
    fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            open: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn take(self: &Arc<Self>, source: IpAddr) -> Option<SourceSlot> {
        let source = source.to_canonical();
        let mut open = self.lock();
        let count = open.entry(source).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(SourceSlot {
            slots: self.clone(),
            source,
        })
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut open = self.slots.lock();
        if let Some(count) = open.get_mut(&self.source) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.source);
            }
        }
    }
}

/// Why a connection ended: normally (peer closed, shutdown) or because it
/// broke a rule (logged at warn).
pub(crate) enum Closed {
    Normal(&'static str),
    Limit(String),
}

async fn serve_connection<H: MessageHandler>(
    tcp: TcpStream,
    peer: SocketAddr,
    info: &Arc<ListenerInfo>,
    handler: Arc<H>,
    options: &StreamOptions,
    cancel: CancellationToken,
) -> Closed {
    match (info.transport, &options.tls) {
        (Transport::Tcp, _) => framed::serve(tcp, peer, info, handler, options, cancel).await,
        (Transport::Ws, _) => ws::serve(tcp, peer, info, handler, options, cancel).await,
        (transport @ (Transport::Tls | Transport::Wss), Some(acceptor)) => {
            let stream = match timeout(options.message_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => return Closed::Limit(format!("TLS handshake failed: {error}")),
                Err(_) => return Closed::Limit("TLS handshake not completed in time".into()),
            };
            if transport == Transport::Tls {
                framed::serve(stream, peer, info, handler, options, cancel).await
            } else {
                ws::serve(stream, peer, info, handler, options, cancel).await
            }
        }
        _ => Closed::Limit("listener has no TLS configuration".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_capped_and_forgotten_with_their_last_connection() {
        let slots = Arc::new(SourceSlots::new(2));
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("ip");
        let first = slots.take(a).expect("first");
        let second = slots
            .take(mapped)
            .expect("IPv4-mapped counts as the same source");
        assert!(slots.take(a).is_none(), "third refused");
        assert!(slots.take("192.0.2.2".parse().expect("ip")).is_some());
        drop(first);
        let third = slots.take(a).expect("a slot came back");
        drop((second, third));
        assert!(slots.lock().is_empty(), "no entry outlives its connections");
    }
}
