//! The audio codecs the media engine encodes and decodes: G.711 µ-law and
//! A-law (own, `g711.rs`), G.722 (the audio-codec crate) and Opus (the
//! opus-rs crate), and how much time a payload of each spans.

mod g711;

pub use g711::{ALAW_TO_LINEAR, ULAW_TO_LINEAR, alaw_encode, ulaw_encode};

use audio_codec::{Decoder as _, Encoder as _};

/// An audio codec the engine can produce and consume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    Pcmu,
    Pcma,
    G722,
    Opus,
}

impl Codec {
    /// The codec of an `a=rtpmap` encoding name (case-insensitive, RFC 4855
    /// §3) and clock rate.
    pub fn from_rtpmap(name: &str, clock_rate: u32) -> Option<Self> {
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        match clock_rate {
            8000 if is("PCMU") => Some(Self::Pcmu),
            8000 if is("PCMA") => Some(Self::Pcma),
            // RFC 3551 §4.5.2: G.722 keeps an 8000 Hz RTP clock.
            8000 if is("G722") => Some(Self::G722),
            48000 if is("opus") => Some(Self::Opus),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
            Self::G722 => "G722",
            Self::Opus => "opus",
        }
    }

    /// Samples per second of the audio it carries.
    pub fn sample_rate(self) -> u32 {
        match self {
            Self::Pcmu | Self::Pcma => 8000,
            Self::G722 => 16000,
            Self::Opus => 48000,
        }
    }

    /// RTP timestamp units per second (RFC 3551 §4.5, RFC 7587 §4.1).
    pub fn rtp_clock(self) -> u32 {
        match self {
            Self::Pcmu | Self::Pcma | Self::G722 => 8000,
            Self::Opus => 48000,
        }
    }

    /// Audio samples in `ptime_ms` of audio.
    pub fn frame_samples(self, ptime_ms: u32) -> usize {
        (self.sample_rate() / 1000 * ptime_ms) as usize
    }

    /// RTP clock ticks one payload spans, when it can be told from the
    /// payload alone (G.711 and G.722: one byte a tick; Opus: its TOC).
    pub fn payload_ticks(self, payload: &[u8]) -> Option<u32> {
        match self {
            Self::Pcmu | Self::Pcma | Self::G722 => u32::try_from(payload.len()).ok(),
            Self::Opus => opus_ticks(payload),
        }
    }
}

/// RFC 6716 §3.1: 48 kHz samples of an Opus packet, from its TOC byte and
/// frame count.
fn opus_ticks(packet: &[u8]) -> Option<u32> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    // Frame size in 48 kHz samples by configuration (RFC 6716 Table 2).
    let frame = match config {
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        12..=15 => [480, 960][usize::from(config % 2)],
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(*packet.get(1)? & 0x3F),
    };
    // §3.2.5: at most 120 ms in a packet.
    Some(frame * frames).filter(|&ticks| ticks > 0 && ticks <= 5760)
}

/// Turns audio into payloads of one codec; keeps the codec's state.
pub enum Encoder {
    Pcmu,
    Pcma,
    G722(Box<audio_codec::g722::G722Encoder>),
    Opus(Box<opus_rs::OpusEncoder>),
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Pcmu => "Encoder(PCMU)",
            Self::Pcma => "Encoder(PCMA)",
            Self::G722(_) => "Encoder(G722)",
            Self::Opus(_) => "Encoder(opus)",
        })
    }
}

impl Encoder {
    pub fn new(codec: Codec) -> Option<Self> {
        Some(match codec {
            Codec::Pcmu => Self::Pcmu,
            Codec::Pcma => Self::Pcma,
            Codec::G722 => Self::G722(Box::new(audio_codec::g722::G722Encoder::new())),
            Codec::Opus => {
                let mut encoder =
                    opus_rs::OpusEncoder::new(48000, 1, opus_rs::Application::Voip).ok()?;
                encoder.bitrate_bps = 32_000;
                Self::Opus(Box::new(encoder))
            }
        })
    }

    /// Appends the payload of `pcm` (samples at the codec's rate) to `out`.
    pub fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) {
        match self {
            Self::Pcmu => out.extend(pcm.iter().map(|&s| ulaw_encode(s))),
            Self::Pcma => out.extend(pcm.iter().map(|&s| alaw_encode(s))),
            Self::G722(encoder) => out.extend_from_slice(&encoder.encode(pcm)),
            Self::Opus(encoder) => {
                let start = out.len();
                out.resize(start + 1500, 0);
                match encoder.encode_i16(pcm, pcm.len(), &mut out[start..]) {
                    Ok(len) => out.truncate(start + len),
                    Err(_) => out.truncate(start),
                }
            }
        }
    }
}

