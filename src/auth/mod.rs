//! Digest authentication as a UAS (RFC 3261 §22, RFC 7616, RFC 8760): what
//! a rule requires, the verdict on a request's credentials, challenges with
//! stateless nonces, and the nonce-count memory that refuses replays.
//!
//! Reloadable parts (users, lifetimes) are [`AuthSettings`] in the engine's
//! snapshot; the nonce secret and the counts are the [`AuthService`] the
//! engine keeps for its whole life, so a reload leaves nonces valid.

pub mod digest;
mod mask;
mod nonce;
mod owners;
mod params;
mod replay;
mod users;
mod verify;

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

pub use digest::{ALGORITHMS, Algorithm, Qop};
pub use mask::{MASK, carries_credentials, mask_credentials, masked_message};
pub use nonce::{NonceKeys, NonceState};
pub use owners::{AorMapping, AorOwners};
pub use params::{Challenge, Credentials, NotDigest, write_challenge};
pub use replay::{CountCheck, MAX_NONCES, NonceCounts};
pub use users::{FileEntry, Users, UsersFileError, parse_users_file};

use crate::sip::Request;

/// What a wrong password (or an unknown user) gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// 403 Forbidden (the default).
    Forbidden,
    /// A fresh challenge, as if no credentials had come.
    Challenge,
}

/// What a rule asks of a request before it is taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub realm: Box<str>,
    /// 407 with Proxy-Authenticate, read from Proxy-Authorization (RFC
    /// 3261 §22.3); else 401 with WWW-Authenticate.
    pub proxy: bool,
    /// Offered in this order (RFC 8760 §2.2: strongest first).
    pub algorithms: Vec<Algorithm>,
    pub qops: Vec<Qop>,
    pub on_failure: OnFailure,
}

impl Requirement {
    /// The status of its challenge.
    pub fn challenge_status(&self) -> u16 {
        if self.proxy { 407 } else { 401 }
    }

    /// What it asks, as `check` and `GET /rules` show it.
    pub fn describe(&self) -> String {
        let names = |list: Vec<&str>| list.join(", ");
        format!(
            "credentials for realm \"{}\" ({}; qop {}), else {}",
            self.realm,
            names(self.algorithms.iter().map(|a| a.name()).collect()),
            names(self.qops.iter().map(|q| q.name()).collect()),
            self.challenge_status()
        )
    }
}

/// `[auth]`, compiled: who may authenticate, and for how long a nonce
/// holds. Part of the reloadable snapshot.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub users: Users,
    pub nonce_lifetime: Duration,
    /// `auth = "required"` and `match.auth` without a rule `auth` use these.
    pub defaults: Arc<Requirement>,
    /// The realms the config names (`[auth]`'s and its rules'): `users`
    /// holds HA1 for these, so a rule added at run time uses one of them.
    pub realms: Vec<Box<str>>,
}

impl Default for AuthSettings {
    /// No users, the default realm, MD5 and qop=auth (what a config
    /// without `[auth]` compiles to).
    fn default() -> Self {
        let realm: Box<str> = DEFAULT_REALM.into();
        Self {
            users: Users::default(),
            nonce_lifetime: DEFAULT_NONCE_LIFETIME,
            defaults: Arc::new(Requirement {
                realm: realm.clone(),
                proxy: false,
                algorithms: vec![Algorithm::Md5],
                qops: vec![Qop::Auth],
                on_failure: OnFailure::Forbidden,
            }),
            realms: vec![realm],
        }
    }
}

/// Realm of challenges when `[auth]` names none.
pub const DEFAULT_REALM: &str = "sip-autoresponder";
/// How long a nonce holds when `[auth]` says nothing.
pub const DEFAULT_NONCE_LIFETIME: Duration = Duration::from_secs(300);

/// Who authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: Box<str>,
    pub realm: Box<str>,
}

/// Why credentials were refused, as metrics and logs name it (a fixed
/// set: the label is bounded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    WrongPassword,
    UnknownUser,
    /// Unparseable, incomplete, or for an algorithm or qop not offered.
    Malformed,
    /// A nonce count already used (RFC 7616 §3.4).
    Replayed,
    /// The nonce had expired (or is not ours): the challenge says stale.
    StaleNonce,
    /// Authenticated, but not as the owner of the address-of-record.
    NotOwner,
}

impl FailReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WrongPassword => "wrong_password",
            Self::UnknownUser => "unknown_user",
            Self::Malformed => "malformed",
            Self::Replayed => "replayed_nonce",
            Self::StaleNonce => "stale_nonce",
            Self::NotOwner => "not_owner",
        }
    }
}

