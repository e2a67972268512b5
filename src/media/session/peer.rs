//! Where the peer's media goes and comes from. Symmetric RTP (RFC 4961):
//! we send to the address its packets come from, which behind a NAT is not
//! the one in its SDP. Any UDP source may be spoofed, so a source is only
//! taken from the SDP's address or the SIP peer's, one at a time (another
//! takes over only after the current one has been quiet for a while), and
//! the SDP address gets nothing before the peer has shown it receives.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::time::Instant;

/// A source quiet for this long can be replaced (a NAT rebinding).
const RELATCH_AFTER: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub(super) struct Peer {
    /// What the SDP says.
    signalled: Option<SocketAddr>,
    /// The address SIP came from.
    signalling: IpAddr,
    latched: Option<SocketAddr>,
    last_heard: Option<Instant>,
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl Peer {
    pub(super) fn new(signalled: Option<SocketAddr>, signalling: IpAddr) -> Self {
        Self {
            signalled,
            signalling: canonical(signalling),
            latched: None,
            last_heard: None,
        }
    }

    /// The SDP changed (a re-INVITE); the latched source stays.
    pub(super) fn resignal(&mut self, signalled: Option<SocketAddr>) {
        self.signalled = signalled;
    }

    /// Whether a packet from `from` is the peer's (and if so, it is where
    /// we send from now on).
    pub(super) fn accept(&mut self, from: SocketAddr, now: Instant) -> bool {
        let ip = canonical(from.ip());
        let known =
            ip == self.signalling || self.signalled.is_some_and(|s| canonical(s.ip()) == ip);
        if !known {
            return false;
        }
        let current = self.latched == Some(from);
        let quiet = self
            .last_heard
            .is_none_or(|heard| now.duration_since(heard) >= RELATCH_AFTER);
        if !current && !quiet {
            return false;
        }
        if !current && self.latched.is_some() {
            tracing::debug!(%from, "media source changed (NAT rebinding?)");
        }
        self.latched = Some(from);
        self.last_heard = Some(now);
        true
    }

    /// Where to send: where the peer's packets come from, else its SDP
    /// address once the peer has shown it receives what we send there —
    /// `verified` (its ACK of our 2xx, a stream transport) proves the SIP
    /// peer's address only, so an SDP address elsewhere gets nothing until
    /// media comes from it (else one INVITE could aim a stream of ours at
    /// any third party).
    pub(super) fn destination(&self, verified: bool) -> Option<SocketAddr> {
        self.latched.or(self
            .signalled
            .filter(|sdp| verified && canonical(sdp.ip()) == self.signalling))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("address")
    }

    #[tokio::test(start_paused = true)]
    async fn latching_follows_the_peer_but_not_strangers() {
        let mut peer = Peer::new(
            Some(addr("192.0.2.1:5004")),
            "198.51.100.7".parse().expect("ip"),
        );
        assert_eq!(peer.destination(false), None, "unverified: nothing yet");
        assert_eq!(
            peer.destination(true),
            None,
            "the SIP peer proved its own address, not the SDP's elsewhere"
        );
        let now = Instant::now();
        assert!(!peer.accept(addr("203.0.113.9:4000"), now), "a stranger");
        // Behind a NAT: from the SIP peer's address, another port.
        assert!(peer.accept(addr("198.51.100.7:31000"), now));
        assert_eq!(peer.destination(false), Some(addr("198.51.100.7:31000")));
        assert!(!peer.accept(addr("198.51.100.7:31002"), now + Duration::from_millis(500)));
        assert!(peer.accept(addr("198.51.100.7:31002"), now + Duration::from_secs(3)));
        assert_eq!(peer.destination(false), Some(addr("198.51.100.7:31002")));
        assert!(!peer.accept(
            addr("[::ffff:198.51.100.7]:31002"),
            now + Duration::from_secs(3)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn the_sdp_address_of_the_sip_peer_gets_media_once_verified() {
        let peer = Peer::new(
            Some(addr("198.51.100.7:5004")),
            "::ffff:198.51.100.7".parse().expect("ip"),
        );
        assert_eq!(peer.destination(false), None);
        assert_eq!(peer.destination(true), Some(addr("198.51.100.7:5004")));
    }
}
