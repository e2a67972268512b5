//! Batched datagram input: one recvmmsg(2) reads every datagram waiting on
//! the socket, up to a batch, so a burst costs one system call, not one each.

use std::cell::RefCell;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Datagrams read by one call, each in a buffer of its own.
pub(super) struct Inbox {
    buffers: Vec<Vec<u8>>,
    /// Per datagram read: its buffer, its length and its source.
    received: Vec<(usize, usize, SocketAddr)>,
}

impl Inbox {
    /// Room for `batch` datagrams of up to `max_datagram` bytes. Pages of a
    /// buffer are only touched as far as datagrams fill them.
    pub(super) fn new(batch: usize, max_datagram: usize) -> Self {
        Self {
            buffers: vec![vec![0; max_datagram]; batch.max(1)],
            received: Vec::with_capacity(batch.max(1)),
        }
    }

    /// Reads what the socket holds without waiting: the number of datagrams
    /// read, or `WouldBlock` when there were none (the socket's readiness is
    /// then cleared, so `readable()` waits for the next).
    pub(super) fn receive(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        socket.try_io(Interest::READABLE, || self.read_now(socket))
    }

    /// The datagrams of the last [`Inbox::receive`], in arrival order.
    pub(super) fn datagrams(&self) -> impl Iterator<Item = (&[u8], SocketAddr)> {
        self.received
            .iter()
            .map(|&(slot, len, peer)| (&self.buffers[slot][..len], peer))
    }

    fn read_now(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        let Self { buffers, received } = self;
        received.clear();
        HEADERS.with_borrow_mut(|cached| {
            // The headers hold raw pointers (not Send), so they cannot live
            // in the receive loop's future: each thread keeps its own set,
            // used only within this call.
            if cached
                .as_ref()
                .is_some_and(|headers| headers.len < buffers.len())
            {
                *cached = None;
            }
            let headers = cached.get_or_insert_with(|| Headers {
                len: buffers.len(),
                raw: MultiHeaders::preallocate(buffers.len(), None),
            });
            let mut slices: Vec<[IoSliceMut<'_>; 1]> = buffers
                .iter_mut()
                .map(|buffer| [IoSliceMut::new(buffer)])
                .collect();
            let results = recvmmsg(
                socket.as_raw_fd(),
                &mut headers.raw,
                slices.iter_mut(),
                MsgFlags::MSG_DONTWAIT,
                None,
            )
            .map_err(io::Error::from)?;
            let mut read = 0;
            for (slot, message) in results.enumerate() {
                read += 1;
                // A datagram without a usable source cannot be answered.
                if let Some(peer) = message.address.as_ref().and_then(socket_addr) {
                    received.push((slot, message.bytes, peer));
                }
            }
            Ok(read)
        })
    }
}

/// recvmmsg(2) headers for up to `len` datagrams.
struct Headers {
    len: usize,
    raw: MultiHeaders<SockaddrStorage>,
}

thread_local! {
    static HEADERS: RefCell<Option<Headers>> = const { RefCell::new(None) };
}

fn socket_addr(address: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(SocketAddr::from(*v4));
    }
    address.as_sockaddr_in6().map(|v6| SocketAddr::from(*v6))
}
