//! The TOML schema, as serde types. Every table refuses unknown keys; values
//! that need checks beyond their type keep their position (`Spanned`) so the
//! compiler can point at them.

use std::collections::BTreeMap;

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
    /// Most transactions (and dialogs) in progress at once; beyond it new
    /// requests get 503 with Retry-After.
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
    /// `"503"` (answer 503 with Retry-After) or `"drop"`.
    #[serde(default = "default_rate_action")]
    pub action: Spanned<String>,
}

fn default_rate_action() -> Spanned<String> {
    Spanned::new(0..0, "503".to_owned())
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
    /// Also append the journal as JSON lines to this file.
    pub journal_file: Option<Spanned<String>>,
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
}

/// `[log]`: logging.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// `error`, `warn`, `info`, `debug`, `trace` or a tracing filter such as
    /// `info,sip_autoresponder::transport=debug`; `RUST_LOG` overrides it.
    pub level: Option<Spanned<String>>,
}

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
    /// Stream transports: close a connection idle this long, ms.
    pub idle_timeout_ms: Option<Spanned<u64>>,
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
}

/// One response step of a policy (the options of a ServerContext verb).
/// `reason`, `extra_headers` and `body` may use `${...}` substitutions.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSection {
    /// Status code; default from the verb (progress 180, accept 200, reject 480).
    pub status: Option<Spanned<u16>>,
    /// Reason phrase; default: the registered phrase for the status, or "".
    pub reason: Option<Spanned<String>>,
    /// Extra `Name: value` header lines.
    #[serde(default)]
    pub extra_headers: Vec<Spanned<String>>,
    /// Body: text, or `{ sdp = "answer" }` for an SDP answer to the offer.
    pub body: Option<Spanned<BodySection>>,
    /// Content-Type of the body; default application/sdp for an SDP body,
    /// else text/plain.
    pub content_type: Option<Spanned<String>>,
    /// Wait before sending this step, in milliseconds after the previous
    /// one: a number, or `{ min, max }` drawn uniformly.
    #[serde(default)]
    pub delay_ms: DelaySection,
    /// `accept` of an INVITE only: send BYE this many ms after the 2xx.
    pub hangup_after_ms: Option<Spanned<u64>>,
}

/// A body: literal text (with substitutions) or a generated one.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged, expecting = "a string or { sdp = \"answer\" }")]
pub enum BodySection {
    Text(String),
    Generated(GeneratedBody),
}

/// `{ sdp = "answer" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratedBody {
    pub sdp: String,
}

/// A delay in milliseconds: fixed, or drawn uniformly from a range.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(untagged, expecting = "milliseconds or { min, max }")]
pub enum DelaySection {
    Fixed(u64),
    Range { min: u64, max: u64 },
}

impl Default for DelaySection {
    fn default() -> Self {
        Self::Fixed(0)
    }
}

/// `message = { … }`: an auto-reply MESSAGE sent after the final response,
/// like `JsSIP.Message.send(target, body, contentType, {extraHeaders})`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageSection {
    /// Body text (with substitutions).
    pub body: Option<Spanned<String>>,
    /// Content-Type of the body (default text/plain).
    pub content_type: Option<Spanned<String>>,
    /// Extra `Name: value` header lines (with substitutions).
    #[serde(default)]
    pub extra_headers: Vec<Spanned<String>>,
    /// SIP URI to send to; default: the sender's live registration, else its
    /// From URI over the flow the request came from.
    pub target: Option<Spanned<String>>,
    /// Wait after the final response, in milliseconds.
    #[serde(default)]
    pub delay_ms: u64,
}

/// `register = { … }`: the built-in registrar policy for REGISTER.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterSection {
    /// Below this many seconds: 423 Interval Too Brief with Min-Expires.
    #[serde(default = "default_min_expires")]
    pub min_expires: u32,
    /// Longer requests are granted this many seconds.
    #[serde(default = "default_max_expires")]
    pub max_expires: u32,
    /// Granted when the request names no expiry (default 3600, within the
    /// min-max range).
    pub default_expires: Option<u32>,
}

fn default_min_expires() -> u32 {
    60
}

fn default_max_expires() -> u32 {
    3600
}

macro_rules! policy_fields {
    ($(#[$meta:meta])* $name:ident { $($extra:tt)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($extra)*
            /// Provisional responses, in order.
            #[serde(default)]
            pub progress: Vec<StepSection>,
            pub accept: Option<StepSection>,
            pub reject: Option<StepSection>,
            pub reply: Option<StepSection>,
            /// Answer nothing at all (to test client timeouts).
            #[serde(default)]
            pub drop: bool,
            /// Auto-reply MESSAGE sent after the final response.
            pub message: Option<Spanned<MessageSection>>,
            /// INVITE: the final response when it rings for
            /// `[timers] ring_timeout_ms` (a reject step; default 480).
            pub no_answer: Option<Spanned<StepSection>>,
            /// The built-in registrar (REGISTER).
            pub register: Option<Spanned<RegisterSection>>,
        }

        impl $name {
            /// The reply fields alone.
            pub fn policy(&self) -> PolicySection {
                PolicySection {
                    progress: self.progress.clone(),
                    accept: self.accept.clone(),
                    reject: self.reject.clone(),
                    reply: self.reply.clone(),
                    drop: self.drop,
                    message: self.message.clone(),
                    no_answer: self.no_answer.clone(),
                    register: self.register.clone(),
                }
            }
        }
    };
}

policy_fields!(
    /// The reply part of a rule, of `[fallback]`, of an outcome or of a
    /// sequence entry.
    PolicySection {}
);

policy_fields!(
    /// `[[rule.outcome]]`: one of several policies, picked at random by weight.
    OutcomeSection {
        /// Relative weight (default 1).
        #[serde(default = "default_weight")]
        pub weight: Spanned<u32>,
    }
);

fn default_weight() -> Spanned<u32> {
    Spanned::new(0..0, 1)
}

/// `[rule.sequence]`: the nth request with the same key gets the nth policy
/// (the last one repeats).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequenceSection {
    /// `call_id`, `from_user` or `request_uri`.
    pub key: Spanned<String>,
    /// How long a key is remembered after its last request, ms.
    #[serde(default = "default_sequence_ttl")]
    pub ttl_ms: u64,
    /// Most keys remembered; the least recently seen makes room for a new
    /// one.
    #[serde(default = "default_sequence_keys")]
    pub max_keys: Spanned<usize>,
    /// The policies, in order.
    #[serde(default)]
    pub policy: Vec<PolicySection>,
}

fn default_sequence_ttl() -> u64 {
    60_000
}

fn default_sequence_keys() -> Spanned<usize> {
    Spanned::new(0..0, crate::rules::sequence::DEFAULT_KEYS)
}

policy_fields!(
    /// `[[rule]]`: a name, conditions and a reply policy (or outcomes, or a
    /// sequence).
    RuleSection {
        pub name: Spanned<String>,
        #[serde(rename = "match", default)]
        pub conditions: MatchSection,
        /// Only every Nth matching request takes this rule.
        pub every: Option<Spanned<u64>>,
        #[serde(default)]
        pub outcome: Vec<Spanned<OutcomeSection>>,
        pub sequence: Option<Spanned<SequenceSection>>,
    }
);
