//! Loading the TOML config: file → sections (each deserialised on its own so
//! that one bad rule does not hide the errors of the next) → compiled
//! [`Config`]. TOML stops here: nothing past this module sees it.

mod auth;
mod collect;
mod compile;
mod delays;
mod error;
mod header_lines;
mod json_locate;
mod json_rules;
mod lints;
mod listeners;
mod log_level;
mod media;
pub mod model;
mod policy;
mod rule_auth;
mod rules;
mod runtime;
mod suggest;
mod timing;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

pub use error::{ConfigError, ConfigErrors, LoadError};
pub use json_rules::parse_rules_json;
pub use model::ReliableProvisionals;
pub use runtime::{RuleLimits, RuntimeRules, parse_rules, shadows};

use crate::rules::RuleSet;
use crate::sip::{Limits, Timers, Transport};
use error::Diagnostics;
use model::{
    AdminSection, AuthSection, CaptureSection, DialogSection, ListenSection, LogSection,
    MediaSection, PolicySection, RuleSection, SdpSection, ServerSection, TimersSection,
};

/// The embedded default config (config/default.toml).
pub const DEFAULT_CONFIG: &str = include_str!("../../config/default.toml");
/// Name the embedded default is reported under.
pub const DEFAULT_CONFIG_NAME: &str = "<embedded default config>";
/// The system config used when no `--config` is given and the file exists.
pub const SYSTEM_CONFIG_PATH: &str = "/etc/sip-autoresponder/config.toml";

/// Server-wide settings, validated.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub user_agent: String,
    pub public_address: Option<String>,
    pub force_rport: bool,
    pub limits: Limits,
    pub udp_workers: usize,
    pub max_transactions: usize,
    /// `None`: every method may reach the rules.
    pub allowed_methods: Option<Vec<String>>,
    pub timers: Timers,
    /// `[timers] ring_timeout_ms`.
    pub ring_timeout: Duration,
    /// `[dialog]`.
    pub dialog: DialogConfig,
    /// On SIGTERM, how long transactions in flight may finish.
    pub drain_timeout: Duration,
    /// `[log] level`, when set (`RUST_LOG` overrides it).
    pub log_level: Option<String>,
    /// `[admin]`, when present.
    pub admin: Option<AdminSettings>,
    /// `[server.rate_limit]`, when present.
    pub rate_limit: Option<RateLimit>,
    /// `[server] reliable_provisionals`.
    pub reliable_provisionals: ReliableProvisionals,
    /// `[server.unverified_udp]`.
    pub unverified_udp: crate::transport::Allowance,
    /// `[sdp] codecs`.
    pub sdp_codecs: Vec<crate::rules::sdp::Codec>,
    /// `[sdp] prefer`.
    pub sdp_prefer: crate::rules::sdp::Preference,
    /// `[sdp] rtp_port`.
    pub rtp_port: u16,
    /// `[capture]`, when present.
    pub capture: Option<crate::capture::CaptureSettings>,
    /// Where a request's scope is read from (`scope_header`,
    /// `scope_user_separator`).
    pub scope: crate::rules::ScopeSource,
    /// `[media]`.
    pub media: crate::media::MediaSettings,
}

/// `[dialog]`: bounds and lifetime of dialogs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DialogConfig {
    pub max_dialogs: usize,
    pub max_duration: Duration,
    pub max_bytes: usize,
    /// Seconds.
    pub min_se: u32,
    /// Seconds.
    pub session_expires: Option<u32>,
}

/// A per-source token bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
    /// Answer 503 (true) or drop (false) beyond the limit.
    pub answer_503: bool,
}

/// The admin HTTP listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSettings {
    pub address: SocketAddr,
    pub token: Option<String>,
    pub journal_size: usize,
    /// Bytes the journal may hold in memory.
    pub journal_max_bytes: usize,
    pub journal_file: Option<PathBuf>,
    /// The journal file is rotated at this size.
    pub journal_file_max_bytes: u64,
}

