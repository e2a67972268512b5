//! Our stream (RFC 3550 §5.1): one SSRC, consecutive sequence numbers and a
//! timestamp that advances with the audio sent, whatever is sent: echoed
//! payloads, generated frames (silence, a tone, a clip) or RFC 4733 digits.

use std::collections::VecDeque;

use crate::media::codec::{Codec, Encoder};
use crate::media::dtmf::{self, EventPayload};
use crate::media::params::StreamParams;
use crate::media::rtp::{HEADER_LEN, Header, RtpPacket, rewrite_in_place};
use crate::rules::media::{Pcm, Sender};

/// Digits waiting to be sent at most (one `dtmf` string of a step holds at
/// most [`dtmf::MAX_DIGITS`]).
pub(super) const MAX_QUEUED_DIGITS: usize = dtmf::MAX_DIGITS;

/// What the generated frames come from.
#[derive(Debug)]
enum Source {
    /// Nothing generated: packets are echoes.
    Echo,
    Silence,
    Pcm {
        pcm: Pcm,
        cursor: usize,
        looped: bool,
    },
}

/// Where a digit being sent is.
#[derive(Debug, Clone, Copy)]
enum DigitState {
    Idle,
    Tone {
        event: u8,
        start: u32,
        elapsed_ms: u32,
    },
    End {
        event: u8,
        start: u32,
        repeats: u8,
    },
    Gap {
        left_ms: u32,
    },
}

#[derive(Debug)]
pub(super) struct Outbound {
    pub(super) ssrc: u32,
    sequence: u16,
    /// The timestamp of the next packet.
    timestamp: u32,
    pub(super) packets: u64,
    pub(super) octets: u64,
    /// Sent since the last RTCP report (then it is an SR).
    pub(super) sent_since_report: bool,
    source: Source,
    encoder: Option<(Codec, Encoder)>,
    digits: VecDeque<u8>,
    digit: DigitState,
    pcm: Vec<i16>,
}

impl Outbound {
    pub(super) fn new() -> Self {
        // §5.1: random initial sequence number and timestamp.
        Self {
            ssrc: fastrand::u32(..),
            sequence: fastrand::u16(..),
            timestamp: fastrand::u32(..),
            packets: 0,
            octets: 0,
            sent_since_report: false,
            source: Source::Echo,
            encoder: None,
            digits: VecDeque::new(),
            digit: DigitState::Idle,
            pcm: Vec::new(),
        }
    }

    /// The timestamp now (for an SR).
    pub(super) fn timestamp(&self) -> u32 {
        self.timestamp
    }

    /// Sends `sender` from now on, encoded for `params`.
    pub(super) fn set_sender(&mut self, sender: &Sender, params: &StreamParams) {
        let rate = params.codec.map_or(8000, Codec::sample_rate);
        self.source = match sender {
            Sender::Echo => Source::Echo,
            Sender::Silence => Source::Silence,
            Sender::Tone(tone) => Source::Pcm {
                pcm: tone.pcm(rate),
                cursor: 0,
                looped: true,
            },
            Sender::Play(clip) => Source::Pcm {
                pcm: clip.pcm(rate),
                cursor: 0,
                looped: clip.looped,
            },
        };
        self.fit_encoder(params);
    }

    /// A new codec (a re-INVITE's answer) needs a new encoder.
    pub(super) fn fit_encoder(&mut self, params: &StreamParams) {
        let wanted = params.codec;
        if self.encoder.as_ref().map(|(c, _)| *c) != wanted {
            self.encoder = wanted.and_then(|codec| Encoder::new(codec).map(|e| (codec, e)));
        }
    }

    /// Queues digits to send, at most [`MAX_QUEUED_DIGITS`] waiting: a
    /// peer whose digits each trigger an `on_dtmf` answer can type faster
    /// than we send (160 ms a digit), so the newest beyond are dropped.
    /// Returns how many were dropped.
    pub(super) fn queue_digits(&mut self, digits: &str) -> usize {
        let mut dropped = 0;
        for event in digits.chars().filter_map(dtmf::event_of_digit) {
            if self.digits.len() < MAX_QUEUED_DIGITS {
                self.digits.push_back(event);
            } else {
                dropped += 1;
            }
        }
        dropped
    }

    /// Whether packets must be made on the ptime clock (generated audio,
    /// or digits to send).
    pub(super) fn paced(&self) -> bool {
        !matches!(self.source, Source::Echo) || self.sending_digits()
    }

    fn sending_digits(&self) -> bool {
        !self.digits.is_empty() || !self.digit.is_idle()
    }

    /// Whether echoes are sent now (not while a digit is).
    pub(super) fn echoes(&self) -> bool {
        matches!(self.source, Source::Echo) && !self.sending_digits()
    }

    /// Turns a received packet in `data` into its echo; returns its length.
    pub(super) fn echo(
        &mut self,
        data: &mut [u8],
        packet: &RtpPacket,
        params: &StreamParams,
    ) -> usize {
        let payload = packet.payload(data);
        let ticks = params
            .codec
            .filter(|_| packet.payload_type == params.payload_type)
            .and_then(|codec| codec.payload_ticks(payload))
            .unwrap_or(params.ptime_ms * params.clock / 1000);
        let header = self.next_header(packet.payload_type, packet.marker, self.timestamp);
        self.timestamp = self.timestamp.wrapping_add(ticks);
        let len = rewrite_in_place(data, packet, &header);
        self.count(len);
        len
    }

