//! RTP packets (RFC 3550 §5.1): the fixed header read from a received
//! datagram, and written for the packets we send. The echo rewrites the
//! received header in place: no copy of the payload, no allocation.

/// The fixed header is 12 bytes; each CSRC adds 4.
pub const HEADER_LEN: usize = 12;

/// What the engine needs of a received RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    /// Where the payload starts (after CSRCs and a header extension).
    pub payload_start: usize,
    /// Where it ends (before padding).
    pub payload_end: usize,
}

impl RtpPacket {
    /// Reads the header of `data`; `None` when it is not RTP version 2 or
    /// its lengths do not add up (RFC 3550 §5.1, §5.3.1).
    pub fn parse(data: &[u8]) -> Option<Self> {
        let first = *data.first()?;
        if data.len() < HEADER_LEN || first >> 6 != 2 {
            return None;
        }
        let csrcs = usize::from(first & 0x0F);
        let mut start = HEADER_LEN + 4 * csrcs;
        if first & 0x10 != 0 {
            // §5.3.1: 16-bit profile field, 16-bit length in 32-bit words.
            let words = u16::from_be_bytes([*data.get(start + 2)?, *data.get(start + 3)?]);
            start += 4 + 4 * usize::from(words);
        }
        let mut end = data.len();
        if first & 0x20 != 0 {
            end = end.checked_sub(usize::from(*data.last()?))?;
        }
        if start > end {
            return None;
        }
        Some(Self {
            marker: data[1] & 0x80 != 0,
            payload_type: data[1] & 0x7F,
            sequence: u16::from_be_bytes([data[2], data[3]]),
            timestamp: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
            ssrc: u32::from_be_bytes([data[8], data[9], data[10], data[11]]),
            payload_start: start,
            payload_end: end,
        })
    }

    pub fn payload<'d>(&self, data: &'d [u8]) -> &'d [u8] {
        &data[self.payload_start..self.payload_end]
    }
}

/// The header of a packet we send: no CSRC, no extension, no padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

impl Header {
    /// Writes the 12 header bytes into `out[..12]`.
    pub fn write(&self, out: &mut [u8]) {
        out[0] = 0x80;
        out[1] = (u8::from(self.marker) << 7) | (self.payload_type & 0x7F);
        out[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
    }
}

/// Makes `data` (a received packet) ours: its payload moves to just after a
/// fresh 12-byte header (dropping CSRCs, extension and padding); returns
/// the new length.
pub fn rewrite_in_place(data: &mut [u8], packet: &RtpPacket, header: &Header) -> usize {
    let len = packet.payload_end - packet.payload_start;
    if packet.payload_start != HEADER_LEN {
        data.copy_within(packet.payload_start..packet.payload_end, HEADER_LEN);
    }
    header.write(data);
    HEADER_LEN + len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip() {
        let header = Header {
            marker: true,
            payload_type: 101,
            sequence: 65_535,
            timestamp: 0xDEAD_BEEF,
            ssrc: 0x1234_5678,
        };
        let mut packet = [0u8; 14];
        header.write(&mut packet);
        packet[12..].copy_from_slice(b"hi");
        let parsed = RtpPacket::parse(&packet).expect("RTP");
        assert!(parsed.marker);
        assert_eq!(parsed.payload_type, 101);
        assert_eq!(parsed.sequence, 65_535);
        assert_eq!(parsed.timestamp, 0xDEAD_BEEF);
        assert_eq!(parsed.ssrc, 0x1234_5678);
        assert_eq!(parsed.payload(&packet), b"hi");
    }

    #[test]
    fn csrcs_extensions_and_padding_are_skipped_and_dropped_on_rewrite() {
        // V=2, P=1, X=1, CC=1; one CSRC; extension of one word; payload
        // "abc"; two bytes of padding.
        let mut packet = vec![0xB1, 0, 0, 7, 0, 0, 0, 9, 0, 0, 0, 1];
        packet.extend_from_slice(&[0, 0, 0, 2]); // CSRC
        packet.extend_from_slice(&[0xBE, 0xDE, 0, 1, 1, 2, 3, 4]); // extension
        packet.extend_from_slice(b"abc");
        packet.extend_from_slice(&[0, 2]);
        let parsed = RtpPacket::parse(&packet).expect("RTP");
        assert_eq!(parsed.payload(&packet), b"abc");
        let header = Header {
            marker: false,
            payload_type: 0,
            sequence: 1,
            timestamp: 2,
            ssrc: 3,
        };
        let len = rewrite_in_place(&mut packet, &parsed, &header);
        let echoed = RtpPacket::parse(&packet[..len]).expect("RTP");
        assert_eq!(echoed.payload(&packet[..len]), b"abc");
        assert_eq!((echoed.sequence, echoed.timestamp, echoed.ssrc), (1, 2, 3));
    }

    #[test]
    fn what_is_not_rtp_is_refused() {
        assert_eq!(RtpPacket::parse(&[]), None);
        assert_eq!(RtpPacket::parse(&[0x80; 11]), None);
        assert_eq!(RtpPacket::parse(&[0x40; 12]), None, "version 1");
        assert_eq!(RtpPacket::parse(&[0x8F; 20]), None, "15 CSRCs in 20 bytes");
        let mut padded = [0u8; 13];
        padded[0] = 0xA0;
        padded[12] = 40;
        assert_eq!(RtpPacket::parse(&padded), None, "more padding than packet");
    }
}
