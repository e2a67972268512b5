//! The test's own RTP: packets it sends and reads, µ-law decoding, a tone's
//! frequency, and the media socket of a test caller.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;

/// An RTP packet as the test reads it (RFC 3550 §5.1, no CSRC).
#[derive(Debug, Clone)]
pub(super) struct Rtp {
    pub(super) marker: bool,
    pub(super) payload_type: u8,
    pub(super) sequence: u16,
    pub(super) timestamp: u32,
    pub(super) ssrc: u32,
    pub(super) payload: Vec<u8>,
}

impl Rtp {
    pub(super) fn parse(data: &[u8]) -> Option<Self> {
        if data.len() < 12 || data[0] >> 6 != 2 || data[0] & 0x0F != 0 {
            return None;
        }
        Some(Self {
            marker: data[1] & 0x80 != 0,
            payload_type: data[1] & 0x7F,
            sequence: u16::from_be_bytes([data[2], data[3]]),
            timestamp: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
            ssrc: u32::from_be_bytes([data[8], data[9], data[10], data[11]]),
            payload: data[12..].to_vec(),
        })
    }

    pub(super) fn bytes(&self) -> Vec<u8> {
        let mut out = vec![0x80, (u8::from(self.marker) << 7) | self.payload_type];
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(&self.payload);
        out
    }
}

/// A PCMU packet of ours: sequence `n` from 5000, timestamps by 160.
pub(super) fn pcmu(n: u16, payload: Vec<u8>) -> Rtp {
    Rtp {
        marker: n == 0,
        payload_type: 0,
        sequence: 5000u16.wrapping_add(n),
        timestamp: 90_000 + u32::from(n) * 160,
        ssrc: 0x0C0F_FEE0,
        payload,
    }
}

/// G.711 µ-law to linear (the test's own, from the law's definition).
pub(super) fn ulaw(byte: u8) -> i16 {
    let u = !byte;
    let exponent = (u >> 4) & 0x07;
    let mantissa = i32::from(u & 0x0F);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// The frequency of a clean tone, from its zero crossings.
pub(super) fn frequency(samples: &[i16], rate: u32) -> f64 {
    let crossings = samples
        .windows(2)
        .filter(|w| (w[0] < 0) != (w[1] < 0))
        .count();
    crossings as f64 / 2.0 / (samples.len() as f64 / f64::from(rate))
}

pub(super) fn rms(samples: &[i16]) -> f64 {
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len().max(1) as f64).sqrt()
}

/// The caller's media socket (and where the daemon's answer says to send).
pub(super) struct Media {
    pub(super) socket: UdpSocket,
    pub(super) remote: Option<SocketAddr>,
}

impl Media {
    pub(super) async fn bind(ip: &str) -> Self {
        let socket = UdpSocket::bind(format!("{ip}:0")).await.expect("bind RTP");
        Self {
            socket,
            remote: None,
        }
    }

    pub(super) fn port(&self) -> u16 {
        self.socket.local_addr().expect("local").port()
    }

    pub(super) async fn send(&self, packet: &Rtp) {
        let to = self.remote.expect("the answer's address");
        self.socket
            .send_to(&packet.bytes(), to)
            .await
            .expect("send RTP");
    }

    /// The next datagram within `wait`, with where it came from.
    pub(super) async fn recv_raw(&self, wait: Duration) -> Option<(Vec<u8>, SocketAddr)> {
        let mut buf = vec![0u8; 2048];
        match tokio::time::timeout(wait, self.socket.recv_from(&mut buf)).await {
            Ok(Ok((len, from))) => Some((buf[..len].to_vec(), from)),
            _ => None,
        }
    }

    /// The next RTP packet (RTCP skipped) within `wait`.
    pub(super) async fn recv(&self, wait: Duration) -> Option<Rtp> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let (data, _) = self.recv_raw(left).await?;
            if (200..=204).contains(&data[1]) {
                continue;
            }
            if let Some(packet) = Rtp::parse(&data) {
                return Some(packet);
            }
        }
    }
}

/// An SDP offer for `port` on `ip` (IPv4 or IPv6) with `formats` and extra
/// media-level lines.
pub(super) fn offer(ip: &str, port: u16, formats: &str, extra: &str) -> String {
    let family = if ip.contains(':') { "IP6" } else { "IP4" };
    format!(
        "v=0\r\no=- 1 1 IN {family} {ip}\r\ns=-\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP {formats}\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n\
         a=ptime:20\r\n{extra}"
    )
}

/// The port and address of the answer's audio m-line.
pub(super) fn answered(sdp: &str) -> (std::net::IpAddr, u16) {
    let address = sdp
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 ").or(l.strip_prefix("c=IN IP6 ")))
        .expect("c= in the answer")
        .trim()
        .parse()
        .expect("an address");
    let port = sdp
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|rest| rest.split(' ').next())
        .expect("m=audio")
        .parse()
        .expect("a port");
    (address, port)
}

/// Whether `port` is free again (the daemon released it).
pub(super) fn is_free(ip: &str, port: u16) -> bool {
    std::net::UdpSocket::bind(format!("{ip}:{port}")).is_ok()
}

/// Waits (bounded) until `port` is free.
pub(super) async fn released(ip: &str, port: u16) -> bool {
    for _ in 0..100 {
        if is_free(ip, port) && is_free(ip, port + 1) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}
