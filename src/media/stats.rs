//! Reception statistics of the peer's stream (RFC 3550 Appendix A.1, A.3,
//! A.8): extended highest sequence number, packets lost, the fraction lost
//! between reports, and interarrival jitter; and what we sent.

use super::rtcp::ReportBlock;

/// §A.1: a jump of more than this is a restart, not loss.
const MAX_DROPOUT: u16 = 3000;

#[derive(Debug, Clone, Default)]
pub(crate) struct ReceiveStats {
    started: bool,
    ssrc: u32,
    base_sequence: u32,
    max_sequence: u16,
    cycles: u32,
    pub(crate) received: u64,
    expected_prior: u64,
    received_prior: u64,
    /// §A.8, in RTP timestamp units, times 16.
    jitter_x16: u64,
    last_transit: Option<i64>,
    pub(crate) duplicates_or_late: u64,
}

impl ReceiveStats {
    /// Counts one packet; `arrival` is its arrival time in RTP timestamp
    /// units of the stream's clock.
    pub(crate) fn record(&mut self, sequence: u16, timestamp: u32, ssrc: u32, arrival: u64) {
        if !self.started || ssrc != self.ssrc {
            // A new source (or one that restarted) starts afresh (§A.1).
            *self = Self {
                started: true,
                ssrc,
                base_sequence: u32::from(sequence),
                max_sequence: sequence,
                ..Self::default()
            };
        } else {
            let delta = sequence.wrapping_sub(self.max_sequence);
            if delta == 0 || delta > u16::MAX - MAX_DROPOUT {
                // A duplicate or a reordered packet: counted, not a new max.
                self.duplicates_or_late += 1;
            } else if delta < MAX_DROPOUT {
                if sequence < self.max_sequence {
                    self.cycles += 1 << 16;
                }
                self.max_sequence = sequence;
            } else {
                // A large jump: the source restarted its numbering.
                self.base_sequence = u32::from(sequence);
                self.max_sequence = sequence;
                self.cycles = 0;
                self.expected_prior = 0;
                self.received_prior = 0;
                self.received = 0;
            }
        }
        self.received += 1;
        // §A.8: J += (|D| - J) / 16, with D the change of transit time.
        let transit = arrival as i64 - i64::from(timestamp);
        if let Some(last) = self.last_transit {
            let d = (transit - last).unsigned_abs();
            let jitter = self.jitter_x16 as i64 + d as i64 - ((self.jitter_x16 as i64 + 8) >> 4);
            self.jitter_x16 = jitter.max(0) as u64;
        }
        self.last_transit = Some(transit);
    }

    pub(crate) fn extended_highest(&self) -> u32 {
        self.cycles + u32::from(self.max_sequence)
    }

    pub(crate) fn expected(&self) -> u64 {
        if self.started {
            u64::from(self.extended_highest().wrapping_sub(self.base_sequence)) + 1
        } else {
            0
        }
    }

    /// Packets lost since the start (negative with duplicates, §A.3).
    pub(crate) fn lost(&self) -> i64 {
        self.expected() as i64 - self.received as i64
    }

    /// Interarrival jitter in RTP timestamp units.
    pub(crate) fn jitter(&self) -> u32 {
        u32::try_from(self.jitter_x16 >> 4).unwrap_or(u32::MAX)
    }

    /// The report block about the peer's stream (§6.4.1), marking the
    /// interval it covers as reported.
    pub(crate) fn report_block(
        &mut self,
        last_sr: u32,
        delay_since_last_sr: u32,
    ) -> Option<ReportBlock> {
        if !self.started {
            return None;
        }
        let expected = self.expected();
        let expected_interval = expected.saturating_sub(self.expected_prior);
        let received_interval = self.received.saturating_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval.saturating_sub(received_interval);
        let fraction_lost = (lost_interval << 8)
            .checked_div(expected_interval)
            .map_or(0, |fraction| fraction.min(255) as u8);
        Some(ReportBlock {
            ssrc: self.ssrc,
            fraction_lost,
            cumulative_lost: i32::try_from(self.lost()).unwrap_or(i32::MAX),
            highest_sequence: self.extended_highest(),
            jitter: self.jitter(),
            last_sr,
            delay_since_last_sr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_wraparound_and_jitter() {
        let mut stats = ReceiveStats::default();
        // 100 packets from 65500 on, every tenth missing, perfectly paced.
        for i in 0..100u32 {
            if i % 10 == 5 {
                continue;
            }
            let sequence = (65_500 + i) as u16;
            stats.record(sequence, i * 160, 9, u64::from(i * 160) + 1000);
        }
        assert_eq!(stats.expected(), 100);
        assert_eq!(stats.received, 90);
        assert_eq!(stats.lost(), 10);
        assert_eq!(stats.extended_highest(), 65_536 + 63);
        assert_eq!(stats.jitter(), 0, "no variation in transit");
        let block = stats.report_block(0, 0).expect("block");
        assert_eq!(block.fraction_lost, (10 * 256 / 100) as u8);
        assert_eq!(block.cumulative_lost, 10);
        let again = stats.report_block(0, 0).expect("block");
        assert_eq!(again.fraction_lost, 0, "nothing new lost since");
    }

    #[test]
    fn transit_variation_is_jitter() {
        let mut stats = ReceiveStats::default();
        for i in 0..200u32 {
            // Arrivals alternate 0 and 40 units late.
            let late = if i % 2 == 0 { 0 } else { 40 };
            stats.record(i as u16, i * 160, 1, u64::from(i * 160 + late));
        }
        // J converges to the mean |D| = 40.
        assert!((36..=40).contains(&stats.jitter()), "{}", stats.jitter());
        assert_eq!(stats.duplicates_or_late, 0);
        stats.record(199, 199 * 160, 1, 0);
        assert_eq!(stats.duplicates_or_late, 1);
    }
}
