//! The reply policy of a rule as written in the file: steps (the
//! ServerContext verbs' options), bodies, delays, the auto-reply MESSAGE,
//! the registrar, outcomes and sequences.

use serde::Deserialize;
use toml::Spanned;

use super::{AuthRequirementSection, MatchSection};

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
    /// The call's media (`progress` and `accept` with an SDP answer).
    pub media: Option<Spanned<super::MediaValue>>,
    /// What digits received during the call do.
    #[serde(default)]
    pub on_dtmf: Vec<Spanned<super::DtmfRuleSection>>,
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
    /// Most bindings one address-of-record may have (default 10); a
    /// REGISTER query lists at most this many.
    #[serde(default = "default_max_contacts")]
    pub max_contacts: Spanned<usize>,
    /// What a REGISTER that would pass `max_contacts` gets: `"503"` (refused,
    /// nothing changes) or `"replace-oldest"` (the least recently
    /// refreshed binding makes room).
    #[serde(default = "default_max_contacts_action")]
    pub max_contacts_action: Spanned<String>,
    /// `"required"` (or a table like a rule's `auth`): REGISTER needs
    /// credentials, and changes only the bindings the user owns.
    pub auth: Option<Spanned<super::AuthRequirementSection>>,
    /// Which AOR a user owns: "user" (its user part is the user name, the
    /// default) or "user@host".
    pub aor: Option<Spanned<String>>,
    /// user → more addresses-of-record it owns.
    #[serde(default)]
    pub aors: std::collections::BTreeMap<String, Spanned<Vec<String>>>,
}

fn default_max_contacts() -> Spanned<usize> {
    Spanned::new(0..0, 10)
}

fn default_max_contacts_action() -> Spanned<String> {
    Spanned::new(0..0, "503".to_owned())
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
            /// INVITE with `media`: the final response when no RTP port
            /// pair is free (a reject step; default 503).
            pub no_media_port: Option<Spanned<StepSection>>,
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
                    no_media_port: self.no_media_port.clone(),
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
        /// Only requests of this scope (`[server] scope_header`, or the
        /// Request-URI user prefix) take the rule.
        pub scope: Option<Spanned<String>>,
        #[serde(rename = "match", default)]
        pub conditions: MatchSection,
        /// Only every Nth matching request takes this rule.
        pub every: Option<Spanned<u64>>,
        /// Credentials required before the rule is taken: "required" or
        /// { realm, proxy, algorithms, qop, on_failure }.
        pub auth: Option<Spanned<AuthRequirementSection>>,
        #[serde(default)]
        pub outcome: Vec<Spanned<OutcomeSection>>,
        pub sequence: Option<Spanned<SequenceSection>>,
    }
);