/// One socket to bind, with its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSpec {
    pub transport: Transport,
    pub address: SocketAddr,
    /// TLS and WSS: the certificate chain and key, read and checked at load.
    pub tls: Option<Arc<TlsMaterial>>,
    /// WS and WSS: the HTTP path the handshake must use, if any.
    pub path: Option<String>,
    pub limits: ConnectionLimits,
    /// Only these sources are served (None: all).
    pub allow_sources: Option<Arc<[ipnet::IpNet]>>,
}

/// Limits of a stream listener (ignored for UDP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub max_connections_per_source: usize,
    pub idle_timeout: Duration,
    pub first_message_timeout: Duration,
    pub message_timeout: Duration,
    pub write_timeout: Duration,
    pub max_send_queue_bytes: usize,
    pub max_ws_message_size: usize,
}

/// Connections one source may hold by default (or max_connections when
/// that is lower).
pub const DEFAULT_CONNECTIONS_PER_SOURCE: usize = 256;

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_connections_per_source: DEFAULT_CONNECTIONS_PER_SOURCE,
            idle_timeout: Duration::from_secs(300),
            first_message_timeout: Duration::from_secs(10),
            message_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            max_send_queue_bytes: 256 * 1024,
            max_ws_message_size: 64 * 1024,
        }
    }
}

/// A TLS certificate chain and private key loaded from PEM files.
#[derive(Debug)]
pub struct TlsMaterial {
    pub certificate_path: PathBuf,
    pub private_key_path: PathBuf,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl PartialEq for TlsMaterial {
    fn eq(&self, other: &Self) -> bool {
        self.chain == other.chain && self.key.secret_der() == other.key.secret_der()
    }
}

impl Eq for TlsMaterial {}

/// A loaded, validated and compiled config.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from (or [`DEFAULT_CONFIG_NAME`]).
    pub source: String,
    pub server: ServerSettings,
    pub listeners: Vec<ListenerSpec>,
    pub rules: Arc<RuleSet>,
    /// `[auth]`: users (HA1 for every realm the rules name), nonce lifetime.
    pub auth: Arc<crate::auth::AuthSettings>,
    /// Things that load but are probably mistakes (`check` prints them,
    /// `run` logs them, `check --strict` refuses them).
    pub warnings: Vec<ConfigError>,
}

impl Config {
    /// Reads and compiles a config file.
    pub fn load_file(path: &Path) -> Result<Self, LoadError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: name.clone(),
            source,
        })?;
        Self::parse(&text, &name).map_err(LoadError::Invalid)
    }

    /// The embedded default config.
    pub fn embedded_default() -> Result<Self, LoadError> {
        Self::parse(DEFAULT_CONFIG, DEFAULT_CONFIG_NAME).map_err(LoadError::Invalid)
    }

    /// Parses and compiles config text; `name` is used in error positions.
    pub fn parse(text: &str, name: &str) -> Result<Self, ConfigErrors> {
        let mut diag = Diagnostics::new(name, text);
        let (root, syntax_errors) = DeTable::parse_recoverable(text);
        if !syntax_errors.is_empty() {
            for error in syntax_errors {
                diag.error(error.span().unwrap_or(0..0), error.message().to_owned());
            }
            return Err(ConfigErrors {
                errors: diag.errors,
                warnings: Vec::new(),
            });
        }
        let sections = read_sections(root.into_inner(), &mut diag);
        let config = compile::compile(&sections, name, &mut diag);
        if let Some(config) = &config {
            lints::check(&sections, config, &mut diag);
        }
        diag.sort();
        match config {
            Some(config) if diag.errors.is_empty() => Ok(Self {
                warnings: diag.warnings,
                ..config
            }),
            _ => Err(ConfigErrors {
                errors: diag.errors,
                warnings: diag.warnings,
            }),
        }
    }
}

