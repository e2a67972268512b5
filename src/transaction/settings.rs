//! What the transaction layer is configured with. A reload makes a new
//! value; each transaction and dialog keeps the one it started with.

use std::time::Duration;

use bytes::Bytes;

use crate::sip::Timers;

/// When provisional responses to an INVITE go reliably (RFC 3262).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReliableMode {
    /// When the INVITE has `Require: 100rel`.
    #[default]
    Required,
    /// When the INVITE has 100rel in `Require` or `Supported`.
    Supported,
    /// Never (`Require: 100rel` is refused with 420 before the rules).
    Never,
}

/// Settings of the transaction layer.
#[derive(Debug, Clone)]
pub struct LayerSettings {
    pub timers: Timers,
    /// Most transactions in progress at once, INVITE and others counted
    /// apart; the completed-transaction cache holds as many.
    pub max_transactions: usize,
    /// `Server: …\r\n`, rendered once.
    pub server_header: Bytes,
    pub user_agent: String,
    /// Answer UDP at the source port even without `;rport`.
    pub force_rport: bool,
    /// An INVITE without a final response this long gets one from the
    /// layer (480 with a Reason, or the rule's `no_answer`).
    pub ring_timeout: Duration,
    pub reliable: ReliableMode,
    pub dialog: DialogSettings,
}

impl Default for LayerSettings {
    fn default() -> Self {
        Self {
            timers: Timers::default(),
            max_transactions: 100_000,
            server_header: Bytes::from_static(b"Server: sip-autoresponder\r\n"),
            user_agent: "sip-autoresponder".to_owned(),
            force_rport: false,
            ring_timeout: Duration::from_secs(180),
            reliable: ReliableMode::default(),
            dialog: DialogSettings::default(),
        }
    }
}

/// The lifetime and size of dialogs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DialogSettings {
    /// Dialogs at once; an initial INVITE beyond it gets 503.
    pub max_dialogs: usize,
    /// A dialog still up after this long is ended with BYE.
    pub max_duration: Duration,
    /// Bytes a dialog may keep (route set, remote target, From, To,
    /// Call-ID); an initial INVITE that needs more gets 513.
    pub max_bytes: usize,
    /// RFC 4028 Min-SE: shorter session intervals get 422 (seconds).
    pub min_se: u32,
    /// The session interval asked of a UAC that supports session timers
    /// but proposed none (seconds); `None`: ask for none.
    pub session_expires: Option<u32>,
}

impl Default for DialogSettings {
    fn default() -> Self {
        Self {
            max_dialogs: 100_000,
            max_duration: Duration::from_secs(4 * 3600),
            max_bytes: 8192,
            min_se: 90,
            session_expires: None,
        }
    }
}