/// Turns payloads of one codec back into audio.
pub enum Decoder {
    Pcmu,
    Pcma,
    G722(Box<audio_codec::g722::G722Decoder>),
    Opus(Box<opus_rs::OpusDecoder>, Vec<f32>),
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Decoder")
    }
}

impl Decoder {
    pub fn new(codec: Codec) -> Option<Self> {
        Some(match codec {
            Codec::Pcmu => Self::Pcmu,
            Codec::Pcma => Self::Pcma,
            Codec::G722 => Self::G722(Box::new(audio_codec::g722::G722Decoder::new())),
            Codec::Opus => Self::Opus(
                Box::new(opus_rs::OpusDecoder::new(48000, 1).ok()?),
                vec![0.0; 5760],
            ),
        })
    }

    /// Appends the audio of `payload` (at the codec's rate) to `out`.
    pub fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) {
        match self {
            Self::Pcmu => out.extend(payload.iter().map(|&b| ULAW_TO_LINEAR[usize::from(b)])),
            Self::Pcma => out.extend(payload.iter().map(|&b| ALAW_TO_LINEAR[usize::from(b)])),
            Self::G722(decoder) => out.extend_from_slice(&decoder.decode(payload)),
            Self::Opus(decoder, buffer) => {
                let samples = opus_ticks(payload).unwrap_or(960) as usize;
                let Some(frame) = buffer.get_mut(..samples) else {
                    return;
                };
                if let Ok(len) = decoder.decode(payload, samples, frame) {
                    out.extend(frame[..len.min(samples)].iter().map(|&s| to_i16(s)));
                }
            }
        }
    }
}

fn to_i16(sample: f32) -> i16 {
    (sample * 32768.0).clamp(-32768.0, 32767.0) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, samples: usize, hz: f64) -> Vec<i16> {
        (0..samples)
            .map(|i| {
                let phase = i as f64 * hz * std::f64::consts::TAU / f64::from(rate);
                (phase.sin() * 8000.0) as i16
            })
            .collect()
    }

    /// Zero crossings per second / 2: the frequency of a clean tone.
    fn frequency(samples: &[i16], rate: u32) -> f64 {
        let crossings = samples
            .windows(2)
            .filter(|w| (w[0] < 0) != (w[1] < 0))
            .count();
        crossings as f64 / 2.0 / (samples.len() as f64 / f64::from(rate))
    }

    #[test]
    fn every_codec_carries_a_tone() {
        for codec in [Codec::Pcmu, Codec::Pcma, Codec::G722, Codec::Opus] {
            let rate = codec.sample_rate();
            let tone = sine(rate, rate as usize, 440.0);
            let mut encoder = Encoder::new(codec).expect("encoder");
            let mut decoder = Decoder::new(codec).expect("decoder");
            let mut decoded = Vec::new();
            for frame in tone.chunks(codec.frame_samples(20)) {
                let mut payload = Vec::new();
                encoder.encode(frame, &mut payload);
                assert_eq!(
                    codec.payload_ticks(&payload),
                    Some(20 * codec.rtp_clock() / 1000),
                    "{codec:?}"
                );
                decoder.decode(&payload, &mut decoded);
            }
            assert_eq!(decoded.len(), tone.len(), "{codec:?}");
            // Past the codec's start-up delay, the tone comes out.
            let heard = frequency(&decoded[rate as usize / 10..], rate);
            assert!((heard - 440.0).abs() < 5.0, "{codec:?}: {heard} Hz");
        }
    }

    #[test]
    fn rtpmaps_name_the_codecs() {
        assert_eq!(Codec::from_rtpmap("pcmu", 8000), Some(Codec::Pcmu));
        assert_eq!(Codec::from_rtpmap("G722", 8000), Some(Codec::G722));
        assert_eq!(Codec::from_rtpmap("OPUS", 48000), Some(Codec::Opus));
        assert_eq!(Codec::from_rtpmap("PCMU", 16000), None);
        assert_eq!(Codec::from_rtpmap("G729", 8000), None);
    }

    #[test]
    fn opus_packets_say_how_long_they_are() {
        // Config 1 (SILK NB 20 ms), one frame; config 18 (CELT 10 ms), two.
        assert_eq!(opus_ticks(&[1 << 3]), Some(960));
        assert_eq!(opus_ticks(&[(18 << 3) | 1]), Some(960));
        assert_eq!(opus_ticks(&[(18 << 3) | 3, 3]), Some(1440));
        assert_eq!(opus_ticks(&[(18 << 3) | 3, 0]), None);
        assert_eq!(opus_ticks(&[]), None);
    }
}
