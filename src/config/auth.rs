//! Compiling `[auth]` (users, users file, defaults) and each rule's `auth`
//! into `auth::Requirement`s, then the users table for every realm the
//! config names; and the registrar's owner mapping.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use super::error::Diagnostics;
use super::model::{AuthRequirementSection, AuthSection, OneOrMany, RegisterSection};
use crate::auth::{
    Algorithm, AorMapping, AorOwners, AuthSettings, DEFAULT_NONCE_LIFETIME, DEFAULT_REALM,
    FileEntry, OnFailure, Qop, Requirement, Users, parse_users_file,
};

/// `[auth]` compiled, before the users table (which needs every realm).
pub(super) struct AuthDefaults {
    pub(super) requirement: Arc<Requirement>,
    lifetime: Duration,
    passwords: Vec<(String, String)>,
    entries: Vec<FileEntry>,
    /// Every requirement compiled so far (their realms get users).
    realms: Vec<Box<str>>,
    /// Compiling rules given at run time: the running config's `[auth]`,
    /// whose users table holds HA1 for its realms only.
    running: Option<Arc<AuthSettings>>,
}

pub(super) fn compile_auth(
    section: Option<&Spanned<AuthSection>>,
    diag: &mut Diagnostics<'_>,
) -> AuthDefaults {
    let empty = AuthSection::default();
    let auth = section.map_or(&empty, Spanned::get_ref);
    let realm = match &auth.realm {
        Some(realm) => checked_realm(realm.get_ref(), realm.span(), diag),
        None => DEFAULT_REALM.into(),
    };
    let algorithms = match &auth.algorithms {
        Some(list) => algorithms(list.get_ref(), list.span(), diag),
        None => vec![Algorithm::Md5],
    };
    let qops = match &auth.qop {
        Some(qop) => qops(qop.get_ref(), qop.span(), diag),
        None => vec![Qop::Auth],
    };
    let on_failure = match &auth.on_failure {
        Some(word) => on_failure(word.get_ref(), word.span(), diag),
        None => OnFailure::Forbidden,
    };
    let lifetime = match &auth.nonce_lifetime_ms {
        Some(ms) if !(1..=86_400_000).contains(ms.get_ref()) => {
            diag.error(
                ms.span(),
                "nonce_lifetime_ms must be from 1 to 86400000 (a day)",
            );
            DEFAULT_NONCE_LIFETIME
        }
        Some(ms) => Duration::from_millis(*ms.get_ref()),
        None => DEFAULT_NONCE_LIFETIME,
    };
    let mut passwords = Vec::new();
    for (user, password) in &auth.users {
        if user.is_empty() || user.contains([':', '"', '\\']) || user.chars().any(char::is_control)
        {
            diag.error(password.span(), format!("user name `{user}`: must be non-empty, without `:`, `\"`, `\\` or control characters"));
        }
        if password.get_ref().is_empty() {
            diag.error(password.span(), format!("user `{user}`: empty password"));
        }
        passwords.push((user.clone(), password.get_ref().clone()));
    }
    let entries = auth
        .users_file
        .as_ref()
        .map(|file| users_file(file, diag))
        .unwrap_or_default();
    let requirement = Arc::new(Requirement {
        realm: realm.clone(),
        proxy: auth.proxy.unwrap_or(false),
        algorithms,
        qops,
        on_failure,
    });
    AuthDefaults {
        requirement,
        lifetime,
        passwords,
        entries,
        realms: vec![realm],
        running: None,
    }
}

impl AuthDefaults {
    /// For rules given at run time: the running config's defaults, users
    /// and realms.
    pub(super) fn running(settings: Arc<AuthSettings>) -> Self {
        Self {
            requirement: settings.defaults.clone(),
            lifetime: settings.nonce_lifetime,
            passwords: Vec::new(),
            entries: Vec::new(),
            realms: settings.realms.clone(),
            running: Some(settings),
        }
    }

    /// A rule's (or the registrar's) `auth`: "required" means the
    /// defaults, a table overrides them key by key.
    pub(super) fn requirement(
        &mut self,
        section: &Spanned<AuthRequirementSection>,
        diag: &mut Diagnostics<'_>,
    ) -> Option<Arc<Requirement>> {
        let span = section.span();
        let table = match section.get_ref() {
            AuthRequirementSection::Word(word) if word == "required" => {
                return Some(self.requirement.clone());
            }
            AuthRequirementSection::Word(word) => {
                diag.error(span, format!("auth = \"{word}\": expected \"required\" or a table {{ realm, proxy, algorithms, qop, on_failure }}"));
                return None;
            }
            AuthRequirementSection::Table(table) => table,
        };
        let defaults = &self.requirement;
        let realm = match &table.realm {
            Some(realm) => checked_realm(realm, span.clone(), diag),
            None => defaults.realm.clone(),
        };
        if !self.realms.contains(&realm) {
            if self.running.is_some() {
                let known: Vec<String> = self.realms.iter().map(|r| format!("\"{r}\"")).collect();
                diag.error(span.clone(), format!("realm \"{realm}\": a rule given at run time uses a realm the config file names ({}), the realms its users are known in", known.join(", ")));
                return None;
            }
            self.realms.push(realm.clone());
        }
        Some(Arc::new(Requirement {
            realm,
            proxy: table.proxy.unwrap_or(defaults.proxy),
            algorithms: table.algorithms.as_ref().map_or_else(
                || defaults.algorithms.clone(),
                |list| algorithms(list, span.clone(), diag),
            ),
            qops: table.qop.as_ref().map_or_else(
                || defaults.qops.clone(),
                |qop| qops(qop, span.clone(), diag),
            ),
            on_failure: table
                .on_failure
                .as_ref()
                .map_or(defaults.on_failure, |word| {
                    on_failure(word, span.clone(), diag)
                }),
        }))
    }

