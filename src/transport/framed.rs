//! SIP over a byte stream (TCP, TLS): frames messages out of one connection
//! by Content-Length, asks the handler to admit each one, and hands them to
//! the connection's dispatcher, under idle, first-message and per-message
//! timeouts that fire whatever the handler and the writer are doing.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::time::{Instant, timeout_at};
use tokio_util::sync::CancellationToken;

use super::connection::StreamWriter;
use super::dispatch::{ConnectionTasks, Inbound};
use super::stream::{Closed, StreamOptions};
use super::{Admission, ListenerInfo, MessageHandler};
use crate::sip::{Frame, ParseError, StreamFramer};

/// Serves one TCP or TLS connection until the peer closes it, it breaks a
/// limit, its writer gives up on the peer, or `cancel` fires.
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
    let (mut reader, writer) = tokio::io::split(stream);
    let tasks = ConnectionTasks::start(
        StreamWriter(writer),
        options.writer_limits(),
        handler.clone(),
        info,
        peer,
    );
    let mut framing = Framing {
        framer: StreamFramer::new(options.limits),
        buf: BytesMut::with_capacity(8 * 1024),
        opened: Instant::now(),
        partial_since: None,
        whole_messages: 0,
    };
    let closed = loop {
        // Everything complete in the buffer first (pipelined messages).
        if let Err(closed) = framing.hand_over(&tasks, &handler, options).await {
            break closed;
        }
        let deadline = framing.deadline(options);
        let read = tokio::select! {
            () = cancel.cancelled() => break Closed::Normal("shutdown"),
            () = tasks.queue.aborted() => break writer_gave_up(&tasks),
            read = timeout_at(deadline, reader.read_buf(&mut framing.buf)) => read,
        };
        match read {
            Err(_) => break framing.timed_out(options),
            Ok(Ok(0)) => break Closed::Normal("closed by peer"),
            Ok(Ok(_)) => {}
            Ok(Err(error)) if error.kind() == std::io::ErrorKind::ConnectionReset => {
                break Closed::Normal("reset by peer");
            }
            Ok(Err(error)) => break Closed::Limit(format!("read failed: {error}")),
        }
    };
    drop(reader);
    tasks.close().await;
    closed
}

/// Why handing a message over failed: the writer gave up on the peer (the
/// dispatcher then stops too), or the handler did not keep up.
pub(crate) fn stalled(tasks: &ConnectionTasks) -> Closed {
    if tasks.queue.is_aborted() {
        writer_gave_up(tasks)
    } else {
        Closed::Limit("handler not keeping up".into())
    }
}

/// Why the writer ended the connection.
pub(crate) fn writer_gave_up(tasks: &ConnectionTasks) -> Closed {
    match tasks.queue.state() {
        Some(why) => Closed::Limit(why.to_string()),
        None => Closed::Limit("writer stopped".into()),
    }
}

/// The read side's framing state.
struct Framing {
    framer: StreamFramer,
    buf: BytesMut,
    opened: Instant,
    /// When the bytes of an incomplete message began to arrive.
    partial_since: Option<Instant>,
    whole_messages: u64,
}

impl Framing {
    /// When the next read must have happened: a started message must end
    /// within `message_timeout`; a connection that never sent a whole
    /// message may idle only `first_message_timeout` from its start.
    fn deadline(&mut self, options: &StreamOptions) -> Instant {
        let now = Instant::now();
        self.partial_since = if self.buf.is_empty() {
            None
        } else {
            Some(self.partial_since.unwrap_or(now))
        };
        match self.partial_since {
            Some(since) => since + options.message_timeout,
            None if self.whole_messages == 0 => {
                (self.opened + options.first_message_timeout).min(now + options.idle_timeout)
            }
            None => now + options.idle_timeout,
        }
    }

    fn timed_out(&self, options: &StreamOptions) -> Closed {
        let (what, limit) = match self.partial_since {
            Some(_) => (
                "message not completed within",
                options.message_timeout.as_millis(),
            ),
            None if self.whole_messages == 0 => (
                "no whole message within",
                options.first_message_timeout.as_millis(),
            ),
            None => ("idle for", options.idle_timeout.as_millis()),
        };
        Closed::Limit(format!("{what} {limit} ms"))
    }

    /// Hands every complete frame in the buffer to the dispatcher; an error
    /// closes the connection (after a 400 where the head could be read).
    async fn hand_over<H: MessageHandler>(
        &mut self,
        tasks: &ConnectionTasks,
        handler: &Arc<H>,
        options: &StreamOptions,
    ) -> Result<(), Closed> {
        let stalled = |_| stalled(tasks);
        loop {
            let item = match self.framer.next_frame(&mut self.buf) {
                Ok(None) => return Ok(()),
                Ok(Some(Frame::KeepAlive)) => Inbound::KeepAlive,
                Ok(Some(Frame::Message(message))) => {
                    self.whole_messages += 1;
                    match tasks.admit(&**handler, message.as_bytes()) {
                        Admission::Admit => Inbound::Message(message),
                        Admission::Refuse => {
                            Inbound::Refused(bytes::Bytes::copy_from_slice(message.as_bytes()))
                        }
                        Admission::Drop => continue,
                    }
                }
                Err(error @ ParseError::TooLarge { .. }) => {
                    return Err(Closed::Limit(error.to_string()));
                }
                Err(error) => {
                    let head = self.framer.head_of(&self.buf);
                    let why = error.to_string();
                    let item = Inbound::Unframeable { head, error };
                    tasks
                        .dispatcher
                        .hand_over(item, options.write_timeout)
                        .await
                        .map_err(stalled)?;
                    return Err(Closed::Limit(why));
                }
            };
            tasks
                .dispatcher
                .hand_over(item, options.write_timeout)
                .await
                .map_err(stalled)?;
        }
    }
}
