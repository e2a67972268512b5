//! Checking a request's credentials against what a rule requires (RFC 3261
//! §22.4, RFC 7616 §3.4): the credentials for the rule's realm in the right
//! header, an offered algorithm and qop, a known user, the request-digest,
//! then the nonce (ours, fresh) and its count (not seen). Nothing is
//! recorded here: the nonce count is committed only for the request a rule
//! takes (`AuthService::commit`).

use super::digest::{Algorithm, DigestInput, Qop, digests_equal, request_digest};
use super::nonce::NonceState;
use super::params::{Credentials, NotDigest};
use super::replay::CountCheck;
use super::{AuthService, AuthSettings, FailReason, Identity, Requirement, Valid, Verdict};
use crate::sip::{HeaderName, Request};

/// The credentials header a requirement reads (RFC 3261 §22.2, §22.3).
fn header_name(proxy: bool) -> &'static str {
    if proxy {
        "Proxy-Authorization"
    } else {
        "Authorization"
    }
}

/// The `Digest` credentials for `realm` among the request's headers of
/// the requirement's kind: `Ok(None)` when there are none (credentials for
/// other realms belong to someone else, §22.3).
fn credentials_for<'r>(
    request: &'r Request,
    requirement: &Requirement,
) -> Result<Option<Credentials<'r>>, FailReason> {
    let name = header_name(requirement.proxy);
    let mut malformed = false;
    let values = request
        .message()
        .header_fields()
        .filter(|(kind, raw, _)| *kind == HeaderName::Other && raw.eq_ignore_ascii_case(name))
        .map(|(_, _, value)| value);
    for value in values {
        match Credentials::parse(value) {
            Ok(creds) if creds.realm.as_deref() == Some(&*requirement.realm) => {
                return Ok(Some(creds));
            }
            Ok(_) | Err(NotDigest::OtherScheme) => {}
            Err(NotDigest::Malformed) => malformed = true,
        }
    }
    if malformed {
        Err(FailReason::Malformed)
    } else {
        Ok(None)
    }
}

/// The verdict on `request` for `requirement`.
pub(super) fn verify(
    request: &Request,
    requirement: &Requirement,
    settings: &AuthSettings,
    service: &AuthService,
) -> Verdict {
    let creds = match credentials_for(request, requirement) {
        Ok(Some(creds)) => creds,
        Ok(None) => return Verdict::Absent,
        Err(reason) => return Verdict::invalid(reason, None),
    };
    let user = creds.username.as_deref().map(Box::<str>::from);
    let fail = |reason| Verdict::invalid(reason, user.clone());
    let (Some(username), Some(nonce), Some(uri), Some(response)) = (
        creds.username.as_deref(),
        creds.nonce.as_deref(),
        creds.uri.as_deref(),
        creds.response.as_deref(),
    ) else {
        return fail(FailReason::Malformed);
    };
    // RFC 7616 §3.4: no algorithm means MD5; only what we offered counts.
    let algorithm = match creds.algorithm.as_deref() {
        None => Some(Algorithm::Md5),
        Some(name) => Algorithm::parse(name),
    };
    let Some(algorithm) = algorithm.filter(|a| requirement.algorithms.contains(a)) else {
        return fail(FailReason::Malformed);
    };
    // We always offer qop, so the RFC 2069 form without it is refused
    // (it has no nonce count, so no replay protection).
    let qop = creds.qop.as_deref().and_then(Qop::parse);
    let (Some(qop), Some(nc), Some(cnonce)) = (
        qop.filter(|q| requirement.qops.contains(q)),
        creds.nc.as_deref(),
        creds.cnonce.as_deref(),
    ) else {
        return fail(FailReason::Malformed);
    };
    let Some(count) = parse_nc(nc) else {
        return fail(FailReason::Malformed);
    };
    let Some(ha1) = settings.users.ha1(&requirement.realm, username, algorithm) else {
        return fail(FailReason::UnknownUser);
    };
    let input = DigestInput {
        method: request.method(),
        uri,
        nonce,
        nc,
        cnonce,
        qop,
        body: request.body(),
    };
    if !digests_equal(&request_digest(algorithm, ha1, &input), response) {
        return fail(FailReason::WrongPassword);
    }
    // The digest is right: only the nonce can be out of date now.
    let identity = Identity {
        user: username.into(),
        realm: requirement.realm.clone(),
    };
    let opaque = creds.opaque.as_deref();
    nonce_verdict(
        identity,
        (nonce, opaque, count),
        requirement,
        settings,
        service,
    )
}

/// Credentials whose digest is right: valid with a fresh nonce of ours and
/// a count not seen, invalid with a count seen (a replay), and stale with
/// anything else (an expired nonce, another run's, a forgotten count): a
/// fresh nonce then (RFC 7616 §3.3).
fn nonce_verdict(
    identity: Identity,
    (nonce, opaque, count): (&str, Option<&str>, u32),
    requirement: &Requirement,
    settings: &AuthSettings,
    service: &AuthService,
) -> Verdict {
    let user = Some(identity.user.clone());
    let state = service
        .keys
        .check(nonce, &requirement.realm, settings.nonce_lifetime);
    let issued_ms = match state {
        NonceState::Fresh { issued_ms } if opaque == Some(service.keys.opaque()) => issued_ms,
        _ => return Verdict::Stale { user },
    };
    match service.counts.check(nonce, issued_ms, count) {
        CountCheck::Fresh => Verdict::Valid(Valid {
            identity,
            nonce: nonce.into(),
            issued_ms,
            nc: count,
        }),
        CountCheck::Replayed => Verdict::invalid(FailReason::Replayed, user),
        CountCheck::Forgotten => Verdict::Stale { user },
    }
}

/// `nc`: 8 hex digits (RFC 7616 §3.4), not zero.
fn parse_nc(text: &str) -> Option<u32> {
    if text.len() != 8 {
        return None;
    }
    u32::from_str_radix(text, 16).ok().filter(|n| *n > 0)
}
