//! What one call's stream is, from the offer and the answer we sent
//! (RFC 3264): the payload type and codec we answered, telephone-event,
//! the ptime to send at, where the peer receives RTP and RTCP, rtcp-mux,
//! and our direction.

use std::net::{IpAddr, SocketAddr};

use super::codec::Codec;
use crate::rules::sdp::{self, Direction, MediaDescription, SessionDescription};

/// ptimes we send at (RFC 4566 `a=ptime`); others become 20 ms.
const PTIMES: [u32; 6] = [10, 20, 30, 40, 50, 60];

/// The parameters of the stream the engine serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamParams {
    /// The payload type we answered and its RTP clock.
    pub payload_type: u8,
    pub clock: u32,
    /// `None`: a codec we only pass through (echo), not encode.
    pub codec: Option<Codec>,
    /// RFC 4733 telephone-event: payload type and clock.
    pub event: Option<(u8, u32)>,
    pub ptime_ms: u32,
    /// Where the peer said it receives RTP (`None`: port 0 or a hold
    /// address, RFC 3264 §8.4).
    pub remote_rtp: Option<SocketAddr>,
    pub remote_rtcp: Option<SocketAddr>,
    /// RFC 5761: RTCP on the RTP port.
    pub rtcp_mux: bool,
    /// Our direction, as answered.
    pub direction: Direction,
}

impl StreamParams {
    /// Whether we may send RTP.
    pub fn sends(&self) -> bool {
        matches!(self.direction, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether the peer should be sending us RTP (the media timeout runs).
    pub fn receives(&self) -> bool {
        matches!(self.direction, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The stream `answer` gives `port` (our port), against `offer`;
    /// `None` when the answer serves no audio stream on it.
    pub fn of(offer: &str, answer: &str, port: u16) -> Option<Self> {
        let offer = sdp::parse(offer).ok()?;
        let answer = sdp::parse(answer).ok()?;
        let index = answer
            .media
            .iter()
            .position(|m| m.port == port && m.media.eq_ignore_ascii_case("audio"))?;
        let ours = &answer.media[index];
        let theirs = offer.media.get(index)?;
        let formats: Vec<(u8, String, u32)> = ours
            .formats
            .iter()
            .filter_map(|f| f.parse::<u8>().ok())
            .filter_map(|pt| format(ours, pt))
            .collect();
        let is_event = |name: &str| name.eq_ignore_ascii_case("telephone-event");
        let (payload_type, name, clock) = formats.iter().find(|(_, n, _)| !is_event(n))?.clone();
        let event = formats
            .iter()
            .find(|(_, n, _)| is_event(n))
            .map(|(pt, _, clock)| (*pt, *clock));
        let remote_ip = remote_address(&offer, theirs);
        let remote_rtp = remote_ip
            .filter(|_| theirs.port != 0)
            .map(|ip| SocketAddr::new(ip, theirs.port));
        let rtcp_mux = ours.rtcp_mux && theirs.rtcp_mux;
        let remote_rtcp = if rtcp_mux {
            remote_rtp
        } else {
            remote_rtp.map(|rtp| rtcp_address(theirs, rtp))
        };
        Some(Self {
            payload_type,
            clock,
            codec: Codec::from_rtpmap(&name, clock),
            event,
            ptime_ms: ptime(&offer, theirs),
            remote_rtp,
            remote_rtcp,
            rtcp_mux,
            direction: answer.direction_of(ours),
        })
    }
}

/// A payload type's encoding and clock: its rtpmap, else RFC 3551's static
/// assignment.
fn format(media: &MediaDescription, payload_type: u8) -> Option<(u8, String, u32)> {
    if let Some(map) = media.rtpmap(payload_type) {
        return Some((payload_type, map.encoding.clone(), map.clock_rate));
    }
    let name = match payload_type {
        0 => "PCMU",
        8 => "PCMA",
        9 => "G722",
        _ => return None,
    };
    Some((payload_type, name.to_owned(), 8000))
}

/// The m-line's `c=`, else the session's; not a hold address (0.0.0.0,
/// RFC 3264 §8.4) nor a name (we do not resolve).
fn remote_address(offer: &SessionDescription, media: &MediaDescription) -> Option<IpAddr> {
    let connection = media.connection.as_ref().or(offer.connection.as_ref())?;
    let address = connection.address.split('/').next()?;
    address
        .parse::<IpAddr>()
        .ok()
        .filter(|ip| !ip.is_unspecified())
}

/// RFC 3605 `a=rtcp:port [IN IP4 address]`, else the RTP port + 1 (RFC 3550
/// §11).
fn rtcp_address(media: &MediaDescription, rtp: SocketAddr) -> SocketAddr {
    let attribute = media
        .attributes
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case("rtcp"))
        .and_then(|a| a.value.as_deref());
    let mut parts = attribute.unwrap_or("").split_whitespace();
    let port = parts.next().and_then(|p| p.parse::<u16>().ok());
    let ip = parts
        .nth(2)
        .and_then(|a| a.parse::<IpAddr>().ok())
        .unwrap_or(rtp.ip());
    SocketAddr::new(ip, port.unwrap_or(rtp.port().wrapping_add(1)))
}

/// The offer's `a=ptime` (media, else session level), when one we send.
fn ptime(offer: &SessionDescription, media: &MediaDescription) -> u32 {
    let value = media
        .attributes
        .iter()
        .chain(&offer.attributes)
        .find(|a| a.name.eq_ignore_ascii_case("ptime"))
        .and_then(|a| a.value.as_deref())
        .and_then(|v| v.trim().parse::<u32>().ok());
    value.filter(|p| PTIMES.contains(p)).unwrap_or(20)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
        m=audio 5004 RTP/AVP 9 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:30\r\n\
        a=rtcp:6000 IN IP4 127.0.0.2\r\nm=video 5006 RTP/AVP 96\r\n";

    fn answer(port: u16, extra: &str) -> String {
        format!(
            "v=0\r\no=- 2 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {port} RTP/AVP 9 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\n{extra}\
             m=video 0 RTP/AVP 96\r\n"
        )
    }

    #[test]
    fn the_served_stream_of_an_offer_and_answer() {
        let params =
            StreamParams::of(OFFER, &answer(40_000, "a=sendrecv\r\n"), 40_000).expect("stream");
        assert_eq!(params.payload_type, 9);
        assert_eq!(params.codec, Some(Codec::G722));
        assert_eq!(params.event, Some((101, 8000)));
        assert_eq!(params.ptime_ms, 30);
        assert_eq!(
            params.remote_rtp,
            Some("127.0.0.1:5004".parse().expect("addr"))
        );
        assert_eq!(
            params.remote_rtcp,
            Some("127.0.0.2:6000".parse().expect("addr"))
        );
        assert!(params.sends() && params.receives());
        assert_eq!(StreamParams::of(OFFER, &answer(40_002, ""), 40_000), None);
    }

    #[test]
    fn hold_and_mux() {
        let hold = OFFER
            .replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0")
            .replace("a=ptime:30\r\n", "a=ptime:7\r\na=rtcp-mux\r\n");
        let params = StreamParams::of(
            &hold,
            &answer(40_000, "a=recvonly\r\na=rtcp-mux\r\n"),
            40_000,
        )
        .expect("stream");
        assert_eq!(params.remote_rtp, None);
        assert!(params.rtcp_mux);
        assert_eq!(params.ptime_ms, 20);
        assert!(!params.sends() && params.receives());
    }
}
