//! RTCP (RFC 3550 §6): the compound packets we send (SR when we sent RTP
//! since the last report, else RR; then SDES with our CNAME; BYE at the
//! end) and what we read from the peer's (its reception report about us,
//! its sender report's time for our LSR/DLSR, its BYE).

use std::time::{SystemTime, UNIX_EPOCH};

const SR: u8 = 200;
const RR: u8 = 201;
const SDES: u8 = 202;
const BYE: u8 = 203;

/// One reception report block (§6.4.1), about one source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportBlock {
    pub ssrc: u32,
    /// Fraction of packets lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Packets lost since the start (24-bit signed).
    pub cumulative_lost: i32,
    pub highest_sequence: u32,
    /// Interarrival jitter in RTP timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP time of the last SR from that source.
    pub last_sr: u32,
    /// Time since that SR, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

/// What we report in one compound packet.
#[derive(Debug, Clone, Default)]
pub struct Report<'a> {
    pub ssrc: u32,
    pub cname: &'a str,
    /// Sender info (§6.4.1) when we sent since the last report:
    /// (RTP timestamp now, packets sent, octets sent).
    pub sender: Option<(u32, u32, u32)>,
    pub block: Option<ReportBlock>,
    /// Ends the compound with BYE (§6.6).
    pub bye: bool,
}

/// NTP time now (RFC 5905: seconds since 1900, 32.32 fixed point).
pub fn ntp_now() -> u64 {
    let since_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = since_unix.as_secs() + 2_208_988_800;
    let fraction = (u64::from(since_unix.subsec_nanos()) << 32) / 1_000_000_000;
    (seconds << 32) | fraction
}

/// Writes the compound packet of `report` into `out` (cleared first).
pub fn write(report: &Report<'_>, out: &mut Vec<u8>) {
    out.clear();
    let blocks = u8::from(report.block.is_some());
    let start = out.len();
    match report.sender {
        Some((rtp_time, packets, octets)) => {
            header(out, blocks, SR);
            out.extend_from_slice(&report.ssrc.to_be_bytes());
            out.extend_from_slice(&ntp_now().to_be_bytes());
            out.extend_from_slice(&rtp_time.to_be_bytes());
            out.extend_from_slice(&packets.to_be_bytes());
            out.extend_from_slice(&octets.to_be_bytes());
        }
        None => {
            header(out, blocks, RR);
            out.extend_from_slice(&report.ssrc.to_be_bytes());
        }
    }
    if let Some(block) = &report.block {
        write_block(block, out);
    }
    close(out, start);
    // §6.5.1: a CNAME in every compound packet.
    let start = out.len();
    header(out, 1, SDES);
    out.extend_from_slice(&report.ssrc.to_be_bytes());
    let cname = &report.cname.as_bytes()[..report.cname.len().min(255)];
    out.push(1);
    out.push(cname.len() as u8);
    out.extend_from_slice(cname);
    // The item list ends with a null octet, padded to a 32-bit boundary.
    out.push(0);
    while (out.len() - start) % 4 != 0 {
        out.push(0);
    }
    close(out, start);
    if report.bye {
        let start = out.len();
        header(out, 1, BYE);
        out.extend_from_slice(&report.ssrc.to_be_bytes());
        close(out, start);
    }
}

fn header(out: &mut Vec<u8>, count: u8, packet_type: u8) {
    out.extend_from_slice(&[0x80 | (count & 0x1F), packet_type, 0, 0]);
}

/// Fills in the length field (§6.4.1: in 32-bit words minus one).
fn close(out: &mut [u8], start: usize) {
    let words = ((out.len() - start) / 4 - 1) as u16;
    out[start + 2..start + 4].copy_from_slice(&words.to_be_bytes());
}

fn write_block(block: &ReportBlock, out: &mut Vec<u8>) {
    out.extend_from_slice(&block.ssrc.to_be_bytes());
    let lost = (block.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF) as u32) & 0x00FF_FFFF;
    out.extend_from_slice(&((u32::from(block.fraction_lost) << 24) | lost).to_be_bytes());
    out.extend_from_slice(&block.highest_sequence.to_be_bytes());
    out.extend_from_slice(&block.jitter.to_be_bytes());
    out.extend_from_slice(&block.last_sr.to_be_bytes());
    out.extend_from_slice(&block.delay_since_last_sr.to_be_bytes());
}

