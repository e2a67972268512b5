//! UDP listener: binds with large buffers, then runs several receive loops
//! on the same socket so every core answers datagrams. Each loop reads a
//! burst in one call ([`inbox`]) and sends the answers in one ([`outbox`]).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tracing::debug;

mod inbox;
pub(crate) mod outbox;

use inbox::Inbox;
use outbox::Outbox;

use super::{Admission, Error, Flow, ListenerInfo, MessageHandler, UDP_SEND_WAIT};
use crate::sip::Transport;

/// Largest UDP payload; datagrams are read whole.
const MAX_DATAGRAM: usize = 65_535;
/// Datagrams read by one system call (the answers to them go out together).
const RECEIVE_BATCH: usize = 32;
/// Socket buffers large enough to ride out bursts from load tools.
const SOCKET_BUFFER: usize = 4 * 1024 * 1024;

/// Binds a UDP socket (IPv6 sockets are IPv6-only, so `[::]` and `0.0.0.0`
/// can both be listed).
pub fn bind_udp(address: SocketAddr) -> Result<UdpSocket, Error> {
    let bind_error = |source| Error::Bind {
        transport: Transport::Udp,
        address,
        source,
    };
    let socket = Socket::new(
        Domain::for_address(address),
        Type::DGRAM,
        Some(Protocol::UDP),
    )
    .map_err(bind_error)?;
    if address.is_ipv6() {
        socket.set_only_v6(true).map_err(bind_error)?;
    }
    // Bigger buffers are best effort: the kernel may cap them.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket.set_nonblocking(true).map_err(bind_error)?;
    socket.bind(&address.into()).map_err(bind_error)?;
    UdpSocket::from_std(socket.into()).map_err(bind_error)
}

/// Serves a bound socket with `workers` receive loops until `cancel` fires.
pub async fn serve_udp<H: MessageHandler>(
    socket: Arc<UdpSocket>,
    info: ListenerInfo,
    handler: Arc<H>,
    workers: usize,
    cancel: CancellationToken,
) {
    let info = Arc::new(info);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers.max(1) {
        tasks.spawn(receive_loop(
            socket.clone(),
            info.clone(),
            handler.clone(),
            cancel.clone(),
        ));
    }
    while tasks.join_next().await.is_some() {}
}

async fn receive_loop<H: MessageHandler>(
    socket: Arc<UdpSocket>,
    info: Arc<ListenerInfo>,
    handler: Arc<H>,
    cancel: CancellationToken,
) {
    let outbox = Outbox::new(socket.clone());
    outbox
        .scope(async move {
            let mut inbox = Inbox::new(RECEIVE_BATCH, MAX_DATAGRAM);
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    ready = socket.readable() => if ready.is_err() { continue },
                }
                match inbox.receive(&socket) {
                    Ok(_) => {
                        for (data, peer) in inbox.datagrams() {
                            handle_datagram(&socket, &info, handler.as_ref(), data, peer).await;
                            // One unit of the task's budget a datagram, as a
                            // receive call each took: a flood yields to the
                            // other listeners as often as before batching.
                            tokio::task::consume_budget().await;
                        }
                        // The batch's answers go out together.
                        outbox::flush(UDP_SEND_WAIT).await;
                    }
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                    Err(error) if is_transient(&error) => {
                        // ICMP port unreachable from an earlier send shows up
                        // here on Linux; it concerns that peer, not the listener.
                        debug!(%error, local = %info.local, "UDP receive error ignored");
                    }
                    Err(error) => {
                        crate::warn_limited!(%error, local = %info.local, "UDP receive failed; retrying");
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    }
                }
            }
        })
        .await;
}

async fn handle_datagram<H: MessageHandler>(
    socket: &Arc<UdpSocket>,
    info: &ListenerInfo,
    handler: &H,
    data: &[u8],
    peer: SocketAddr,
) {
    if !info.allows(peer.ip()) {
        return handler.refused_source(peer, info);
    }
    // Admission first: a source over its limit costs no parsing (and is
    // not captured).
    let admission = handler.admit(peer);
    if admission == Admission::Drop {
        return;
    }
    let flow = Flow::udp(socket.clone(), info.local, peer).tapped(info);
    flow.capture_received(data);
    match admission {
        Admission::Refuse => handler.handle_refused(data, flow, info).await,
        _ => handler.handle_datagram(data, flow, info).await,
    }
}

fn is_transient(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}
