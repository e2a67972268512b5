//! The TOML schema, as serde types. Every table refuses unknown keys; values
//! that need checks beyond their type keep their position (`Spanned`) so the
//! compiler can point at them.

use std::collections::BTreeMap;

mod auth;
mod media;
mod policy;
mod timing;
pub use auth::{AuthRequirementSection, AuthRuleSection, AuthSection};
pub use media::*;
pub use policy::*;
pub use timing::{DialogSection, TimersSection};

use serde::Deserialize;
use toml::Spanned;

/// `[server]`: identity and protocol settings shared by every listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Value of the Server header in responses (and User-Agent in requests).
    #[serde(default = "default_user_agent")]
    pub user_agent: Spanned<String>,
    /// Host written in Contact (and SDP); default: the listener's own address.
    pub public_address: Option<Spanned<String>>,
    /// Answer UDP requests at their source port even without `;rport`
    /// (as Kamailio's force_rport does), for clients behind NAT.
    #[serde(default)]
    pub force_rport: bool,
    /// Largest message accepted, in bytes.
    #[serde(default = "default_max_message_size")]
    pub max_message_size: Spanned<usize>,
    /// Most header field lines accepted in one message.
    #[serde(default = "default_max_headers")]
    pub max_headers: Spanned<usize>,
    /// Receive tasks per UDP listener; default: one per CPU core.
    pub udp_workers: Option<Spanned<usize>>,
    /// Most transactions in progress at once; beyond it new requests get
    /// 503 with Retry-After.
    #[serde(default = "default_max_transactions")]
    pub max_transactions: Spanned<usize>,
    /// When set, requests with any other method get 405 with Allow.
    pub allowed_methods: Option<Spanned<Vec<String>>>,
    /// On SIGTERM, how long transactions in flight may finish, ms.
    #[serde(default = "default_drain_timeout")]
    pub drain_timeout_ms: Spanned<u64>,
    /// Seed for weighted outcomes and delay ranges: the same seed gives the
    /// same sequence of draws.
    pub seed: Option<u64>,
    /// Per-source request rate limit (off by default).
    pub rate_limit: Option<Spanned<RateLimitSection>>,
    /// When provisional responses to INVITE are sent reliably (RFC 3262).
    #[serde(default)]
    pub reliable_provisionals: ReliableProvisionals,
    /// What a UDP source that has not shown it receives may be sent.
    pub unverified_udp: Option<Spanned<UnverifiedUdpSection>>,
    /// The header whose value is a request's scope (the test it belongs
    /// to; a rule's `scope` and the journal's `?scope=` use it); "" turns
    /// it off.
    #[serde(default = "default_scope_header")]
    pub scope_header: Spanned<String>,
    /// Also: the Request-URI user up to this character is the scope
    /// (`"."`: `sip:t1.bob@…` is in scope `t1`). Off by default.
    pub scope_user_separator: Option<Spanned<String>>,
}

fn default_scope_header() -> Spanned<String> {
    Spanned::new(0..0, "X-Test-Id".to_owned())
}

/// `[server.unverified_udp]`: no amplification toward a UDP source that has
/// not shown it receives (it might be spoofed).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnverifiedUdpSection {
    /// Bytes (and messages) sent per byte (and message) received.
    #[serde(default = "default_unverified_ratio")]
    pub ratio: Spanned<f64>,
    /// Extra messages a second, per source (retransmissions on lossy links).
    #[serde(default = "default_zero_rate")]
    pub messages_per_second: Spanned<f64>,
    /// Extra bytes a second, per source.
    #[serde(default = "default_zero_rate")]
    pub bytes_per_second: Spanned<f64>,
}

fn default_unverified_ratio() -> Spanned<f64> {
    Spanned::new(0..0, 3.0)
}

fn default_zero_rate() -> Spanned<f64> {
    Spanned::new(0..0, 0.0)
}

/// `[server] reliable_provisionals`: when 1xx responses to an INVITE are
/// sent reliably (RFC 3262: `Require: 100rel`, `RSeq`, retransmitted until
/// PRACK).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReliableProvisionals {
    /// When the INVITE has `Require: 100rel`.
    #[default]
    Required,
    /// When the INVITE has 100rel in `Require` or `Supported`.
    Supported,
    /// Never: `Require: 100rel` gets 420, like any other extension.
    Never,
}

