//! HEP v3 (the Homer Encapsulation Protocol, "HEP3"/EEP) encoding: a
//! captured SIP message with its addresses, ports, time and the capture
//! agent's id, as Kamailio, OpenSIPS, FreeSWITCH and Asterisk send it to a
//! Homer collector. Every value is in network byte order.

use std::net::{IpAddr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::sip::Transport;

/// Vendor id of the generic chunks (all of ours).
const GENERIC: u16 = 0x0000;
/// Chunk types of the HEP v3 specification.
pub mod chunk {
    pub const IP_FAMILY: u16 = 0x0001;
    pub const IP_PROTOCOL: u16 = 0x0002;
    pub const IPV4_SOURCE: u16 = 0x0003;
    pub const IPV4_DESTINATION: u16 = 0x0004;
    pub const IPV6_SOURCE: u16 = 0x0005;
    pub const IPV6_DESTINATION: u16 = 0x0006;
    pub const SOURCE_PORT: u16 = 0x0007;
    pub const DESTINATION_PORT: u16 = 0x0008;
    pub const TIMESTAMP_SECONDS: u16 = 0x0009;
    pub const TIMESTAMP_MICROSECONDS: u16 = 0x000a;
    pub const PROTOCOL_TYPE: u16 = 0x000b;
    pub const CAPTURE_AGENT_ID: u16 = 0x000c;
    pub const AUTH_KEY: u16 = 0x000e;
    pub const PAYLOAD: u16 = 0x000f;
}
/// `IP_FAMILY` values (the socket API's AF_INET and AF_INET6).
pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 10;
/// `PROTOCOL_TYPE` of SIP.
pub const PROTOCOL_SIP: u8 = 1;
/// Largest HEP packet: its length field is 16 bits.
pub const MAX_PACKET: usize = u16::MAX as usize;

/// One message as seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub transport: Transport,
    pub time: SystemTime,
    pub payload: &'a [u8],
}

/// Encodes `packet` for capture agent `node_id` (with `password` as the
/// auth key when set) into `out`, replacing what it held; `false` when the
/// message is too large for one HEP packet.
pub fn encode(
    packet: &Packet<'_>,
    node_id: u32,
    password: Option<&str>,
    out: &mut Vec<u8>,
) -> bool {
    out.clear();
    out.extend_from_slice(b"HEP3\0\0");
    // IPv4-mapped peers of an IPv6 socket are the IPv4 hosts they stand for.
    let (source, destination) = (
        packet.source.ip().to_canonical(),
        packet.destination.ip().to_canonical(),
    );
    match (source, destination) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            put(out, chunk::IP_FAMILY, &[AF_INET]);
            put(out, chunk::IPV4_SOURCE, &src.octets());
            put(out, chunk::IPV4_DESTINATION, &dst.octets());
        }
        _ => {
            let v6 = |ip: IpAddr| match ip {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            put(out, chunk::IP_FAMILY, &[AF_INET6]);
            put(out, chunk::IPV6_SOURCE, &v6(source).octets());
            put(out, chunk::IPV6_DESTINATION, &v6(destination).octets());
        }
    }
    // IANA protocol numbers: UDP 17; TCP 6 carries TLS and WebSocket too.
    let protocol = if packet.transport == Transport::Udp {
        17
    } else {
        6
    };
    put(out, chunk::IP_PROTOCOL, &[protocol]);
    put(out, chunk::SOURCE_PORT, &packet.source.port().to_be_bytes());
    put(
        out,
        chunk::DESTINATION_PORT,
        &packet.destination.port().to_be_bytes(),
    );
    let since_epoch = packet.time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = u32::try_from(since_epoch.as_secs()).unwrap_or(u32::MAX);
    put(out, chunk::TIMESTAMP_SECONDS, &seconds.to_be_bytes());
    put(
        out,
        chunk::TIMESTAMP_MICROSECONDS,
        &since_epoch.subsec_micros().to_be_bytes(),
    );
    put(out, chunk::PROTOCOL_TYPE, &[PROTOCOL_SIP]);
    put(out, chunk::CAPTURE_AGENT_ID, &node_id.to_be_bytes());
    if let Some(password) = password {
        put(out, chunk::AUTH_KEY, password.as_bytes());
    }
    if out.len() + 6 + packet.payload.len() > MAX_PACKET {
        return false;
    }
    put(out, chunk::PAYLOAD, packet.payload);
    let total = u16::try_from(out.len()).unwrap_or(u16::MAX).to_be_bytes();
    out[4..6].copy_from_slice(&total);
    true
}

/// One chunk: vendor, type, length (header included), value.
fn put(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let length = u16::try_from(6 + value.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&GENERIC.to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ipv4_udp_packet_layout() {
        let packet = Packet {
            source: "192.0.2.1:5060".parse().expect("addr"),
            destination: "192.0.2.2:5080".parse().expect("addr"),
            transport: Transport::Udp,
            time: UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_000),
            payload: b"BYE",
        };
        let mut out = Vec::new();
        assert!(encode(&packet, 0x0102_0304, None, &mut out));
        let expected: Vec<u8> = [
            &b"HEP3"[..],
            &[0, 102],
            &[0, 0, 0, 1, 0, 7, 2],
            &[0, 0, 0, 3, 0, 10, 192, 0, 2, 1],
            &[0, 0, 0, 4, 0, 10, 192, 0, 2, 2],
            &[0, 0, 0, 2, 0, 7, 17],
            &[0, 0, 0, 7, 0, 8, 0x13, 0xc4],
            &[0, 0, 0, 8, 0, 8, 0x13, 0xd8],
            &[0, 0, 0, 9, 0, 10],
            &1_700_000_000u32.to_be_bytes(),
            &[0, 0, 0, 10, 0, 10],
            &123_456u32.to_be_bytes(),
            &[0, 0, 0, 11, 0, 7, 1],
            &[0, 0, 0, 12, 0, 10, 1, 2, 3, 4],
            &[0, 0, 0, 15, 0, 9],
            b"BYE",
        ]
        .concat();
        assert_eq!(out, expected);
    }

    #[test]
    fn ipv6_peers_and_mapped_addresses() {
        let packet = Packet {
            source: "[::ffff:192.0.2.1]:5060".parse().expect("addr"),
            destination: "[2001:db8::1]:5060".parse().expect("addr"),
            transport: Transport::Tls,
            time: UNIX_EPOCH,
            payload: b"x",
        };
        let mut out = Vec::new();
        assert!(encode(&packet, 1, Some("pw"), &mut out));
        assert_eq!(&out[6..13], &[0, 0, 0, 1, 0, 7, AF_INET6]);
        assert!(out.windows(8).any(|w| w == [0, 0, 0, 14, 0, 8, b'p', b'w']));
        assert!(out.windows(7).any(|w| w == [0, 0, 0, 2, 0, 7, 6]));
    }

    #[test]
    fn a_message_too_large_for_one_packet_is_refused() {
        let payload = vec![b'x'; MAX_PACKET];
        let packet = Packet {
            source: "192.0.2.1:5060".parse().expect("addr"),
            destination: "192.0.2.2:5060".parse().expect("addr"),
            transport: Transport::Tcp,
            time: UNIX_EPOCH,
            payload: &payload,
        };
        assert!(!encode(&packet, 1, None, &mut Vec::new()));
    }
}
