//! The port pool: `[media] port_range` in pairs (RTP on the even port, RTCP
//! on the odd one above, RFC 3550 §11), each held by one call until its
//! lease drops. Handed out round-robin so a port just released is the last
//! to be used again (late packets of the old call do not reach a new one);
//! a port some other program holds is skipped; a pair in use is never
//! handed out twice. When none is left, the caller refuses the call.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;

/// No pair of the range is free (or bindable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("every RTP port pair of the media port range is in use")]
pub struct Exhausted;

#[derive(Debug)]
struct Pairs {
    in_use: Vec<bool>,
    /// Where the next search starts.
    cursor: usize,
    used: usize,
}

/// The pairs of one port range.
#[derive(Debug)]
pub struct PortPool {
    first: u16,
    pairs: Mutex<Pairs>,
}

/// One pair, bound; released when dropped.
#[derive(Debug)]
pub struct Lease {
    pub rtp: UdpSocket,
    /// `None` with rtcp-mux (RFC 5761): RTCP shares the RTP port.
    pub rtcp: Option<UdpSocket>,
    pub port: u16,
    index: usize,
    pool: Arc<PortPool>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut pairs = self.pool.lock();
        if std::mem::replace(&mut pairs.in_use[self.index], false) {
            pairs.used -= 1;
        }
    }
}

impl PortPool {
    /// `first` even, `last` odd: (last - first + 1) / 2 pairs.
    pub fn new(first: u16, last: u16) -> Arc<Self> {
        let count = usize::from(last.saturating_sub(first)).div_ceil(2);
        Arc::new(Self {
            first,
            pairs: Mutex::new(Pairs {
                in_use: vec![false; count],
                cursor: 0,
                used: 0,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pairs> {
        self.pairs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn capacity(&self) -> usize {
        self.lock().in_use.len()
    }

    pub fn in_use(&self) -> usize {
        self.lock().used
    }

    /// Binds a free pair on `ip` (the RTCP port too unless `mux`).
    pub fn lease(self: &Arc<Self>, ip: IpAddr, mux: bool) -> Result<Lease, Exhausted> {
        let attempts = self.capacity();
        for _ in 0..attempts {
            let Some(index) = self.reserve() else {
                return Err(Exhausted);
            };
            let port = self.first + 2 * index as u16;
            match bind_pair(ip, port, mux) {
                Ok((rtp, rtcp)) => {
                    return Ok(Lease {
                        rtp,
                        rtcp,
                        port,
                        index,
                        pool: self.clone(),
                    });
                }
                Err(error) => {
                    tracing::debug!(port, %error, "media port taken by another program: skipped");
                    let mut pairs = self.lock();
                    pairs.in_use[index] = false;
                    pairs.used -= 1;
                }
            }
        }
        Err(Exhausted)
    }

    /// Marks the next free pair from the cursor as in use.
    fn reserve(&self) -> Option<usize> {
        let mut pairs = self.lock();
        let count = pairs.in_use.len();
        let start = pairs.cursor;
        let index = (0..count)
            .map(|offset| (start + offset) % count)
            .find(|&i| !pairs.in_use[i])?;
        pairs.in_use[index] = true;
        pairs.used += 1;
        pairs.cursor = (index + 1) % count;
        Some(index)
    }
}

fn bind_pair(ip: IpAddr, port: u16, mux: bool) -> std::io::Result<(UdpSocket, Option<UdpSocket>)> {
    let rtp = bind(SocketAddr::new(ip, port))?;
    let rtcp = if mux {
        None
    } else {
        Some(bind(SocketAddr::new(ip, port + 1))?)
    };
    Ok((rtp, rtcp))
}

fn bind(address: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = std::net::UdpSocket::bind(address)?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[tokio::test]
    async fn pairs_are_leased_once_round_robin_and_released() {
        let pool = PortPool::new(46_100, 46_105);
        assert_eq!(pool.capacity(), 3);
        let a = pool.lease(LOOPBACK, false).expect("first");
        let b = pool.lease(LOOPBACK, true).expect("second");
        assert_eq!((a.port, b.port), (46_100, 46_102));
        assert!(a.rtcp.is_some() && b.rtcp.is_none());
        let c = pool.lease(LOOPBACK, false).expect("third");
        assert_eq!(pool.lease(LOOPBACK, false).map(|l| l.port), Err(Exhausted));
        assert_eq!(pool.in_use(), 3);
        drop(a);
        // The freed pair is the only one left, so it comes back.
        let again = pool.lease(LOOPBACK, false).expect("freed pair");
        assert_eq!(again.port, 46_100);
        drop((b, c));
        // Round robin: after 46100 comes 46102, not 46100 again.
        drop(again);
        assert_eq!(pool.lease(LOOPBACK, false).expect("next").port, 46_102);
    }

    #[tokio::test]
    async fn a_port_another_program_holds_is_skipped() {
        let pool = PortPool::new(46_110, 46_113);
        let _other = std::net::UdpSocket::bind((LOOPBACK, 46_111)).expect("bind RTCP port");
        let lease = pool.lease(LOOPBACK, false).expect("second pair");
        assert_eq!(lease.port, 46_112);
        assert_eq!(pool.in_use(), 1);
        assert_eq!(pool.lease(LOOPBACK, false).map(|l| l.port), Err(Exhausted));
    }
}