/// `[server.rate_limit]`: a token bucket per source IP address.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSection {
    /// Sustained requests per second from one source address.
    pub per_second: u32,
    /// Requests allowed in a burst (default: per_second).
    pub burst: Option<u32>,
    /// `"drop"` (the default: nothing is sent back, which suits spoofed
    /// sources) or `"503"` (at most one 503 with Retry-After per source per
    /// second; the rest dropped).
    #[serde(default = "default_rate_action")]
    pub action: Spanned<String>,
}

fn default_rate_action() -> Spanned<String> {
    Spanned::new(0..0, "drop".to_owned())
}

fn default_drain_timeout() -> Spanned<u64> {
    Spanned::new(0..0, 30_000)
}

/// `[admin]`: the admin HTTP listener (request journal, metrics, health).
/// Present means on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    /// `IP:port` (default 127.0.0.1:9060: loopback only).
    pub address: Option<Spanned<String>>,
    /// When set, requests need `Authorization: Bearer <token>` (but /health).
    pub token: Option<Spanned<String>>,
    /// Requests kept in the journal.
    #[serde(default = "default_journal_size")]
    pub journal_size: Spanned<usize>,
    /// Bytes the journal may hold in memory (oldest records go first).
    #[serde(default = "default_journal_max_bytes")]
    pub journal_max_bytes: Spanned<u64>,
    /// Also append the journal as JSON lines to this file.
    pub journal_file: Option<Spanned<String>>,
    /// Size at which the journal file is rotated (to `<file>.1`), bytes.
    #[serde(default = "default_journal_file_max_bytes")]
    pub journal_file_max_bytes: Spanned<u64>,
}

fn default_journal_max_bytes() -> Spanned<u64> {
    Spanned::new(0..0, 16 * 1024 * 1024)
}

fn default_journal_file_max_bytes() -> Spanned<u64> {
    Spanned::new(0..0, 64 * 1024 * 1024)
}

fn default_journal_size() -> Spanned<usize> {
    Spanned::new(0..0, 1000)
}

/// `[capture]`: a copy of every SIP message received and sent, as HEP v3
/// to a Homer collector. Present means on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureSection {
    /// The collector, `IP:port` (HEP over UDP; Homer listens on 9060).
    pub hep: Spanned<String>,
    /// The capture agent id in every packet (Homer's node id).
    #[serde(default = "default_node_id")]
    pub node_id: u32,
    /// HEP auth key, when the collector asks for one.
    pub password: Option<Spanned<String>>,
}

fn default_node_id() -> u32 {
    1
}

/// `[sdp]`: how `body = { sdp = "answer" }` answers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SdpSection {
    /// Codecs accepted, in `media/name[/clock rate]` form (a bare name means
    /// audio); default PCMU, PCMA, G722, opus, telephone-event.
    pub codecs: Option<Spanned<Vec<String>>>,
    /// RTP port of the first m-line (even; default 40000).
    pub rtp_port: Option<Spanned<u16>>,
    /// Whose codec order picks an answered stream's codec: `"theirs"` (the
    /// offer's first that is in `codecs`; the default) or `"ours"` (the
    /// first of `codecs` that the offer lists).
    pub prefer: Option<Spanned<String>>,
}

/// `[log]`: logging.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// `error`, `warn`, `info`, `debug`, `trace` or a tracing filter such as
    /// `info,sip_autoresponder::transport=debug`; `RUST_LOG` overrides it.
    pub level: Option<Spanned<String>>,
}

fn default_max_transactions() -> Spanned<usize> {
    Spanned::new(0..0, 100_000)
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            user_agent: default_user_agent(),
            public_address: None,
            force_rport: false,
            max_message_size: default_max_message_size(),
            max_headers: default_max_headers(),
            udp_workers: None,
            max_transactions: default_max_transactions(),
            allowed_methods: None,
            drain_timeout_ms: default_drain_timeout(),
            seed: None,
            rate_limit: None,
            reliable_provisionals: ReliableProvisionals::default(),
            unverified_udp: None,
            scope_header: default_scope_header(),
            scope_user_separator: None,
        }
    }
}

