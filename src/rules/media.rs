//! What a rule's step says the call's media does (`media = …`, `on_dtmf`),
//! compiled at load: what we send (echo, silence, a tone, a clip), whether
//! we record, digits to send, and what received digits trigger. Audio is
//! prepared here once per sample rate; the media engine only plays it.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use regex::Regex;

use super::template::Template;

/// The sample rates codecs play at (G.711, G.722, Opus).
pub const RATES: [u32; 3] = [8000, 16000, 48000];

/// A step's `media` key.
#[derive(Debug, Clone)]
pub enum Media {
    /// `"none"`: this step starts no media (a running session goes on).
    Off,
    Plan(Arc<MediaPlan>),
}

/// The media of a call.
#[derive(Debug, Clone)]
pub struct MediaPlan {
    pub send: Sender,
    /// Record what arrives.
    pub record: Option<RecordSpec>,
    /// Digits sent (RFC 4733) before `send` starts.
    pub dtmf: Option<Box<str>>,
    pub on_dtmf: Arc<[DtmfRule]>,
}

/// What goes to the peer.
#[derive(Debug, Clone)]
pub enum Sender {
    /// What arrives, sent back with our SSRC, sequence and timestamps.
    Echo,
    /// Digital silence at the ptime.
    Silence,
    Tone(Arc<Tone>),
    Play(Arc<Clip>),
}

impl Sender {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Echo => "echo",
            Self::Silence => "silence",
            Self::Tone(_) => "tone",
            Self::Play(_) => "play",
        }
    }
}

/// Audio at one sample rate, ready to play.
pub type Pcm = Arc<[i16]>;

fn rate_index(rate: u32) -> usize {
    RATES.iter().position(|&r| r == rate).unwrap_or(0)
}

/// A sine tone: one seamless loop of it per sample rate (a whole number of
/// periods, at most a second).
#[derive(Debug)]
pub struct Tone {
    pub hz: u32,
    loops: [Pcm; 3],
}

/// The peak of the tones we send: -10 dBFS.
const TONE_PEAK: f64 = 10_362.0;

impl Tone {
    pub fn new(hz: u32) -> Self {
        let looped = |rate: u32| -> Pcm {
            // `gcd` periods fit in exactly rate / gcd(rate, hz) samples.
            let samples = rate / gcd(rate, hz.max(1));
            (0..samples)
                .map(|i| {
                    let phase = f64::from(i) * f64::from(hz) * std::f64::consts::TAU;
                    ((phase / f64::from(rate)).sin() * TONE_PEAK).round() as i16
                })
                .collect()
        };
        Self {
            hz,
            loops: RATES.map(looped),
        }
    }

    pub fn pcm(&self, rate: u32) -> Pcm {
        self.loops[rate_index(rate)].clone()
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// A WAV file's audio (mono, 16-bit), resampled to each rate on first use.
pub struct Clip {
    pub path: PathBuf,
    pub looped: bool,
    rate: u32,
    samples: Pcm,
    resampled: [OnceLock<Pcm>; 3],
}

impl fmt::Debug for Clip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clip")
            .field("path", &self.path)
            .field("rate", &self.rate)
            .field("samples", &self.samples.len())
            .finish()
    }
}

impl Clip {
    pub fn new(path: PathBuf, rate: u32, samples: Vec<i16>, looped: bool) -> Self {
        Self {
            path,
            looped,
            rate,
            samples: samples.into(),
            resampled: [const { OnceLock::new() }; 3],
        }
    }

    pub fn duration_ms(&self) -> u64 {
        self.samples.len() as u64 * 1000 / u64::from(self.rate.max(1))
    }

    /// The clip at `rate` (linear interpolation: voice-grade, not hi-fi).
    pub fn pcm(&self, rate: u32) -> Pcm {
        if rate == self.rate {
            return self.samples.clone();
        }
        self.resampled[rate_index(rate)]
            .get_or_init(|| resample(&self.samples, self.rate, rate).into())
            .clone()
    }
}

