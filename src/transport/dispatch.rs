//! The tasks of one connection besides its reader: the writer (see
//! `connection.rs`) and the dispatcher, from which its messages reach the
//! handler, so the read loop never waits for the handler: its idle and
//! message timeouts fire whatever the handler does, and a slow handler
//! costs a bounded queue (the reader stops reading while it is full, so TCP
//! pushes back). Closing ends both within a bound.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::connection::{FrameWriter, SendQueue, WriterLimits, start_writer};
use super::{Admission, Flow, ListenerInfo, MessageHandler};
use crate::sip::{Message, ParseError};

/// A connection's writer and dispatcher, and the flow that leads to it.
#[derive(Debug)]
pub(crate) struct ConnectionTasks {
    pub(crate) flow: Flow,
    pub(crate) queue: Arc<SendQueue>,
    pub(crate) dispatcher: Dispatcher,
    writer: JoinHandle<()>,
    write_timeout: Duration,
}

impl ConnectionTasks {
    pub(crate) fn start<H: MessageHandler, F: FrameWriter>(
        writer: F,
        limits: WriterLimits,
        handler: Arc<H>,
        info: &Arc<ListenerInfo>,
        peer: SocketAddr,
    ) -> Self {
        let (queue, writer) = start_writer(writer, limits);
        let flow = Flow::connection(info.transport, info.local, peer, queue.clone()).tapped(info);
        let dispatcher = Dispatcher::start(handler, flow.clone(), queue.clone(), info.clone());
        Self {
            flow,
            queue,
            dispatcher,
            writer,
            write_timeout: limits.write_timeout,
        }
    }

    /// Asks `handler` to admit what was read from the peer (before it is
    /// parsed); what is not dropped is copied to the capture tap.
    pub(crate) fn admit<H: MessageHandler>(&self, handler: &H, bytes: &[u8]) -> Admission {
        let admission = handler.admit(self.flow.peer);
        if admission != Admission::Drop {
            self.flow.capture_received(bytes);
        }
        admission
    }

    /// Ends the connection's tasks: the handler finishes what it was given
    /// (bounded by the write timeout), what it queued is written (bounded
    /// likewise) and the writer shuts the stream down. Returns once both
    /// tasks are gone: the caller then releases the connection's slot.
    pub(crate) async fn close(self) {
        let Self {
            flow,
            queue,
            dispatcher,
            mut writer,
            write_timeout,
        } = self;
        drop(flow);
        dispatcher.finish(write_timeout).await;
        queue.close();
        // The writer bounds itself; this bound is for a writer whose stream
        // ignores cancellation.
        if tokio::time::timeout(write_timeout * 2, &mut writer)
            .await
            .is_err()
        {
            writer.abort();
        }
    }
}

/// Messages read but not yet handled, per connection.
const BACKLOG: usize = 16;

/// One thing a connection read, for the handler.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A framed TCP/TLS message.
    Message(Message),
    /// A WebSocket message.
    Datagram(Bytes),
    /// Over the source's rate limit: a 503 at most.
    Refused(Bytes),
    /// A CRLFCRLF ping, answered in its place among the responses.
    KeepAlive,
    /// Stream input that cannot be framed; the connection closes after it.
    Unframeable {
        head: Option<Message>,
        error: ParseError,
    },
}

/// The handler side of one connection.
#[derive(Debug)]
pub(crate) struct Dispatcher {
    backlog: mpsc::Sender<Inbound>,
    task: JoinHandle<()>,
}

/// The handler did not take a message within the wait (the reader closes
/// the connection).
#[derive(Debug)]
pub(crate) struct Stalled;

impl Dispatcher {
    /// Starts the task that hands what `flow`'s connection reads to `handler`,
    /// in order. Once `queue` is aborted (the peer stopped reading), what is
    /// left is dropped unhandled: every answer to it would fail.
    pub(crate) fn start<H: MessageHandler>(
        handler: Arc<H>,
        flow: Flow,
        queue: Arc<SendQueue>,
        info: Arc<ListenerInfo>,
    ) -> Self {
        let (backlog, mut inbound) = mpsc::channel::<Inbound>(BACKLOG);
        let task = tokio::spawn(async move {
            while let Some(item) = inbound.recv().await {
                if queue.is_aborted() {
                    break;
                }
                let flow = flow.clone();
                match item {
                    Inbound::Message(message) => {
                        handler.handle_message(message, flow, &info).await;
                    }
                    Inbound::Datagram(data) => handler.handle_datagram(&data, flow, &info).await,
                    Inbound::Refused(data) => handler.handle_refused(&data, flow, &info).await,
                    // RFC 5626 §3.5.1: a CRLFCRLF ping gets a CRLF pong.
                    Inbound::KeepAlive => {
                        let _ = flow.send(b"\r\n").await;
                    }
                    Inbound::Unframeable { head, error } => {
                        handler.handle_unframeable(head, error, flow, &info).await;
                    }
                }
                // One message per turn: a connection with a long backlog
                // (a pipelining flood) never holds a worker thread while
                // other connections wait.
                tokio::task::yield_now().await;
            }
        });
        Self { backlog, task }
    }

    /// Queues `item`; while [`BACKLOG`] items wait, waits for room (the
    /// caller is not reading meanwhile) up to `wait`.
    pub(crate) async fn hand_over(&self, item: Inbound, wait: Duration) -> Result<(), Stalled> {
        match self.backlog.try_send(item) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(item)) => {
                match tokio::time::timeout(wait, self.backlog.send(item)).await {
                    Ok(Ok(())) => Ok(()),
                    _ => Err(Stalled),
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Stalled),
        }
    }

    /// No more input: lets the handler finish what is queued, for at most
    /// `within`, then stops it.
    pub(crate) async fn finish(self, within: Duration) {
        let Self { backlog, mut task } = self;
        drop(backlog);
        if tokio::time::timeout(within, &mut task).await.is_err() {
            task.abort();
        }
    }
}
