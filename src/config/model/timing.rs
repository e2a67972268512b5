//! `[timers]` and `[dialog]` as written in the file.

use serde::Deserialize;
use toml::Spanned;

/// `[timers]`: RFC 3261 §17 timer bases (shorten them in tests).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimersSection {
    /// RTT estimate, ms (RFC 3261 default 500).
    #[serde(default = "default_t1")]
    pub t1_ms: Spanned<u64>,
    /// Longest retransmit interval for non-INVITE requests and INVITE
    /// responses, ms (default 4000).
    #[serde(default = "default_t2")]
    pub t2_ms: Spanned<u64>,
    /// Longest time a message stays in the network, ms (default 5000).
    #[serde(default = "default_t4")]
    pub t4_ms: Spanned<u64>,
    /// An INVITE without a final response this long gets one from the
    /// responder (480, or the rule's `no_answer`), ms (default 180000).
    #[serde(default = "default_ring_timeout")]
    pub ring_timeout_ms: Spanned<u64>,
}

impl Default for TimersSection {
    fn default() -> Self {
        Self {
            t1_ms: default_t1(),
            t2_ms: default_t2(),
            t4_ms: default_t4(),
            ring_timeout_ms: default_ring_timeout(),
        }
    }
}

fn default_ring_timeout() -> Spanned<u64> {
    Spanned::new(0..0, 180_000)
}

/// `[dialog]`: how many dialogs, how big, and how long they live.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialogSection {
    /// Dialogs at once; an initial INVITE beyond it gets 503.
    #[serde(default = "default_max_dialogs")]
    pub max_dialogs: Spanned<usize>,
    /// A dialog still up after this long is ended with BYE, ms (default
    /// 4 hours).
    #[serde(default = "default_max_duration")]
    pub max_duration_ms: Spanned<u64>,
    /// Bytes a dialog may keep (route set, Contact, From, To, Call-ID); an
    /// initial INVITE that needs more gets 513.
    #[serde(default = "default_dialog_bytes")]
    pub max_bytes: Spanned<usize>,
    /// RFC 4028 Min-SE, seconds: a shorter session interval gets 422.
    #[serde(default = "default_min_se")]
    pub min_se: Spanned<u32>,
    /// Session interval asked of a UAC that supports session timers but
    /// proposed none, seconds; unset: none is asked.
    pub session_expires: Option<Spanned<u32>>,
}

impl Default for DialogSection {
    fn default() -> Self {
        Self {
            max_dialogs: default_max_dialogs(),
            max_duration_ms: default_max_duration(),
            max_bytes: default_dialog_bytes(),
            min_se: default_min_se(),
            session_expires: None,
        }
    }
}

fn default_max_dialogs() -> Spanned<usize> {
    Spanned::new(0..0, 100_000)
}

fn default_max_duration() -> Spanned<u64> {
    Spanned::new(0..0, 4 * 3600 * 1000)
}

fn default_dialog_bytes() -> Spanned<usize> {
    Spanned::new(0..0, 8192)
}

fn default_min_se() -> Spanned<u32> {
    Spanned::new(0..0, 90)
}

fn default_t1() -> Spanned<u64> {
    Spanned::new(0..0, 500)
}

fn default_t2() -> Spanned<u64> {
    Spanned::new(0..0, 4000)
}

fn default_t4() -> Spanned<u64> {
    Spanned::new(0..0, 5000)
}