/// The raw sections of one file.
#[derive(Debug, Default)]
pub(crate) struct Sections {
    pub(crate) server: ServerSection,
    pub(crate) listen: Vec<Spanned<ListenSection>>,
    /// `[[listen]]` entries in the file, read or not (one with a bad key is
    /// still a listener the user meant).
    pub(crate) listen_entries: usize,
    pub(crate) rules: Vec<Spanned<RuleSection>>,
    pub(crate) fallback: Option<Spanned<PolicySection>>,
    pub(crate) timers: TimersSection,
    pub(crate) dialog: DialogSection,
    pub(crate) log: LogSection,
    pub(crate) admin: Option<Spanned<AdminSection>>,
    pub(crate) sdp: SdpSection,
    pub(crate) media: MediaSection,
    pub(crate) capture: Option<Spanned<CaptureSection>>,
    pub(crate) auth: Option<Spanned<AuthSection>>,
}

const SECTIONS: [&str; 12] = [
    "server", "timers", "dialog", "log", "admin", "sdp", "media", "capture", "auth", "listen",
    "rule", "fallback",
];

fn read_sections(root: DeTable<'_>, diag: &mut Diagnostics<'_>) -> Sections {
    let mut sections = Sections::default();
    for (key, value) in root {
        match key.get_ref().as_ref() {
            "server" => {
                if let Some(server) = section::<ServerSection>(value, "[server]", diag) {
                    sections.server = server.into_inner();
                }
            }
            "listen" => {
                sections.listen_entries = match value.get_ref() {
                    DeValue::Array(items) => items.len(),
                    _ => 1,
                };
                sections.listen = array_of(value, "listen", diag);
            }
            "rule" => sections.rules = array_of(value, "rule", diag),
            "fallback" => sections.fallback = section(value, "[fallback]", diag),
            "admin" => sections.admin = section(value, "[admin]", diag),
            "capture" => sections.capture = section(value, "[capture]", diag),
            "auth" => sections.auth = section(value, "[auth]", diag),
            "sdp" => {
                if let Some(sdp) = section::<SdpSection>(value, "[sdp]", diag) {
                    sections.sdp = sdp.into_inner();
                }
            }
            "media" => {
                if let Some(media) = section::<MediaSection>(value, "[media]", diag) {
                    sections.media = media.into_inner();
                }
            }
            "log" => {
                if let Some(log) = section::<LogSection>(value, "[log]", diag) {
                    sections.log = log.into_inner();
                }
            }
            "timers" => {
                if let Some(timers) = section::<TimersSection>(value, "[timers]", diag) {
                    sections.timers = timers.into_inner();
                }
            }
            "dialog" => {
                if let Some(dialog) = section::<DialogSection>(value, "[dialog]", diag) {
                    sections.dialog = dialog.into_inner();
                }
            }
            other => diag.error(
                key.span(),
                format!(
                    "unknown section `{other}`{}",
                    suggest::nearest(other, SECTIONS).map_or_else(
                        || format!(" (sections: {})", SECTIONS.join(", ")),
                        |known| format!("; did you mean `{known}`?")
                    )
                ),
            ),
        }
    }
    sections
}

/// Deserialises one table, recording every error in it (with position).
fn section<'de, T: Deserialize<'de>>(
    value: Spanned<DeValue<'de>>,
    label: &str,
    diag: &mut Diagnostics<'_>,
) -> Option<Spanned<T>> {
    collect::deserialize_all(value, label, diag)
}

/// `[[name]]` entries, each deserialised on its own.
fn array_of<'de, T: Deserialize<'de>>(
    value: Spanned<DeValue<'de>>,
    name: &str,
    diag: &mut Diagnostics<'_>,
) -> Vec<Spanned<T>> {
    let span = value.span();
    let label = format!("[[{name}]]");
    match value.into_inner() {
        DeValue::Array(items) => items
            .into_iter()
            .filter_map(|item| section(item, &label, diag))
            .collect(),
        _ => {
            diag.error(
                span,
                format!("`{name}` must be an array of tables ([[{name}]])"),
            );
            Vec::new()
        }
    }
}

#[cfg(test)]
mod auth_tests;
#[cfg(test)]
mod checker_tests;
#[cfg(test)]
mod media_tests;
#[cfg(test)]
mod tests;
