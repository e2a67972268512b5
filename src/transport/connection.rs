//! The send side of one stream connection: a queue bounded in bytes that no
//! sender ever waits on, and the writer task that drains it with a timeout
//! on every write. A peer that stops reading is cut off (queue full or write
//! timed out), and whatever then sends to it fails at once.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout_at};
use tokio_util::sync::CancellationToken;

/// Why a connection no longer takes messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("connection closed")]
    Closed,
    #[error("send queue full: the peer is not reading")]
    QueueFull,
    #[error("write timed out: the peer is not reading")]
    WriteTimeout,
    #[error("write failed")]
    WriteFailed,
}

impl SendError {
    const fn code(self) -> u8 {
        match self {
            Self::Closed => 1,
            Self::QueueFull => 2,
            Self::WriteTimeout => 3,
            Self::WriteFailed => 4,
        }
    }

    const fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Closed),
            2 => Some(Self::QueueFull),
            3 => Some(Self::WriteTimeout),
            4 => Some(Self::WriteFailed),
            _ => None,
        }
    }
}

/// The bounds of one connection's send side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterLimits {
    /// Bytes that may wait for the writer; a message that would go past
    /// it closes the connection (one message always fits an empty queue).
    pub max_queued_bytes: usize,
    /// Each write must complete within this, and a closing connection
    /// flushes what is queued within it too.
    pub write_timeout: Duration,
}

/// What is waiting for one connection's writer, shared by every flow that
/// leads to that peer.
#[derive(Debug)]
pub struct SendQueue {
    frames: mpsc::UnboundedSender<Bytes>,
    queued: AtomicUsize,
    limit: usize,
    /// 0 while open, else a [`SendError::code`].
    state: AtomicU8,
    /// Fires when the connection must end now, unflushed.
    aborted: CancellationToken,
    /// Fires on a normal close: the writer sends what is queued, then stops.
    closing: CancellationToken,
}

impl SendQueue {
    /// Queues `bytes` for the writer, never waiting: a closed connection or
    /// a full queue is an error at once (and a full queue ends the
    /// connection, since its peer is not reading).
    pub fn push(&self, bytes: &[u8]) -> Result<(), SendError> {
        if let Some(error) = self.state() {
            return Err(error);
        }
        let len = bytes.len();
        let before = self.queued.fetch_add(len, Ordering::AcqRel);
        if before > 0 && before.saturating_add(len) > self.limit {
            self.queued.fetch_sub(len, Ordering::AcqRel);
            self.abort(SendError::QueueFull);
            return Err(SendError::QueueFull);
        }
        if self.frames.send(Bytes::copy_from_slice(bytes)).is_err() {
            self.queued.fetch_sub(len, Ordering::AcqRel);
            self.set_state(SendError::Closed);
            return Err(SendError::Closed);
        }
        Ok(())
    }

    /// Closes normally: nothing more is taken; what is queued is written
    /// (within one write timeout), then the writer shuts the stream down.
    pub fn close(&self) {
        self.set_state(SendError::Closed);
        self.closing.cancel();
    }

    /// Ends the connection now, without flushing.
    pub fn abort(&self, why: SendError) {
        self.set_state(why);
        self.aborted.cancel();
    }

    /// Resolves once the connection was aborted (the reader then stops).
    pub async fn aborted(&self) {
        self.aborted.cancelled().await;
    }

    pub fn is_aborted(&self) -> bool {
        self.aborted.is_cancelled()
    }

    /// `None` while open; else why it stopped taking messages.
    pub fn state(&self) -> Option<SendError> {
        SendError::from_code(self.state.load(Ordering::Acquire))
    }

    /// Bytes queued and not yet written.
    pub fn queued_bytes(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// The first reason to stop wins.
    fn set_state(&self, why: SendError) {
        let _ = self
            .state
            .compare_exchange(0, why.code(), Ordering::AcqRel, Ordering::Acquire);
    }

    /// Writes one frame by `deadline`; on failure the connection is aborted.
    async fn write<F: FrameWriter>(&self, writer: &mut F, frame: Bytes, deadline: Instant) -> bool {
        let len = frame.len();
        // An abort (queue overflow) does not wait for the write in progress.
        let result = tokio::select! {
            biased;
            () = self.aborted.cancelled() => None,
            result = timeout_at(deadline, writer.write_frame(frame)) => Some(result),
        };
        self.queued.fetch_sub(len, Ordering::AcqRel);
        let Some(result) = result else {
            return false;
        };
        match result {
            Ok(Ok(())) => true,
            Ok(Err(_)) => {
                self.abort(SendError::WriteFailed);
                false
            }
            Err(_) => {
                self.abort(SendError::WriteTimeout);
                false
            }
        }
    }
}

/// Where a connection's writer puts whole messages: a byte stream (TCP,
/// TLS) or a WebSocket sink.
pub trait FrameWriter: Send + 'static {
    /// Writes and flushes one message.
    fn write_frame(&mut self, frame: Bytes) -> impl Future<Output = io::Result<()>> + Send;
    /// Ends the stream in order (TCP FIN, TLS close_notify, WebSocket close).
    fn shut_down(&mut self) -> impl Future<Output = ()> + Send;
}

