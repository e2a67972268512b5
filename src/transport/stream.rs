//! Stream listeners (TCP, TLS, and the TCP under WS/WSS): accept with a
//! connection limit, then frame SIP messages out of each connection by
//! Content-Length with idle and per-message timeouts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::{Instant, timeout, timeout_at};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::{CONNECTION_QUEUE, Error, Flow, ListenerInfo, MessageHandler, ws};
use crate::sip::{Frame, Limits, ParseError, StreamFramer, Transport};

/// Connection floods log one refusal line per second.
static LIMIT_LOG: crate::ratelog::LogLimiter = crate::ratelog::LogLimiter::new(1000);

/// How a stream listener treats its connections.
#[derive(Clone)]
pub struct StreamOptions {
    pub limits: Limits,
    pub max_connections: usize,
    pub idle_timeout: Duration,
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
            .field("idle_timeout", &self.idle_timeout)
            .field("message_timeout", &self.message_timeout)
            .field("ws_path", &self.ws_path)
            .field("tls", &self.tls.is_some())
            .finish()
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
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // EMFILE and friends: back off instead of spinning.
                warn!(%error, local = %info.local, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if !info.allows(peer.ip()) {
            handler.refused_source(peer, &info);
            continue;
        }
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            crate::limited!(
                LIMIT_LOG,
                warn!(%peer, local = %info.local, limit = options.max_connections, "connection refused: listener at its connection limit")
            );
            continue;
        };
        let _ = tcp.set_nodelay(true);
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
                    debug!(%peer, transport = info.transport.name(), why, "connection closed")
                }
                Closed::Limit(why) => {
                    warn!(%peer, transport = info.transport.name(), why = %why, "connection closed")
                }
            }
            options.open_connections.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
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
        (Transport::Tcp, _) => serve_sip_stream(tcp, peer, info, handler, options, cancel).await,
        (Transport::Ws, _) => ws::serve(tcp, peer, info, handler, options, cancel).await,
        (transport @ (Transport::Tls | Transport::Wss), Some(acceptor)) => {
            let stream = match timeout(options.message_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => return Closed::Limit(format!("TLS handshake failed: {error}")),
                Err(_) => return Closed::Limit("TLS handshake not completed in time".into()),
            };
            if transport == Transport::Tls {
                serve_sip_stream(stream, peer, info, handler, options, cancel).await
            } else {
                ws::serve(stream, peer, info, handler, options, cancel).await
            }
        }
        _ => Closed::Limit("listener has no TLS configuration".into()),
    }
}

/// Frames SIP messages out of one TCP or TLS connection.
async fn serve_sip_stream<S, H>(
    stream: S,
    peer: SocketAddr,
    info: &Arc<ListenerInfo>,
    handler: Arc<H>,
    options: &StreamOptions,
    cancel: CancellationToken,
) -> Closed
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: MessageHandler,
{
    let (mut reader, writer) = tokio::io::split(stream);
    let (flow, closing) = spawn_writer(writer, info, peer);
    let mut framer = StreamFramer::new(options.limits);
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let mut partial_since: Option<Instant> = None;
    let closed = loop {
        // Everything complete in the buffer first (pipelined messages).
        match next_frames(&mut framer, &mut buf, &flow, info, &handler).await {
            Ok(()) => {}
            Err(closed) => break closed,
        }
        let now = Instant::now();
        partial_since = if buf.is_empty() {
            None
        } else {
            Some(partial_since.unwrap_or(now))
        };
        let deadline = match partial_since {
            Some(since) => since + options.message_timeout,
            None => now + options.idle_timeout,
        };
        let read = tokio::select! {
            () = cancel.cancelled() => break Closed::Normal("shutdown"),
            read = timeout_at(deadline, reader.read_buf(&mut buf)) => read,
        };
        match read {
            Err(_) if partial_since.is_some() => {
                break Closed::Limit(format!(
                    "message not completed within {} ms",
                    options.message_timeout.as_millis()
                ));
            }
            Err(_) => {
                break Closed::Limit(format!("idle for {} ms", options.idle_timeout.as_millis()));
            }
            Ok(Ok(0)) => break Closed::Normal("closed by peer"),
            Ok(Ok(_)) => {}
            Ok(Err(error)) if error.kind() == std::io::ErrorKind::ConnectionReset => {
                break Closed::Normal("reset by peer");
            }
            Ok(Err(error)) => break Closed::Limit(format!("read failed: {error}")),
        }
    };
    closing.cancel();
    closed
}

/// Hands every complete frame in `buf` to the handler; an error closes the
/// connection (after a 400 where the head could be read).
async fn next_frames<H: MessageHandler>(
    framer: &mut StreamFramer,
    buf: &mut BytesMut,
    flow: &Flow,
    info: &ListenerInfo,
    handler: &Arc<H>,
) -> Result<(), Closed> {
    loop {
        match framer.next_frame(buf) {
            Ok(None) => return Ok(()),
            // RFC 5626 §3.5.1: a CRLFCRLF ping gets a CRLF pong.
            Ok(Some(Frame::KeepAlive)) => {
                let _ = flow.send(b"\r\n").await;
            }
            Ok(Some(Frame::Message(message))) => {
                flow.capture_received(message.as_bytes());
                handler.handle_message(message, flow.clone(), info).await
            }
            Err(error @ ParseError::TooLarge { .. }) => {
                return Err(Closed::Limit(error.to_string()));
            }
            Err(error) => {
                let head = framer.head_of(buf);
                let why = error.to_string();
                handler
                    .handle_unframeable(head, error, flow.clone(), info)
                    .await;
                return Err(Closed::Limit(why));
            }
        }
    }
}

/// Starts the task that writes queued messages to the connection; returns
/// the flow that queues to it and the token that stops it (after flushing
/// what is queued).
fn spawn_writer<W>(
    mut writer: W,
    info: &ListenerInfo,
    peer: SocketAddr,
) -> (Flow, CancellationToken)
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (sender, mut queue) = mpsc::channel::<Bytes>(CONNECTION_QUEUE);
    let closing = CancellationToken::new();
    let stop = closing.clone();
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                next = queue.recv() => next,
                () = stop.cancelled() => {
                    // Flush what is already queued (a 400 before close).
                    while let Ok(bytes) = queue.try_recv() {
                        if writer.write_all(&bytes).await.is_err() {
                            break;
                        }
                    }
                    None
                }
            };
            let Some(bytes) = next else { break };
            if writer.write_all(&bytes).await.is_err() || writer.flush().await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    });
    (
        Flow::connection(info.transport, info.local, peer, sender).tapped(info),
        closing,
    )
}
