//! What a session does with each thing that happens: an RTP or RTCP packet
//! from the peer, a ptime tick, a change from the engine, a digit, the
//! housekeeping timer (RTCP reports, the media timeout), and its end.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::{Control, Session};
use crate::media::dtmf::{Digit, EventPayload};
use crate::media::rtcp::{self, Report};
use crate::media::rtp::RtpPacket;
use crate::media::settings::{DtmfSource, EndReason, MediaSummary};
use crate::transaction::ByeReason;

/// Most digits kept for `on_dtmf` patterns.
const TYPED_DIGITS: usize = 32;

impl Session {
    /// A datagram on the RTP port; `Some` when it ends the session.
    pub(super) async fn on_rtp(
        &mut self,
        buf: &mut [u8],
        len: usize,
        from: SocketAddr,
    ) -> Option<EndReason> {
        let data = &mut buf[..len];
        if self.params.rtcp_mux && rtcp::is_rtcp(data) {
            self.on_rtcp(data, from);
            return None;
        }
        let packet = RtpPacket::parse(data)?;
        let now = Instant::now();
        if !self.peer.accept(from, now) {
            return None;
        }
        self.heard_at = now;
        let elapsed = now.duration_since(self.started).as_micros() as u64;
        let arrival = elapsed * u64::from(self.params.clock) / 1_000_000;
        self.stats
            .record(packet.sequence, packet.timestamp, packet.ssrc, arrival);
        if let Some((event_type, clock)) = self.params.event
            && packet.payload_type == event_type
        {
            let event = EventPayload::parse(packet.payload(data))?;
            for digit in self.detector.packet(packet.timestamp, event, clock) {
                if let Some(reason) = self.digit(digit, DtmfSource::Rtp) {
                    return Some(reason);
                }
            }
            return None;
        }
        if packet.payload_type != self.params.payload_type {
            // Comfort noise and the like: neither recorded nor echoed.
            return None;
        }
        if let Some(recorder) = self.recorder.as_mut() {
            recorder.write(packet.payload(data));
        }
        if self.out.echoes() && self.params.sends() {
            let len = self.out.echo(data, &packet, &self.params);
            let _ = self.lease.rtp.send_to(&data[..len], from).await;
        }
        None
    }

    /// An RTCP compound from the peer: its report about us, its SR time.
    pub(super) fn on_rtcp(&mut self, data: &[u8], from: SocketAddr) {
        let now = Instant::now();
        let peer = if self.params.rtcp_mux {
            &mut self.peer
        } else {
            &mut self.rtcp_peer
        };
        if !peer.accept(from, now) {
            return;
        }
        let Some(received) = rtcp::parse(data, self.out.ssrc) else {
            return;
        };
        self.rtcp_received += 1;
        if let Some(block) = received.about_us {
            self.remote_report = Some(block);
        }
        if let Some(ntp) = received.sender_report {
            self.last_sr = Some((ntp, now));
        }
    }

    /// One ptime tick: a generated frame or a digit's packet.
    pub(super) async fn send_tick(&mut self, buf: &mut Vec<u8>) {
        if !self.params.sends() {
            return;
        }
        let Some(destination) = self.peer.destination(self.verified()) else {
            return;
        };
        if self.out.tick(&self.params, buf) {
            let _ = self.lease.rtp.send_to(buf, destination).await;
        }
    }

    /// A change from the engine; `Some` when it ends the session.
    pub(super) fn control(&mut self, message: Control) -> Option<EndReason> {
        match message {
            Control::Update(params, plan) => {
                let was_receiving = self.params.receives();
                self.peer.resignal(params.remote_rtp);
                self.rtcp_peer.resignal(params.remote_rtcp);
                self.params = params;
                self.out.fit_encoder(&self.params);
                if let Some(plan) = plan {
                    self.out.set_sender(&plan.send, &self.params);
                    if let Some(digits) = &plan.dtmf {
                        self.out.queue_digits(digits);
                    }
                    self.plan = plan;
                }
                if !was_receiving && self.params.receives() {
                    // Off hold: the media timeout starts again.
                    self.heard_at = Instant::now();
                }
                None
            }
            Control::InfoDigit(digit) => self.digit(digit, DtmfSource::Info),
        }
    }

    /// A digit received: reported, then matched against `on_dtmf`.
    pub(super) fn digit(&mut self, digit: Digit, source: DtmfSource) -> Option<EndReason> {
        self.reporter.dtmf(digit, source);
        if self.typed.len() >= TYPED_DIGITS {
            self.typed.remove(0);
        }
        self.typed.push(digit.digit);
        let plan = self.plan.clone();
        let rule = plan
            .on_dtmf
            .iter()
            .find(|rule| rule.pattern.is_match(&self.typed))?;
        self.typed.clear();
        if let Some(sender) = &rule.send {
            self.out.set_sender(sender, &self.params);
        }
        if let Some(digits) = &rule.dtmf {
            let dropped = self.out.queue_digits(digits);
            if dropped > 0 {
                tracing::debug!(
                    sip.call_id = &*self.call_id,
                    dropped,
                    "digits to send dropped: too many waiting"
                );
            }
        }
        if !rule.hangup {
            return None;
        }
        match self.dialog() {
            Some(dialog) => {
                self.layer.end_dialog(&dialog, ByeReason::Hangup);
                Some(EndReason::Hangup)
            }
            None => {
                tracing::info!(sip.call_id = &*self.call_id, digit = %digit.digit, "a digit rule hangs up, but the call is not answered yet");
                None
            }
        }
    }