    /// The packet of one ptime tick into `out` (cleared); false when there
    /// is nothing to send this tick.
    pub(super) fn tick(&mut self, params: &StreamParams, out: &mut Vec<u8>) -> bool {
        out.clear();
        let ticks = params.ptime_ms * params.clock / 1000;
        if let Some((payload, marker, timestamp)) = self.digit_tick(params) {
            let Some((event_pt, _)) = params.event else {
                return false;
            };
            out.resize(HEADER_LEN, 0);
            self.next_header(event_pt, marker, timestamp).write(out);
            payload.write(out);
            self.timestamp = self.timestamp.wrapping_add(ticks);
            self.count(out.len());
            return true;
        }
        let Some((codec, encoder)) = self.encoder.as_mut() else {
            return false;
        };
        let samples = codec.frame_samples(params.ptime_ms);
        self.pcm.clear();
        match &mut self.source {
            Source::Echo => return false,
            Source::Silence => self.pcm.resize(samples, 0),
            Source::Pcm {
                pcm,
                cursor,
                looped,
            } => fill(&mut self.pcm, pcm, cursor, *looped, samples),
        }
        out.resize(HEADER_LEN, 0);
        encoder.encode(&self.pcm, out);
        let marker = self.packets == 0;
        self.next_header(params.payload_type, marker, self.timestamp)
            .write(out);
        self.timestamp = self.timestamp.wrapping_add(ticks);
        self.count(out.len());
        true
    }

    /// RFC 4733 §2.5.1: the event packet of this tick, if a digit is on:
    /// (payload, marker, its timestamp).
    fn digit_tick(&mut self, params: &StreamParams) -> Option<(EventPayload, bool, u32)> {
        let event_clock = params.event.map_or(8000, |(_, clock)| clock);
        let duration = |ms: u32| (ms * event_clock / 1000).min(u32::from(u16::MAX)) as u16;
        loop {
            match self.digit {
                DigitState::Idle => {
                    let event = self.digits.pop_front()?;
                    self.digit = DigitState::Tone {
                        event,
                        start: self.timestamp,
                        elapsed_ms: 0,
                    };
                }
                DigitState::Tone {
                    event,
                    start,
                    elapsed_ms,
                } => {
                    let elapsed = elapsed_ms + params.ptime_ms;
                    let end = elapsed >= dtmf::DIGIT_MS;
                    self.digit = if end {
                        DigitState::End {
                            event,
                            start,
                            repeats: 2,
                        }
                    } else {
                        DigitState::Tone {
                            event,
                            start,
                            elapsed_ms: elapsed,
                        }
                    };
                    let payload = EventPayload {
                        event,
                        end,
                        volume: 10,
                        duration: duration(elapsed),
                    };
                    return Some((payload, elapsed_ms == 0, start));
                }
                DigitState::End {
                    event,
                    start,
                    repeats,
                } => {
                    // §2.5.1.4: the end packet goes three times in all.
                    self.digit = if repeats <= 1 {
                        DigitState::Gap {
                            left_ms: dtmf::GAP_MS,
                        }
                    } else {
                        DigitState::End {
                            event,
                            start,
                            repeats: repeats - 1,
                        }
                    };
                    let payload = EventPayload {
                        event,
                        end: true,
                        volume: 10,
                        duration: duration(
                            dtmf::DIGIT_MS.div_ceil(params.ptime_ms) * params.ptime_ms,
                        ),
                    };
                    return Some((payload, false, start));
                }
                DigitState::Gap { left_ms } => {
                    self.digit = if left_ms > params.ptime_ms {
                        DigitState::Gap {
                            left_ms: left_ms - params.ptime_ms,
                        }
                    } else {
                        DigitState::Idle
                    };
                    return None;
                }
            }
        }
    }

    fn next_header(&mut self, payload_type: u8, marker: bool, timestamp: u32) -> Header {
        let header = Header {
            marker,
            payload_type,
            sequence: self.sequence,
            timestamp,
            ssrc: self.ssrc,
        };
        self.sequence = self.sequence.wrapping_add(1);
        header
    }

    fn count(&mut self, len: usize) {
        self.packets += 1;
        self.octets += (len - HEADER_LEN) as u64;
        self.sent_since_report = true;
    }
}

impl DigitState {
    fn is_idle(&self) -> bool {
        matches!(self, Self::Idle)
    }
}

/// `samples` of `pcm` from `cursor` on; past the end of a clip that does
/// not loop, silence.
fn fill(out: &mut Vec<i16>, pcm: &Pcm, cursor: &mut usize, looped: bool, samples: usize) {
    while out.len() < samples {
        if *cursor >= pcm.len() {
            if !looped || pcm.is_empty() {
                out.resize(samples, 0);
                return;
            }
            *cursor = 0;
        }
        let take = (samples - out.len()).min(pcm.len() - *cursor);
        out.extend_from_slice(&pcm[*cursor..*cursor + take]);
        *cursor += take;
    }
}

#[cfg(test)]
#[path = "outbound_tests.rs"]
mod tests;