/// A byte stream as a [`FrameWriter`].
#[derive(Debug)]
pub struct StreamWriter<W>(pub W);

impl<W: AsyncWrite + Unpin + Send + 'static> FrameWriter for StreamWriter<W> {
    async fn write_frame(&mut self, frame: Bytes) -> io::Result<()> {
        self.0.write_all(&frame).await?;
        self.0.flush().await
    }

    async fn shut_down(&mut self) {
        let _ = self.0.shutdown().await;
    }
}

/// Starts the writer task of one connection; returns the queue that feeds
/// it and the task, which ends once the queue is closed (after flushing,
/// within one write timeout) or aborted (at once). The task never outlives
/// `close` or `abort` by more than one write timeout.
pub fn start_writer<F: FrameWriter>(
    writer: F,
    limits: WriterLimits,
) -> (Arc<SendQueue>, JoinHandle<()>) {
    let (sender, frames) = mpsc::unbounded_channel();
    let queue = Arc::new(SendQueue {
        frames: sender,
        queued: AtomicUsize::new(0),
        limit: limits.max_queued_bytes,
        state: AtomicU8::new(0),
        aborted: CancellationToken::new(),
        closing: CancellationToken::new(),
    });
    let task = tokio::spawn(drain(writer, frames, queue.clone(), limits.write_timeout));
    (queue, task)
}

async fn drain<F: FrameWriter>(
    mut writer: F,
    mut frames: mpsc::UnboundedReceiver<Bytes>,
    queue: Arc<SendQueue>,
    write_timeout: Duration,
) {
    loop {
        let frame = tokio::select! {
            biased;
            () = queue.aborted.cancelled() => return,
            () = queue.closing.cancelled() => break,
            frame = frames.recv() => match frame {
                Some(frame) => frame,
                None => break,
            },
        };
        if !queue
            .write(&mut writer, frame, Instant::now() + write_timeout)
            .await
        {
            return;
        }
    }
    // Closing: what is already queued (a 400 before the close) goes out,
    // all of it within one write timeout.
    let deadline = Instant::now() + write_timeout;
    while let Ok(frame) = frames.try_recv() {
        if queue.is_aborted() || !queue.write(&mut writer, frame, deadline).await {
            return;
        }
    }
    let _ = timeout_at(deadline, writer.shut_down()).await;
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    const LIMITS: WriterLimits = WriterLimits {
        max_queued_bytes: 1000,
        write_timeout: Duration::from_millis(500),
    };

    #[tokio::test(start_paused = true)]
    async fn a_reading_peer_gets_every_message_in_order_then_eof() {
        let (ours, mut peer) = tokio::io::duplex(64);
        let (queue, task) = start_writer(StreamWriter(ours), LIMITS);
        for i in 0..20 {
            queue.push(format!("m{i:02};").as_bytes()).expect("queued");
        }
        queue.close();
        assert_eq!(queue.push(b"late"), Err(SendError::Closed));
        let mut got = String::new();
        peer.read_to_string(&mut got).await.expect("read");
        let want: String = (0..20).map(|i| format!("m{i:02};")).collect();
        assert_eq!(got, want);
        task.await.expect("writer ends");
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_stops_reading_is_cut_off_by_the_queue_or_the_timeout() {
        let (ours, _peer) = tokio::io::duplex(16);
        let (queue, task) = start_writer(StreamWriter(ours), LIMITS);
        // The first write blocks after 16 bytes; the queue then fills.
        let mut pushed = 0;
        while queue.push(&[b'x'; 100]).is_ok() {
            pushed += 1;
            tokio::task::yield_now().await;
            assert!(pushed < 100, "the queue is bounded");
        }
        assert_eq!(queue.state(), Some(SendError::QueueFull));
        assert!(queue.queued_bytes() <= LIMITS.max_queued_bytes);
        assert_eq!(queue.push(b"x"), Err(SendError::QueueFull), "fails at once");
        tokio::time::timeout(Duration::from_millis(1), task)
            .await
            .expect("an aborted writer ends at once")
            .expect("writer");

        let (ours, _peer) = tokio::io::duplex(16);
        let (queue, task) = start_writer(StreamWriter(ours), LIMITS);
        queue.push(&[b'y'; 100]).expect("queued");
        let started = Instant::now();
        queue.aborted().await;
        assert_eq!(queue.state(), Some(SendError::WriteTimeout));
        assert_eq!(started.elapsed(), LIMITS.write_timeout);
        task.await.expect("writer");
    }

    #[tokio::test(start_paused = true)]
    async fn closing_never_waits_longer_than_the_write_timeout() {
        let (ours, _peer) = tokio::io::duplex(16);
        let (queue, task) = start_writer(StreamWriter(ours), LIMITS);
        queue.push(&[b'z'; 10]).expect("fits the pipe");
        queue.push(&[b'z'; 200]).expect("queued");
        tokio::task::yield_now().await;
        let started = Instant::now();
        queue.close();
        task.await.expect("writer");
        assert!(started.elapsed() <= LIMITS.write_timeout);
        assert_eq!(queue.push(b"z"), Err(SendError::Closed));
    }
}