    /// RTCP when due, and the media timeout; the next time to look.
    pub(super) async fn housekeep(&mut self, buf: &mut Vec<u8>) -> Result<Instant, EndReason> {
        let now = Instant::now();
        self.flush_counters();
        let timeout = self
            .settings
            .timeout
            .filter(|_| self.answered && self.params.receives());
        if let Some(timeout) = timeout
            && now.duration_since(self.heard_at) >= timeout
        {
            if let Some(dialog) = self.dialog() {
                self.layer.end_dialog(&dialog, ByeReason::RtpTimeout);
            }
            return Err(EndReason::RtpTimeout);
        }
        if now >= self.next_report {
            self.send_report(buf, false).await;
            self.next_report = now + self.report_interval();
        }
        // Looked at again by the timeout's deadline (or, while it does not
        // run, a timeout from now: the call may be answered or resumed).
        let next = match (timeout, self.settings.timeout) {
            (Some(timeout), _) => self.next_report.min(self.heard_at + timeout),
            (None, Some(timeout)) => self.next_report.min(now + timeout),
            (None, None) => self.next_report,
        };
        Ok(next)
    }

    /// RFC 3550 §6.3.1: the interval, randomised over [0.5, 1.5] of it.
    pub(super) fn report_interval(&self) -> Duration {
        self.settings.rtcp_interval.mul_f64(0.5 + fastrand::f64())
    }

    /// One compound RTCP packet (with BYE at the end of the session); only
    /// once RTP flowed either way, so a call whose peer never sends (and
    /// that we only echo) sends nothing to an address only its SDP names.
    async fn send_report(&mut self, buf: &mut Vec<u8>, bye: bool) {
        if self.out.packets == 0 && self.stats.received == 0 {
            return;
        }
        let verified = self.verified();
        let destination = if self.params.rtcp_mux {
            self.peer.destination(verified)
        } else {
            self.rtcp_peer.destination(verified).or_else(|| {
                let rtp = self.peer.destination(false)?;
                Some(SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1)))
            })
        };
        let Some(destination) = destination else {
            return;
        };
        let (last_sr, delay) = match self.last_sr {
            Some((ntp, at)) => (ntp, (at.elapsed().as_secs_f64() * 65_536.0) as u32),
            None => (0, 0),
        };
        let sender = self.out.sent_since_report.then(|| {
            (
                self.out.timestamp(),
                self.out.packets as u32,
                self.out.octets as u32,
            )
        });
        self.out.sent_since_report = false;
        let report = Report {
            ssrc: self.out.ssrc,
            cname: &self.cname,
            sender,
            block: self.stats.report_block(last_sr, delay),
            bye,
        };
        rtcp::write(&report, buf);
        let socket = self.lease.rtcp.as_ref().unwrap_or(&self.lease.rtp);
        let _ = socket.send_to(buf, destination).await;
    }

    /// Adds what this session sent and received to the engine's totals.
    fn flush_counters(&mut self) {
        let (sent, received) = (self.out.packets, self.stats.received);
        let counters = &self.counters;
        counters
            .packets_sent
            .fetch_add(sent.saturating_sub(self.flushed.0), Ordering::Relaxed);
        counters
            .packets_received
            .fetch_add(received.saturating_sub(self.flushed.1), Ordering::Relaxed);
        self.flushed = (sent, received);
    }

    /// The end: the open digit, RTCP BYE, the recording closed, the report.
    pub(super) async fn finish(&mut self, reason: EndReason) {
        let clock = self.params.event.map_or(8000, |(_, clock)| clock);
        if let Some(digit) = self.detector.flush(clock) {
            self.reporter.dtmf(digit, DtmfSource::Rtp);
        }
        let mut buf = Vec::with_capacity(256);
        self.send_report(&mut buf, true).await;
        if let Some(recorder) = self.recorder.as_mut() {
            recorder.finish();
        }
        self.flush_counters();
        if reason == EndReason::RtpTimeout {
            self.counters.timeouts.fetch_add(1, Ordering::Relaxed);
        }
        let clock = f64::from(self.params.clock.max(1));
        let summary = MediaSummary {
            port: self.lease.port,
            codec: self.params.codec.map_or("passthrough", |c| c.name()),
            mode: self.plan.send.name(),
            reason,
            duration: self.started.elapsed(),
            packets_sent: self.out.packets,
            packets_received: self.stats.received,
            lost: self.stats.lost(),
            jitter_ms: f64::from(self.stats.jitter()) * 1000.0 / clock,
            remote: self.remote_report,
            remote_jitter_ms: self
                .remote_report
                .map(|r| f64::from(r.jitter) * 1000.0 / clock),
            rtcp_received: self.rtcp_received,
            recording: self.recorder.as_ref().map(|r| (r.path(), r.bytes)),
        };
        self.reporter.media_ended(&summary);
    }
}
