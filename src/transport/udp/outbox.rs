//! Batched datagram output: what a receive loop answers while it handles a
//! batch of datagrams is queued here and goes out in sendmmsg(2) calls when
//! the batch is done, so a burst of answers costs one system call (and one
//! wake-up of the peer) instead of one each.
//!
//! The queue is task-local: only sends made by the receive loop's own task,
//! while it handles what it read, are batched. Timers, delayed steps and
//! retransmissions run in other tasks and send at once.

use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use rustix::net::{
    MMsgHdr, SendAncillaryBuffer, SendFlags, SocketAddrAny, addr::SocketAddrArg, sendmmsg,
};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tracing::debug;

tokio::task_local! {
    static OUTBOX: RefCell<Outbox>;
}

/// At most this many datagrams wait for one flush (a received batch's
/// worth); the next send flushes first.
const MAX_QUEUED: usize = 32;
/// At most this many bytes wait for one flush: a burst stays well inside a
/// peer's default receive buffer (about 200 kB of skb memory on Linux,
/// which large datagrams fill at twice their size).
const MAX_QUEUED_BYTES: usize = 32 * 1024;

/// What [`queue`] did with a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Queued {
    /// It waits for the batch's flush.
    Yes,
    /// The outbox is full: [`flush`] it, then queue again.
    Full,
    /// Not a receive loop of this socket: the caller sends it itself.
    NotHere,
}

/// The answers queued for one socket.
pub(super) struct Outbox {
    socket: Arc<UdpSocket>,
    bytes: Vec<u8>,
    datagrams: Vec<(Range<usize>, SocketAddr)>,
}

impl Outbox {
    pub(super) fn new(socket: Arc<UdpSocket>) -> Self {
        Self {
            socket,
            bytes: Vec::new(),
            datagrams: Vec::new(),
        }
    }

    /// Runs `work` (a receive loop) with this outbox as its task's queue.
    pub(super) async fn scope<F: Future>(self, work: F) -> F::Output {
        OUTBOX.scope(RefCell::new(self), work).await
    }
}

/// Queues `bytes` for `peer` if the current task is a receive loop of
/// `socket`.
pub(crate) fn queue(socket: &Arc<UdpSocket>, peer: SocketAddr, bytes: &[u8]) -> Queued {
    OUTBOX
        .try_with(|outbox| {
            let Ok(mut outbox) = outbox.try_borrow_mut() else {
                return Queued::NotHere;
            };
            if !Arc::ptr_eq(&outbox.socket, socket) {
                return Queued::NotHere;
            }
            let empty = outbox.datagrams.is_empty();
            if !empty
                && (outbox.datagrams.len() >= MAX_QUEUED
                    || outbox.bytes.len() + bytes.len() > MAX_QUEUED_BYTES)
            {
                return Queued::Full;
            }
            let start = outbox.bytes.len();
            outbox.bytes.extend_from_slice(bytes);
            let end = outbox.bytes.len();
            outbox.datagrams.push((start..end, peer));
            Queued::Yes
        })
        .unwrap_or(Queued::NotHere)
}

/// Sends everything queued in the current task's outbox. A full send buffer
/// is waited on for at most `wait` (then the rest is dropped, as a congested
/// network would drop it); a datagram the kernel refuses is skipped.
pub(crate) async fn flush(wait: Duration) {
    let Ok(Some((socket, bytes, datagrams))) = OUTBOX.try_with(|outbox| {
        let mut outbox = outbox.borrow_mut();
        if outbox.datagrams.is_empty() {
            return None;
        }
        let bytes = std::mem::take(&mut outbox.bytes);
        let datagrams = std::mem::take(&mut outbox.datagrams);
        Some((outbox.socket.clone(), bytes, datagrams))
    }) else {
        return;
    };
    send_all(&socket, &bytes, &datagrams, wait).await;
    // The buffers go back, emptied, so the next batch allocates nothing.
    let (mut bytes, mut datagrams) = (bytes, datagrams);
    bytes.clear();
    datagrams.clear();
    let _ = OUTBOX.try_with(|outbox| {
        let mut outbox = outbox.borrow_mut();
        if outbox.datagrams.is_empty() {
            outbox.bytes = bytes;
            outbox.datagrams = datagrams;
        }
    });
}

