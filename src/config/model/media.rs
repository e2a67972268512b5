//! `[media]` and a step's `media` / `on_dtmf` as written in the file.

use serde::Deserialize;
use toml::Spanned;

/// `[media]`: the RTP engine of answered calls.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaSection {
    /// `"first-last"`: the ports calls take pairs from (RTP even, RTCP odd).
    #[serde(default = "default_port_range")]
    pub port_range: Spanned<String>,
    /// An answered call that gets no RTP for this long is ended with BYE,
    /// ms (0: never; default 60000).
    #[serde(default = "default_timeout")]
    pub timeout_ms: Spanned<u64>,
    /// RTCP report interval, ms (RFC 3550: 5000; randomised ±50 %).
    #[serde(default = "default_rtcp_interval")]
    pub rtcp_interval_ms: Spanned<u64>,
    /// Bytes of audio one recording may hold (default 16 MiB).
    #[serde(default = "default_recording_bytes")]
    pub max_recording_bytes: Spanned<u64>,
    /// Recordings one run of the daemon may write (default 1000).
    #[serde(default = "default_recordings")]
    pub max_recordings: Spanned<usize>,
}

impl Default for MediaSection {
    fn default() -> Self {
        Self {
            port_range: default_port_range(),
            timeout_ms: default_timeout(),
            rtcp_interval_ms: default_rtcp_interval(),
            max_recording_bytes: default_recording_bytes(),
            max_recordings: default_recordings(),
        }
    }
}

fn default_port_range() -> Spanned<String> {
    Spanned::new(0..0, "40000-40999".to_owned())
}

fn default_timeout() -> Spanned<u64> {
    Spanned::new(0..0, 60_000)
}

fn default_rtcp_interval() -> Spanned<u64> {
    Spanned::new(0..0, 5000)
}

fn default_recording_bytes() -> Spanned<u64> {
    Spanned::new(0..0, 16 * 1024 * 1024)
}

fn default_recordings() -> Spanned<usize> {
    Spanned::new(0..0, 1000)
}

/// `media = "echo" | "silence" | "none" | { … }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    untagged,
    expecting = "\"echo\", \"silence\", \"none\" or a table such as { tone = 440 }"
)]
pub enum MediaValue {
    Named(String),
    Table(MediaTable),
}

/// `{ tone = 440 }`, `{ play = "file.wav", loop = true }`,
/// `{ record = "/dir/${call_id}.wav" }`, `{ dtmf = "1234#" }`, and some of
/// them together: digits first, then what is sent; a recording beside it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaTable {
    /// Send a sine tone of this frequency, Hz.
    pub tone: Option<u32>,
    /// Send this WAV file (mono 16-bit PCM, 8 or 16 kHz).
    pub play: Option<String>,
    /// Play the file again and again (default: once, then silence).
    #[serde(rename = "loop")]
    pub looped: Option<bool>,
    /// Record what arrives to this WAV file (`${…}` in the file name).
    pub record: Option<String>,
    /// Send these digits (RFC 4733) first.
    pub dtmf: Option<String>,
    /// Echo what arrives (beside `record` or `dtmf`).
    #[serde(default)]
    pub echo: bool,
}

/// `on_dtmf = [{ digits = '#$', hangup = true }, …]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DtmfRuleSection {
    /// A regex over the digits received since the last match.
    pub digits: Spanned<String>,
    /// End the call (BYE).
    #[serde(default)]
    pub hangup: bool,
    /// Send this from now on (`"echo"`, `"silence"`, `{ tone }`, `{ play }`).
    pub media: Option<Spanned<MediaValue>>,
    /// Send these digits.
    pub dtmf: Option<Spanned<String>>,
}