fn default_user_agent() -> Spanned<String> {
    Spanned::new(
        0..0,
        concat!("sip-autoresponder/", env!("CARGO_PKG_VERSION")).to_owned(),
    )
}

fn default_max_message_size() -> Spanned<usize> {
    Spanned::new(0..0, 64 * 1024)
}

fn default_max_headers() -> Spanned<usize> {
    Spanned::new(0..0, 128)
}

/// `[[listen]]`: one socket to serve.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenSection {
    /// `udp`, `tcp`, `tls`, `ws` or `wss`.
    pub transport: Spanned<String>,
    /// `IP:port`; IPv6 as `[::1]:5060`; port 0 picks a free port.
    pub address: Spanned<String>,
    /// TLS and WSS: PEM file with the certificate chain.
    pub certificate: Option<Spanned<String>>,
    /// TLS and WSS: PEM file with the private key.
    pub private_key: Option<Spanned<String>>,
    /// WS and WSS: the only HTTP path the WebSocket handshake accepts
    /// (default: any).
    pub path: Option<Spanned<String>>,
    /// Stream transports: most connections open at once.
    pub max_connections: Option<Spanned<usize>>,
    /// Stream transports: most connections one source address may hold
    /// open (default 256, or max_connections when lower).
    pub max_connections_per_source: Option<Spanned<usize>>,
    /// Stream transports: close a connection idle this long, ms.
    pub idle_timeout_ms: Option<Spanned<u64>>,
    /// Stream transports: close a connection that sent no whole message
    /// this long after it opened, ms.
    pub first_message_timeout_ms: Option<Spanned<u64>>,
    /// Stream transports: each write to the peer must complete within this,
    /// else the connection closes, ms.
    pub write_timeout_ms: Option<Spanned<u64>>,
    /// Stream transports: bytes that may wait to be written to one
    /// connection; more closes it (its peer is not reading).
    pub max_send_queue_bytes: Option<Spanned<usize>>,
    /// Stream transports: a message (or handshake) must arrive whole within
    /// this time once started, ms; slower senders are cut off.
    pub message_timeout_ms: Option<Spanned<u64>>,
    /// WS and WSS: largest WebSocket message, bytes (default: the
    /// server's max_message_size).
    pub max_ws_message_size: Option<Spanned<usize>>,
    /// Only these source CIDRs are served; others are dropped (UDP) or
    /// refused (connections), counted and logged at debug level.
    pub allow_sources: Option<Spanned<OneOrMany>>,
}

/// One value or a list of them (`method = "INVITE"` or `["INVITE", "BYE"]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged, expecting = "a string or a list of strings")]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn items(&self) -> &[String] {
        match self {
            Self::One(one) => std::slice::from_ref(one),
            Self::Many(many) => many,
        }
    }
}

/// A header condition: a regex the value must match, or `true` / `false`
/// for "present" / "absent".
#[derive(Debug, Clone, Deserialize)]
#[serde(
    untagged,
    expecting = "a regex string, or true/false for present/absent"
)]
pub enum HeaderCondition {
    Pattern(String),
    Present(bool),
}

/// `match.*` of a rule: every condition given must hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchSection {
    /// Method name(s), compared exactly (SIP methods are case-sensitive).
    pub method: Option<Spanned<OneOrMany>>,
    /// Regex on the Request-URI.
    pub request_uri: Option<Spanned<String>>,
    /// Regex on the From URI.
    pub from: Option<Spanned<String>>,
    /// Regex on the To URI.
    pub to: Option<Spanned<String>>,
    /// Header name (case-insensitive; compact forms count) → condition.
    #[serde(default)]
    pub headers: BTreeMap<String, Spanned<HeaderCondition>>,
    /// Regex on the body.
    pub body: Option<Spanned<String>>,
    /// Source address CIDR(s), IPv4 or IPv6; a bare address is a /32 or /128.
    pub source: Option<Spanned<OneOrMany>>,
    /// Transport(s) the request arrived on.
    pub transport: Option<Spanned<OneOrMany>>,
    /// The request's credentials: "valid", "invalid" or "absent".
    pub auth: Option<Spanned<String>>,
}
