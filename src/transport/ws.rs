//! SIP over WebSocket (RFC 7118): the handshake requires the `sip`
//! subprotocol (and the configured path), then each WebSocket message
//! carries one SIP message. The write buffer is bounded and pings are
//! answered at a bounded rate.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, timeout, timeout_at};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;

use super::connection::FrameWriter;
use super::dispatch::{ConnectionTasks, Inbound};
use super::stream::{Closed, StreamOptions};
use super::{Admission, ListenerInfo, MessageHandler};

/// Pings answered per second at most: beyond it the connection is not read
/// until the second is over, so the pongs (and the peer) wait.
const PINGS_PER_SECOND: u32 = 10;

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
    let websocket = match handshake(stream, options).await {
        Ok(websocket) => websocket,
        Err(closed) => return closed,
    };
    let (sink, mut source) = websocket.split();
    let tasks = ConnectionTasks::start(
        WsWriter(sink),
        options.writer_limits(),
        handler.clone(),
        info,
        peer,
    );
    let mut watch = ReadWatch::new(received, options);
    let closed = loop {
        let next = tokio::select! {
            () = cancel.cancelled() => break Closed::Normal("shutdown"),
            () = tasks.queue.aborted() => break super::framed::writer_gave_up(&tasks),
            next = timeout_at(watch.idle_deadline, source.next()) => next,
            () = tokio::time::sleep(watch.tick) => match watch.slow_sender(options) {
                Some(closed) => break closed,
                None => continue,
            },
        };
        let message = match next {
            Err(_) => break watch.timed_out(options),
            Ok(None) => break Closed::Normal("closed by peer"),
            Ok(Some(Err(error))) if peer_went_away(&error) => {
                break Closed::Normal("closed by peer without a close frame");
            }
            Ok(Some(Err(error))) => break Closed::Limit(format!("WebSocket error: {error}")),
            Ok(Some(Ok(message))) => message,
        };
        watch.frame_read(&message, options);
        let data = match message {
            Message::Text(text) => Bytes::from(text),
            Message::Binary(data) => data,
            Message::Close(_) => break Closed::Normal("closed by peer"),
            // Tungstenite queues the pong (one at a time, within the write
            // buffer limit); past the rate, reading pauses.
            Message::Ping(_) if watch.ping_pause(&cancel, &tasks).await => {
                break Closed::Normal("shutdown");
            }
            Message::Ping(_) => continue,
            Message::Pong(_) | Message::Frame(_) => continue,
        };
        let item = match tasks.admit(&*handler, &data) {
            Admission::Admit => Inbound::Datagram(data),
            Admission::Refuse => Inbound::Refused(data),
            Admission::Drop => continue,
        };
        if tasks
            .dispatcher
            .hand_over(item, options.write_timeout)
            .await
            .is_err()
        {
            break super::framed::stalled(&tasks);
        }
    };
    drop(source);
    tasks.close().await;
    closed
}

/// The server handshake, within `message_timeout`.
#[allow(clippy::result_large_err)] // the handshake callback's signature is tungstenite's
async fn handshake<S>(
    stream: Counted<S>,
    options: &StreamOptions,
) -> Result<tokio_tungstenite::WebSocketStream<Counted<S>>, Closed>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let path = options.ws_path.clone();
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        move |request: &Request, response: Response| accept_sip(request, response, path.as_deref()),
        Some(websocket_config(options)),
    );
    match timeout(options.message_timeout, handshake).await {
        Ok(Ok(websocket)) => Ok(websocket),
        Ok(Err(error)) => Err(Closed::Limit(format!(
            "WebSocket handshake refused: {error}"
        ))),
        Err(_) => Err(Closed::Limit(
            "WebSocket handshake not completed in time".into(),
        )),
    }
}

/// Message and frame limits; the write buffer is written eagerly and
/// bounded, so pongs and responses to a peer that stops reading cannot pile
/// up (RFC 6455 §5.5.2 asks for a pong "as soon as is practical", not for
/// every ping to be kept).
fn websocket_config(options: &StreamOptions) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(options.max_ws_message_size))
        .max_frame_size(Some(options.max_ws_message_size))
        .write_buffer_size(0)
        .max_write_buffer_size(
            options
                .max_send_queue
                .max(2 * options.limits.max_message_size)
                .max(1),
        )
}