/// What a received compound packet told us.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Received {
    /// The peer's report about our stream.
    pub about_us: Option<ReportBlock>,
    /// Middle 32 bits of the NTP time of a sender report in it.
    pub sender_report: Option<u32>,
    pub bye: bool,
    pub packets: usize,
}

/// Reads a compound RTCP packet; `None` when it is not one (§6.1: version
/// 2, lengths that add up, starting with SR or RR — or any of ours when
/// rtcp-mux shares the port, RFC 5761 §4).
pub fn parse(data: &[u8], our_ssrc: u32) -> Option<Received> {
    let mut received = Received::default();
    let mut rest = data;
    while !rest.is_empty() {
        if rest.len() < 4 || rest[0] >> 6 != 2 {
            return None;
        }
        let count = usize::from(rest[0] & 0x1F);
        let packet_type = rest[1];
        let len = (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1) * 4;
        let packet = rest.get(..len)?;
        match packet_type {
            SR => {
                let ntp = packet.get(8..16)?;
                received.sender_report = Some(u32::from_be_bytes([ntp[2], ntp[3], ntp[4], ntp[5]]));
                received.about_us =
                    blocks(packet.get(28..)?, count, our_ssrc).or(received.about_us);
            }
            RR => {
                received.about_us = blocks(packet.get(8..)?, count, our_ssrc).or(received.about_us);
            }
            BYE => received.bye = true,
            _ => {}
        }
        received.packets += 1;
        rest = &rest[len..];
    }
    (received.packets > 0).then_some(received)
}

fn blocks(data: &[u8], count: usize, our_ssrc: u32) -> Option<ReportBlock> {
    data.chunks_exact(24).take(count).find_map(|b| {
        let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let ssrc = word(0);
        (ssrc == our_ssrc).then(|| {
            let lost = word(4) & 0x00FF_FFFF;
            // Sign-extend the 24-bit count.
            let cumulative_lost = ((lost << 8) as i32) >> 8;
            ReportBlock {
                ssrc,
                fraction_lost: b[4],
                cumulative_lost,
                highest_sequence: word(8),
                jitter: word(12),
                last_sr: word(16),
                delay_since_last_sr: word(20),
            }
        })
    })
}

/// Whether a datagram on a multiplexed port is RTCP (RFC 5761 §4: payload
/// types 64–95 in the second byte's low 7 bits are RTCP's 192–223).
pub fn is_rtcp(data: &[u8]) -> bool {
    data.get(1).is_some_and(|b| (192..=223).contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_report_with_a_block_reads_back() {
        let block = ReportBlock {
            ssrc: 42,
            fraction_lost: 12,
            cumulative_lost: -3,
            highest_sequence: 70_000,
            jitter: 80,
            last_sr: 5,
            delay_since_last_sr: 6,
        };
        let report = Report {
            ssrc: 7,
            cname: "responder@127.0.0.1",
            sender: Some((160, 50, 8000)),
            block: Some(block),
            bye: true,
        };
        let mut out = Vec::new();
        write(&report, &mut out);
        assert_eq!(out.len() % 4, 0);
        assert_eq!(out[1], SR);
        assert!(is_rtcp(&out));
        let received = parse(&out, 42).expect("compound");
        assert_eq!(received.about_us, Some(block));
        assert!(received.sender_report.is_some());
        assert!(received.bye);
        assert_eq!(received.packets, 3, "SR, SDES, BYE");
        assert_eq!(parse(&out, 43).expect("compound").about_us, None);
    }

    #[test]
    fn a_receiver_report_without_blocks_and_garbage() {
        let mut out = Vec::new();
        write(
            &Report {
                ssrc: 1,
                cname: "x",
                ..Report::default()
            },
            &mut out,
        );
        assert_eq!(out[1], RR);
        assert_eq!(parse(&out, 1).expect("compound").packets, 2);
        assert_eq!(parse(&out[..out.len() - 1], 1), None, "cut short");
        assert_eq!(parse(&[0x80, 200, 0xFF, 0xFF], 1), None, "length beyond");
        assert_eq!(parse(&[0x40, 200, 0, 0], 1), None, "version 1");
        assert!(!is_rtcp(&[0x80, 0]), "PCMU RTP");
    }
}
