//! SIP over WebSocket (RFC 7118): the handshake requires the `sip`
//! subprotocol (and the configured path), then each WebSocket message
//! carries one SIP message.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;

use super::stream::{Closed, StreamOptions};
use super::{CONNECTION_QUEUE, Flow, ListenerInfo, MessageHandler};

/// Serves one WebSocket connection over `stream` (TCP or TLS).
#[allow(clippy::result_large_err)] // the handshake callback's signature is tungstenite's
pub(crate) async fn serve<S, H>(
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
    let received = Arc::new(AtomicU64::new(0));
    let stream = Counted {
        inner: stream,
        received: received.clone(),
    };
    let path = options.ws_path.clone();
    let config = WebSocketConfig::default()
        .max_message_size(Some(options.max_ws_message_size))
        .max_frame_size(Some(options.max_ws_message_size));
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        move |request: &Request, response: Response| accept_sip(request, response, path.as_deref()),
        Some(config),
    );
    let websocket = match timeout(options.message_timeout, handshake).await {
        Ok(Ok(websocket)) => websocket,
        Ok(Err(error)) => return Closed::Limit(format!("WebSocket handshake refused: {error}")),
        Err(_) => return Closed::Limit("WebSocket handshake not completed in time".into()),
    };
    let (mut sink, mut source) = websocket.split();
    let (sender, mut queue) = mpsc::channel::<Bytes>(CONNECTION_QUEUE);
    let flow = Flow::connection(info.transport, info.local, peer, sender).tapped(info);
    let closing = CancellationToken::new();
    let stop = closing.clone();
    let writer = tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                next = queue.recv() => next,
                () = stop.cancelled() => None,
            };
            let Some(bytes) = next else { break };
            // RFC 7118 §5.1: text frames for UTF-8 messages, binary otherwise.
            let message = match String::from_utf8(bytes.to_vec()) {
                Ok(text) => Message::text(text),
                Err(_) => Message::binary(bytes),
            };
            if sink.send(message).await.is_err() {
                return;
            }
        }
        // Completes the close handshake (RFC 6455 §5.5.1), bounded so a
        // peer that stopped reading cannot hold the task.
        let _ = timeout(Duration::from_secs(1), sink.close()).await;
    });

    // A slow sender is one whose bytes arrive without completing a message:
    // watched by counting bytes read below tungstenite.
    let mut complete_at = received.load(Ordering::Relaxed);
    let mut partial_since: Option<Instant> = None;
    let mut idle_deadline = Instant::now() + options.idle_timeout;
    let tick = (options.message_timeout / 4).max(Duration::from_millis(50));
    let closed = loop {
        let next = tokio::select! {
            () = cancel.cancelled() => break Closed::Normal("shutdown"),
            next = timeout_at(idle_deadline, source.next()) => next,
            () = tokio::time::sleep(tick) => {
                let now = Instant::now();
                if received.load(Ordering::Relaxed) > complete_at {
                    let since = *partial_since.get_or_insert(now);
                    if now - since > options.message_timeout {
                        break Closed::Limit(format!("WebSocket message not completed within {} ms", options.message_timeout.as_millis()));
                    }
                }
                continue;
            }
        };
        let message = match next {
            Err(_) => {
                break Closed::Limit(format!("idle for {} ms", options.idle_timeout.as_millis()));
            }
            Ok(None) => break Closed::Normal("closed by peer"),
            Ok(Some(Err(error))) if peer_went_away(&error) => {
                break Closed::Normal("closed by peer without a close frame");
            }
            Ok(Some(Err(error))) => break Closed::Limit(format!("WebSocket error: {error}")),
            Ok(Some(Ok(message))) => message,
        };
        complete_at = received.load(Ordering::Relaxed);
        partial_since = None;
        idle_deadline = Instant::now() + options.idle_timeout;
        match message {
            Message::Text(text) => {
                flow.capture_received(text.as_bytes());
                handler
                    .handle_datagram(text.as_bytes(), flow.clone(), info)
                    .await
            }
            Message::Binary(data) => {
                flow.capture_received(&data);
                handler.handle_datagram(&data, flow.clone(), info).await
            }
            Message::Close(_) => break Closed::Normal("closed by peer"),
            // Pings are answered by tungstenite itself.
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
    };
    drop(flow);
    closing.cancel();
    let _ = timeout(Duration::from_secs(2), writer).await;
    closed
}

/// A browser tab closed or a client exiting: not worth a warning.
fn peer_went_away(error: &tokio_tungstenite::tungstenite::Error) -> bool {
    use tokio_tungstenite::tungstenite::Error;
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    match error {
        Error::ConnectionClosed
        | Error::AlreadyClosed
        | Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => true,
        Error::Io(io) => matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::BrokenPipe
        ),
        _ => false,
    }
}

/// The handshake callback: the client must offer `sip` (RFC 7118 §4.1) and,
/// when configured, use the listener's path.
#[allow(clippy::result_large_err)] // the signature tungstenite's callback requires
fn accept_sip(
    request: &Request,
    mut response: Response,
    path: Option<&str>,
) -> Result<Response, ErrorResponse> {
    if let Some(path) = path
        && request.uri().path() != path
    {
        return Err(refusal(
            StatusCode::NOT_FOUND,
            format!(
                "no SIP WebSocket service at {}; use {path}",
                request.uri().path()
            ),
        ));
    }
    let offers_sip = request
        .headers()
        .get_all("Sec-WebSocket-Protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("sip"));
    if !offers_sip {
        return Err(refusal(
            StatusCode::BAD_REQUEST,
            "this is a SIP WebSocket server (RFC 7118): offer the \"sip\" subprotocol (Sec-WebSocket-Protocol: sip)".into(),
        ));
    }
    response
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("sip"));
    Ok(response)
}

fn refusal(status: StatusCode, text: String) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(text));
    *response.status_mut() = status;
    response
}

/// Counts bytes read from the connection (for the slow-sender check).
struct Counted<S> {
    inner: S,
    received: Arc<AtomicU64>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        self.received.fetch_add(read as u64, Ordering::Relaxed);
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
