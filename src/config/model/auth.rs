//! `[auth]` and a rule's `auth` as written in the file.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::OneOrMany;

/// `[auth]`: the users who may authenticate and the defaults of
/// `auth = "required"`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// Realm of challenges (default "sip-autoresponder").
    pub realm: Option<Spanned<String>>,
    /// user → password; a password holds in every realm of the config.
    #[serde(default)]
    pub users: BTreeMap<String, Spanned<String>>,
    /// A file of `user:realm:HA1` lines (htdigest); read again on reload.
    pub users_file: Option<Spanned<String>>,
    /// Algorithms offered, one challenge each, strongest first (RFC 8760):
    /// "SHA-512-256", "SHA-256", "MD5" (default ["MD5"]).
    pub algorithms: Option<Spanned<Vec<String>>>,
    /// "auth", "auth-int" or both (default "auth").
    pub qop: Option<Spanned<OneOrMany>>,
    /// Challenge with 407 / Proxy-Authenticate (default false: 401).
    pub proxy: Option<bool>,
    /// What a wrong password or unknown user gets: "403" (default) or
    /// "401" (a fresh challenge).
    pub on_failure: Option<Spanned<String>>,
    /// How long a nonce holds, ms (default 300000); after it, the digest
    /// gets a challenge with stale=true.
    pub nonce_lifetime_ms: Option<Spanned<u64>>,
}

/// A rule's `auth`: `"required"` (the `[auth]` defaults) or a table.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    untagged,
    expecting = "\"required\" or a table { realm, proxy, algorithms, qop, on_failure }"
)]
pub enum AuthRequirementSection {
    Word(String),
    Table(AuthRuleSection),
}

/// `auth = { … }` of a rule: each key overrides the `[auth]` default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthRuleSection {
    pub realm: Option<String>,
    pub proxy: Option<bool>,
    pub algorithms: Option<Vec<String>>,
    pub qop: Option<OneOrMany>,
    pub on_failure: Option<String>,
}
