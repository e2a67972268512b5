//! Which authenticated user owns which address-of-record (RFC 3261 §10.3
//! step 3: a registrar decides whether the authenticated user may change
//! an AOR's bindings): by default the AOR's user part is the user name;
//! `aor = "user@host"` compares user and host; `aors` lists more AORs a
//! user owns.

use std::collections::HashMap;

use crate::sip::{address_of_record, sip_host_port, sip_user};

/// How a user name maps to the address-of-record it owns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AorMapping {
    /// `sip:alice@anything` belongs to alice.
    #[default]
    User,
    /// `sip:alice@example.com` belongs to `alice@example.com`.
    UserAtHost,
}

impl AorMapping {
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "user" => Some(Self::User),
            "user@host" => Some(Self::UserAtHost),
            _ => None,
        }
    }
}

/// Who owns which address-of-record, for a registrar whose rule
/// authenticates (by default: each user its own user part).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AorOwners {
    pub mapping: AorMapping,
    /// user → the AORs (normalised) it owns besides its own.
    pub extra: HashMap<Box<str>, Vec<Box<str>>>,
}

impl AorOwners {
    /// Whether `user` may change the bindings of `aor` (normalised, as
    /// `sip::address_of_record` gives it).
    pub fn owns(&self, user: &str, aor: &str) -> bool {
        let own = match self.mapping {
            AorMapping::User => sip_user(aor) == Some(user),
            AorMapping::UserAtHost => match (sip_user(aor), sip_host_port(aor)) {
                (Some(name), Some((host, _))) => user
                    .split_once('@')
                    .is_some_and(|(u, h)| u == name && h.eq_ignore_ascii_case(host)),
                _ => false,
            },
        };
        own || self
            .extra
            .get(user)
            .is_some_and(|aors| aors.iter().any(|a| **a == *aor))
    }

    /// An `aors` entry as the registrar compares it.
    pub fn normalise(uri: &str) -> Box<str> {
        address_of_record(uri).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_own_their_aor_and_what_is_listed() {
        let mut owners = AorOwners {
            mapping: AorMapping::User,
            extra: HashMap::new(),
        };
        owners.extra.insert(
            "alice".into(),
            vec![AorOwners::normalise("sip:1000@PBX.example.com")],
        );
        let aor = |uri: &str| address_of_record(uri);
        assert!(owners.owns("alice", &aor("sip:alice@example.com")));
        assert!(!owners.owns("alice", &aor("sip:bob@example.com")));
        assert!(
            !owners.owns("Alice", &aor("sip:alice@example.com")),
            "user parts are case-sensitive"
        );
        assert!(owners.owns("alice", &aor("sip:1000@pbx.example.com;transport=tcp")));
        let strict = AorOwners {
            mapping: AorMapping::UserAtHost,
            ..owners
        };
        assert!(strict.owns("alice@example.com", &aor("sip:alice@Example.com")));
        assert!(!strict.owns("alice@example.com", &aor("sip:alice@other.com")));
        assert!(!strict.owns("alice", &aor("sip:alice@example.com")));
    }
}