/// The read side's timers: idle, first message, slow sender, ping rate.
struct ReadWatch {
    /// Bytes read below tungstenite, for the slow-sender check.
    received: Arc<AtomicU64>,
    complete_at: u64,
    partial_since: Option<Instant>,
    idle_deadline: Instant,
    tick: Duration,
    whole_messages: u64,
    pings: PingRate,
}

impl ReadWatch {
    fn new(received: Arc<AtomicU64>, options: &StreamOptions) -> Self {
        let now = Instant::now();
        Self {
            complete_at: received.load(Ordering::Relaxed),
            received,
            partial_since: None,
            idle_deadline: now + options.first_message_timeout.min(options.idle_timeout),
            tick: (options.message_timeout / 4).max(Duration::from_millis(50)),
            whole_messages: 0,
            pings: PingRate::new(now),
        }
    }

    /// A slow sender is one whose bytes arrive without completing a message.
    fn slow_sender(&mut self, options: &StreamOptions) -> Option<Closed> {
        let now = Instant::now();
        if self.received.load(Ordering::Relaxed) > self.complete_at {
            let since = *self.partial_since.get_or_insert(now);
            if now - since > options.message_timeout {
                return Some(Closed::Limit(format!(
                    "WebSocket message not completed within {} ms",
                    options.message_timeout.as_millis()
                )));
            }
        }
        None
    }

    fn timed_out(&self, options: &StreamOptions) -> Closed {
        if self.whole_messages == 0 {
            Closed::Limit(format!(
                "no whole message within {} ms",
                options.first_message_timeout.as_millis()
            ))
        } else {
            Closed::Limit(format!("idle for {} ms", options.idle_timeout.as_millis()))
        }
    }

    /// A frame arrived whole; a data message also ends the first-message wait.
    fn frame_read(&mut self, message: &Message, options: &StreamOptions) {
        self.complete_at = self.received.load(Ordering::Relaxed);
        self.partial_since = None;
        if matches!(message, Message::Text(_) | Message::Binary(_)) {
            self.whole_messages += 1;
        }
        if self.whole_messages > 0 {
            self.idle_deadline = Instant::now() + options.idle_timeout;
        }
    }

    /// Counts a ping; past the rate, stops reading for the rest of the
    /// second. True when the connection ended meanwhile.
    async fn ping_pause(&mut self, cancel: &CancellationToken, tasks: &ConnectionTasks) -> bool {
        let Some(next_window) = self.pings.admit(Instant::now()) else {
            return false;
        };
        tokio::select! {
            () = cancel.cancelled() => true,
            () = tasks.queue.aborted() => true,
            () = tokio::time::sleep_until(next_window) => false,
        }
    }
}

/// Pings answered: at most [`PINGS_PER_SECOND`] in any one-second window.
#[derive(Debug)]
struct PingRate {
    window: Instant,
    count: u32,
}

impl PingRate {
    fn new(now: Instant) -> Self {
        Self {
            window: now,
            count: 0,
        }
    }

    /// A ping at `now`: `None` to answer it at once, or the instant until
    /// which reading stops (the ping then counts as the first of the next
    /// window, so no window answers more than the rate).
    fn admit(&mut self, now: Instant) -> Option<Instant> {
        if now - self.window >= Duration::from_secs(1) {
            self.window = now;
            self.count = 0;
        }
        self.count += 1;
        if self.count <= PINGS_PER_SECOND {
            return None;
        }
        self.window += Duration::from_secs(1);
        self.count = 1;
        Some(self.window)
    }
}

/// The WebSocket sink as a connection's writer.
struct WsWriter<S>(S);

impl<S> FrameWriter for WsWriter<S>
where
    S: futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error>
        + Unpin
        + Send
        + 'static,
{
    async fn write_frame(&mut self, frame: Bytes) -> std::io::Result<()> {
        // RFC 7118 §5.1: text frames for UTF-8 messages, binary otherwise.
        let message = match String::from_utf8(frame.to_vec()) {
            Ok(text) => Message::text(text),
            Err(_) => Message::binary(frame),
        };
        self.0.send(message).await.map_err(std::io::Error::other)
    }

    /// Completes the close handshake (RFC 6455 §5.5.1); the writer bounds it.
    async fn shut_down(&mut self) {
        let _ = self.0.close().await;
    }
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

#[cfg(test)]
mod ping_rate_tests;