/// `samples` at `from` Hz as `to` Hz, by linear interpolation (averaging
/// when going down, so the result does not alias badly).
pub fn resample(samples: &[i16], from: u32, to: u32) -> Vec<i16> {
    if samples.is_empty() || from == to || from == 0 || to == 0 {
        return samples.to_vec();
    }
    let out_len = (samples.len() as u64 * u64::from(to) / u64::from(from)) as usize;
    let step = f64::from(from) / f64::from(to);
    (0..out_len)
        .map(|i| {
            let position = i as f64 * step;
            let index = position as usize;
            if step > 1.0 {
                let end = ((position + step) as usize)
                    .min(samples.len())
                    .max(index + 1);
                let window = &samples[index.min(samples.len() - 1)..end];
                let sum: i64 = window.iter().map(|&s| i64::from(s)).sum();
                (sum / window.len().max(1) as i64) as i16
            } else {
                let a = f64::from(samples[index.min(samples.len() - 1)]);
                let b = f64::from(samples[(index + 1).min(samples.len() - 1)]);
                (a + (b - a) * (position - index as f64)).round() as i16
            }
        })
        .collect()
}

/// `record = "/dir/${call_id}.wav"`: the directory is fixed at load; the
/// file name is a template, and what a peer substitutes into it is made
/// safe (no `/`, no leading dot).
#[derive(Debug, Clone)]
pub struct RecordSpec {
    pub dir: PathBuf,
    pub file: Template,
}

impl RecordSpec {
    /// The path for one call, from the rendered file name.
    pub fn path(&self, rendered: &str) -> PathBuf {
        let mut name: String = rendered
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.@+=".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .take(200)
            .collect();
        if name.starts_with('.') || name.is_empty() {
            name.insert(0, '_');
        }
        self.dir.join(name)
    }
}

/// `on_dtmf = [{ digits = '…', … }]`: when the digits received since the
/// last match (at most 32) match `pattern`, do what the entry says.
#[derive(Debug, Clone)]
pub struct DtmfRule {
    pub pattern: Regex,
    /// End the call with BYE.
    pub hangup: bool,
    /// Send this from now on.
    pub send: Option<Sender>,
    /// Send these digits.
    pub dtmf: Option<Box<str>>,
}

impl fmt::Display for MediaPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(digits) = &self.dtmf {
            write!(f, "DTMF {digits}, then ")?;
        }
        match &self.send {
            Sender::Tone(tone) => write!(f, "a {} Hz tone", tone.hz)?,
            Sender::Play(clip) => write!(
                f,
                "{} ({} ms{})",
                clip.path.display(),
                clip.duration_ms(),
                if clip.looped { ", looped" } else { "" }
            )?,
            other => f.write_str(other.name())?,
        }
        if let Some(record) = &self.record {
            write!(
                f,
                ", recording to {}/{}",
                record.dir.display(),
                record.file.raw()
            )?;
        }
        if !self.on_dtmf.is_empty() {
            write!(f, ", {} DTMF rule(s)", self.on_dtmf.len())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tone_loops_are_seamless_and_bounded() {
        for hz in [440, 441, 1000, 3999] {
            let tone = Tone::new(hz);
            for rate in RATES {
                let pcm = tone.pcm(rate);
                assert!(pcm.len() <= rate as usize);
                // The sample after the last would be the first again.
                let next = (f64::from(pcm.len() as u32) * f64::from(hz) * std::f64::consts::TAU
                    / f64::from(rate))
                .sin();
                assert!(next.abs() < 1e-6, "{hz} Hz at {rate}");
            }
        }
    }

    #[test]
    fn resampling_keeps_length_and_shape() {
        let ramp: Vec<i16> = (0..800).map(|i| i * 10).collect();
        let up = resample(&ramp, 8000, 16000);
        assert_eq!(up.len(), 1600);
        assert_eq!(up[2], ramp[1]);
        assert_eq!(up[3], (ramp[1] + ramp[2]) / 2);
        let down = resample(&up, 16000, 8000);
        assert_eq!(down.len(), 800);
        assert!((i32::from(down[100]) - i32::from(ramp[100])).abs() <= 10);
    }

    #[test]
    fn record_names_cannot_escape_their_directory() {
        let spec = RecordSpec {
            dir: PathBuf::from("/var/lib/rec"),
            file: Template::literal("x"),
        };
        assert_eq!(
            spec.path("../../etc/passwd"),
            PathBuf::from("/var/lib/rec/_.._.._etc_passwd")
        );
        assert_eq!(
            spec.path("a84b@host.wav"),
            PathBuf::from("/var/lib/rec/a84b@host.wav")
        );
        assert_eq!(spec.path(""), PathBuf::from("/var/lib/rec/_"));
    }
}