async fn send_all(
    socket: &UdpSocket,
    bytes: &[u8],
    datagrams: &[(Range<usize>, SocketAddr)],
    wait: Duration,
) {
    let mut next = 0;
    while next < datagrams.len() {
        let rest = &datagrams[next..];
        match socket.try_io(Interest::WRITABLE, || send_now(socket, bytes, rest)) {
            Ok(sent) => next += sent.max(1),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                if tokio::time::timeout(wait, socket.writable()).await.is_err() {
                    crate::warn_limited!(
                        dropped = rest.len(),
                        "UDP send buffer full; answers dropped"
                    );
                    return;
                }
            }
            Err(error) => {
                // The first datagram left was refused (unreachable, too
                // big…): it concerns that peer only.
                debug!(%error, peer = %rest[0].1, "UDP send failed");
                next += 1;
            }
        }
    }
}

/// One sendmmsg(2) call: how many of `datagrams` (from the first) went out.
fn send_now(
    socket: &UdpSocket,
    bytes: &[u8],
    datagrams: &[(Range<usize>, SocketAddr)],
) -> io::Result<usize> {
    let slices: Vec<[IoSlice<'_>; 1]> = datagrams
        .iter()
        .map(|(range, _)| [IoSlice::new(&bytes[range.clone()])])
        .collect();
    let addresses: Vec<SocketAddrAny> = datagrams.iter().map(|(_, peer)| peer.as_any()).collect();
    let mut controls: Vec<SendAncillaryBuffer<'_, '_, '_>> = datagrams
        .iter()
        .map(|_| SendAncillaryBuffer::default())
        .collect();
    let mut headers: Vec<MMsgHdr<'_>> = slices
        .iter()
        .zip(&addresses)
        .zip(controls.iter_mut())
        .map(|((slice, address), control)| MMsgHdr::new_with_addr(address, slice, control))
        .collect();
    Ok(sendmmsg(socket, &mut headers, SendFlags::DONTWAIT)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn socket() -> Arc<UdpSocket> {
        Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"))
    }

    #[tokio::test]
    async fn only_the_loop_of_the_same_socket_queues_and_a_full_outbox_says_so() {
        let (ours, other) = (socket().await, socket().await);
        let peer = other.local_addr().expect("addr");
        assert_eq!(queue(&ours, peer, b"x"), Queued::NotHere, "outside a loop");
        Outbox::new(ours.clone())
            .scope(async {
                assert_eq!(queue(&other, peer, b"x"), Queued::NotHere, "another socket");
                for _ in 0..MAX_QUEUED {
                    assert_eq!(queue(&ours, peer, b"answer"), Queued::Yes);
                }
                assert_eq!(queue(&ours, peer, b"answer"), Queued::Full, "by count");
                flush(Duration::from_millis(100)).await;
                let big = vec![b'x'; MAX_QUEUED_BYTES];
                assert_eq!(
                    queue(&ours, peer, &big),
                    Queued::Yes,
                    "one alone always fits"
                );
                assert_eq!(queue(&ours, peer, b"x"), Queued::Full, "by bytes");
                flush(Duration::from_millis(100)).await;
            })
            .await;
        // Everything flushed arrived, in order.
        let mut buf = vec![0u8; 65_535];
        for _ in 0..MAX_QUEUED {
            let len = other.recv(&mut buf).await.expect("recv");
            assert_eq!(&buf[..len], b"answer");
        }
        let len = other.recv(&mut buf).await.expect("recv");
        assert_eq!(len, MAX_QUEUED_BYTES);
    }
}