    /// Whether anyone can authenticate at all.
    pub(super) fn has_users(&self) -> bool {
        match &self.running {
            Some(settings) => !settings.users.is_empty(),
            None => !self.passwords.is_empty() || !self.entries.is_empty(),
        }
    }

    /// Warns (at `span`) when `rules` ask for credentials nobody has.
    pub(super) fn warn_without_users(
        &self,
        rules: &[crate::rules::Rule],
        span: Range<usize>,
        diag: &mut Diagnostics<'_>,
    ) {
        if !self.has_users() && rules.iter().any(|rule| rule.credentials().is_some()) {
            diag.warn(span, "rules require credentials but [auth] has no users (and no users_file): every such request is refused");
        }
    }

    /// The settings, with HA1 made for every realm named (the running
    /// config's, for rules given at run time).
    pub(super) fn finish(self) -> Arc<AuthSettings> {
        if let Some(settings) = self.running {
            return settings;
        }
        Arc::new(AuthSettings {
            users: Users::build(
                self.realms.iter().map(|r| &**r),
                &self.passwords,
                &self.entries,
            ),
            nonce_lifetime: self.lifetime,
            defaults: self.requirement,
            realms: self.realms,
        })
    }
}

fn checked_realm(realm: &str, span: Range<usize>, diag: &mut Diagnostics<'_>) -> Box<str> {
    if realm.is_empty() || realm.chars().any(char::is_control) {
        diag.error(span, "realm must be non-empty, without control characters");
    }
    realm.into()
}

/// Algorithm names, put in RFC 8760 §2.2's order (strongest first).
fn algorithms(names: &[String], span: Range<usize>, diag: &mut Diagnostics<'_>) -> Vec<Algorithm> {
    if names.is_empty() {
        diag.error(
            span,
            "algorithms: name at least one (SHA-512-256, SHA-256, MD5)",
        );
        return vec![Algorithm::Md5];
    }
    let mut out: Vec<Algorithm> = names
        .iter()
        .filter_map(|name| {
            Algorithm::parse(name).or_else(|| {
                diag.error(
                    span.clone(),
                    format!("unknown algorithm `{name}` (SHA-512-256, SHA-256, MD5)"),
                );
                None
            })
        })
        .collect();
    out.sort();
    out.dedup();
    if out.is_empty() {
        out.push(Algorithm::Md5);
    }
    out
}

fn qops(qop: &OneOrMany, span: Range<usize>, diag: &mut Diagnostics<'_>) -> Vec<Qop> {
    let mut out = Vec::new();
    for word in qop.items() {
        match Qop::parse(word) {
            Some(q) if !out.contains(&q) => out.push(q),
            Some(_) => {}
            None => diag.error(
                span.clone(),
                format!("unknown qop `{word}` (auth, auth-int)"),
            ),
        }
    }
    if out.is_empty() {
        out.push(Qop::Auth);
    }
    out
}

fn on_failure(word: &str, span: Range<usize>, diag: &mut Diagnostics<'_>) -> OnFailure {
    match word {
        "403" => OnFailure::Forbidden,
        "401" => OnFailure::Challenge,
        other => {
            diag.error(span, format!("on_failure `{other}`: expected \"403\" (Forbidden) or \"401\" (a fresh challenge)"));
            OnFailure::Forbidden
        }
    }
}

/// Reads and parses `users_file`; every bad line is an error at the key,
/// naming the file, line and column.
fn users_file(file: &Spanned<String>, diag: &mut Diagnostics<'_>) -> Vec<FileEntry> {
    let path = file.get_ref();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => {
            diag.error(
                file.span(),
                format!("users_file {path}: cannot be read: {error}"),
            );
            return Vec::new();
        }
    };
    match parse_users_file(&text) {
        Ok(entries) => entries,
        Err(errors) => {
            for error in errors {
                diag.error(
                    file.span(),
                    format!(
                        "users_file {path}:{}:{}: {}",
                        error.line, error.column, error.message
                    ),
                );
            }
            Vec::new()
        }
    }
}

/// The registrar's owner mapping (`aor`, `aors`): the registrar applies it
/// to every REGISTER its rule authenticated.
pub(super) fn compile_owners(
    register: &RegisterSection,
    diag: &mut Diagnostics<'_>,
) -> Arc<AorOwners> {
    let mapping = match &register.aor {
        Some(word) => AorMapping::parse(word.get_ref()).unwrap_or_else(|| {
            diag.error(
                word.span(),
                format!(
                    "aor `{}`: expected \"user\" or \"user@host\"",
                    word.get_ref()
                ),
            );
            AorMapping::User
        }),
        None => AorMapping::User,
    };
    Arc::new(AorOwners {
        mapping,
        extra: extra_aors(&register.aors, diag),
    })
}

fn extra_aors(
    aors: &BTreeMap<String, Spanned<Vec<String>>>,
    diag: &mut Diagnostics<'_>,
) -> HashMap<Box<str>, Vec<Box<str>>> {
    let mut out = HashMap::new();
    for (user, list) in aors {
        let mut owned = Vec::new();
        for uri in list.get_ref() {
            if crate::sip::sip_host_port(uri).is_none() {
                diag.error(
                    list.span(),
                    format!("aors.{user}: `{uri}` is not a sip: or sips: URI"),
                );
                continue;
            }
            owned.push(AorOwners::normalise(uri));
        }
        out.insert(user.as_str().into(), owned);
    }
    out
}