/// Credentials that verify, and the nonce count to commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Valid {
    pub identity: Identity,
    nonce: Box<str>,
    issued_ms: u64,
    nc: u32,
}

/// The verdict on a request's credentials for one requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No credentials for this realm (`match.auth = "absent"`).
    Absent,
    /// The digest is right but the nonce has expired: a challenge with
    /// `stale=true` (counts as absent for `match.auth`).
    Stale {
        user: Option<Box<str>>,
    },
    /// Credentials that do not hold (`match.auth = "invalid"`).
    Invalid {
        reason: FailReason,
        user: Option<Box<str>>,
    },
    Valid(Valid),
}

impl Verdict {
    fn invalid(reason: FailReason, user: Option<Box<str>>) -> Self {
        Self::Invalid { reason, user }
    }

    /// The `match.auth` word for it.
    pub fn word(&self) -> &'static str {
        match self {
            Self::Absent | Self::Stale { .. } => "absent",
            Self::Invalid { .. } => "invalid",
            Self::Valid(_) => "valid",
        }
    }
}

/// The part of authentication that lives as long as the daemon: the nonce
/// secret and the nonce counts.
#[derive(Debug)]
pub struct AuthService {
    keys: NonceKeys,
    counts: NonceCounts,
}

impl Default for AuthService {
    fn default() -> Self {
        Self {
            keys: NonceKeys::new(),
            counts: NonceCounts::new(MAX_NONCES),
        }
    }
}

impl AuthService {
    /// Records the nonce count of credentials a rule accepted: `Err` with
    /// the verdict instead when another request used it first (a replay)
    /// or its nonce was forgotten at the bound (stale).
    pub fn commit(&self, valid: &Valid) -> Result<(), Verdict> {
        match self.counts.commit(&valid.nonce, valid.issued_ms, valid.nc) {
            CountCheck::Fresh => Ok(()),
            CountCheck::Replayed => Err(Verdict::invalid(
                FailReason::Replayed,
                Some(valid.identity.user.clone()),
            )),
            CountCheck::Forgotten => Err(Verdict::Stale {
                user: Some(valid.identity.user.clone()),
            }),
        }
    }

    /// The challenge header lines for `requirement`: one per algorithm, in
    /// its order (RFC 8760 §2.4), all with one fresh nonce.
    pub fn challenge_lines(&self, requirement: &Requirement, stale: bool) -> String {
        let name = if requirement.proxy {
            "Proxy-Authenticate"
        } else {
            "WWW-Authenticate"
        };
        let nonce = self.keys.issue(&requirement.realm);
        let mut out = String::with_capacity(200 * requirement.algorithms.len());
        for algorithm in &requirement.algorithms {
            out.push_str(name);
            out.push_str(": ");
            write_challenge(
                &mut out,
                &Challenge {
                    realm: &requirement.realm,
                    nonce: &nonce,
                    opaque: self.keys.opaque(),
                    algorithm: *algorithm,
                    qops: &requirement.qops,
                    stale,
                },
            );
            out.push_str("\r\n");
        }
        out
    }

    /// Nonces forgotten at the bound of [`MAX_NONCES`].
    pub fn nonces_forgotten(&self) -> u64 {
        self.counts.forgotten()
    }
}

/// One request's credentials, checked at most once per requirement while
/// rules are matched (the last verdict is kept).
pub struct Checker<'a> {
    request: &'a Request,
    settings: &'a AuthSettings,
    service: &'a AuthService,
    last: RefCell<Option<(Arc<Requirement>, Verdict)>>,
}

impl std::fmt::Debug for Checker<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker").finish_non_exhaustive()
    }
}

impl<'a> Checker<'a> {
    pub fn new(request: &'a Request, settings: &'a AuthSettings, service: &'a AuthService) -> Self {
        Self {
            request,
            settings,
            service,
            last: RefCell::new(None),
        }
    }

    /// The verdict for `requirement` (`None`: the `[auth]` defaults).
    pub fn verdict(&self, requirement: Option<&Arc<Requirement>>) -> Verdict {
        let requirement = requirement.unwrap_or(&self.settings.defaults);
        if let Some((last, verdict)) = &*self.last.borrow()
            && (Arc::ptr_eq(last, requirement) || **last == **requirement)
        {
            return verdict.clone();
        }
        let verdict = verify::verify(self.request, requirement, self.settings, self.service);
        *self.last.borrow_mut() = Some((requirement.clone(), verdict.clone()));
        verdict
    }

    pub fn service(&self) -> &AuthService {
        self.service
    }
}

#[cfg(test)]
mod tests;
