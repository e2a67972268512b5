//! The reloadable snapshot: rules and every setting a message is handled
//! with, built from a config as one value.

use std::sync::Arc;

use bytes::Bytes;

use super::EngineSettings;
use super::sdp::SdpSettings;
use crate::config::{Config, ReliableProvisionals, ServerSettings};
use crate::rules::RuleSet;
use crate::transaction::{DialogSettings, LayerSettings, ReliableMode};

/// Everything reloadable, as one value: a message is handled with the
/// snapshot current when it arrived, and a transaction, its policy and its
/// dialog keep theirs for life, so nothing ever mixes two configs.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub rules: Arc<RuleSet>,
    pub settings: EngineSettings,
    /// Timers, bounds and dialog settings of the transaction layer.
    pub layer: Arc<LayerSettings>,
    pub sdp: Arc<SdpSettings>,
    /// `[media]` (its port range is the one at start: changing it takes a
    /// restart).
    pub media: Arc<crate::media::MediaSettings>,
    /// `[auth]`: users and nonce lifetime.
    pub auth: Arc<crate::auth::AuthSettings>,
}

impl Snapshot {
    /// Everything reloadable of `config`.
    pub fn of(config: &Config) -> Self {
        Self {
            rules: config.rules.clone(),
            settings: engine_settings(config),
            layer: Arc::new(layer_settings(&config.server)),
            sdp: Arc::new(sdp_settings(&config.server)),
            media: Arc::new(config.server.media.clone()),
            auth: config.auth.clone(),
        }
    }
}

/// The transaction layer's settings from `[server]`, `[timers]` and
/// `[dialog]`.
fn layer_settings(settings: &ServerSettings) -> LayerSettings {
    let dialog = settings.dialog;
    LayerSettings {
        timers: settings.timers,
        max_transactions: settings.max_transactions,
        server_header: Bytes::from(format!("Server: {}\r\n", settings.user_agent)),
        user_agent: settings.user_agent.clone(),
        force_rport: settings.force_rport,
        ring_timeout: settings.ring_timeout,
        reliable: match settings.reliable_provisionals {
            ReliableProvisionals::Required => ReliableMode::Required,
            ReliableProvisionals::Supported => ReliableMode::Supported,
            ReliableProvisionals::Never => ReliableMode::Never,
        },
        dialog: DialogSettings {
            max_dialogs: dialog.max_dialogs,
            max_duration: dialog.max_duration,
            max_bytes: dialog.max_bytes,
            min_se: dialog.min_se,
            session_expires: dialog.session_expires,
        },
    }
}

/// What SDP answers are made with, from `[server]` and `[sdp]`.
fn sdp_settings(settings: &ServerSettings) -> SdpSettings {
    SdpSettings {
        codecs: settings.sdp_codecs.clone(),
        public_address: settings
            .public_address
            .as_deref()
            .and_then(|a| a.parse().ok()),
        base_port: settings.rtp_port,
        prefer: settings.sdp_prefer,
        generation: 0,
    }
}

/// The engine's own per-request settings of a config.
fn engine_settings(config: &Config) -> EngineSettings {
    EngineSettings {
        limits: config.server.limits,
        allowed_methods: config.server.allowed_methods.clone(),
        rate_limit: config.server.rate_limit,
        unverified_udp: config.server.unverified_udp,
        scope: config.server.scope.clone(),
    }
}
