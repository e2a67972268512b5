//! The optional bearer token of the admin listener (RFC 6750 §2.1): every
//! route but `/health` needs `Authorization: Bearer <token>` when a token is
//! configured. The comparison takes the same time wherever the tokens differ.

use hyper::HeaderMap;
use hyper::header::AUTHORIZATION;
use ring::hmac;

/// What the `Authorization` header of a request amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// No token is configured, or the request carries it.
    Allowed,
    /// No bearer credentials (401 with `WWW-Authenticate: Bearer`).
    Missing,
    /// Credentials that are not the token (401 with `error="invalid_token"`).
    Invalid,
}

/// Checks `headers` against the configured `token` (`None`: open).
pub(super) fn check(token: Option<&str>, headers: &HeaderMap) -> Verdict {
    let Some(token) = token else {
        return Verdict::Allowed;
    };
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        // None, or several: RFC 6750 §2 allows one method per request.
        return if headers.contains_key(AUTHORIZATION) {
            Verdict::Invalid
        } else {
            Verdict::Missing
        };
    };
    match bearer(value.as_bytes()) {
        None => Verdict::Missing,
        Some(presented) if same(presented, token.as_bytes()) => Verdict::Allowed,
        Some(_) => Verdict::Invalid,
    }
}

/// The credentials of a `Bearer` authorization (scheme case-insensitive,
/// RFC 9110 §11.1), or `None` for another scheme.
fn bearer(value: &[u8]) -> Option<&[u8]> {
    const SCHEME: &[u8] = b"bearer";
    let scheme = value.get(..SCHEME.len())?;
    let rest = value.get(SCHEME.len()..)?;
    if !scheme.eq_ignore_ascii_case(SCHEME) || rest.first() != Some(&b' ') {
        return None;
    }
    Some(rest.trim_ascii())
}

/// Constant-time equality: both sides go through HMAC-SHA-256 and ring
/// compares the tags in constant time, so neither a differing byte's
/// position nor the token's length shows in the timing.
fn same(presented: &[u8], token: &[u8]) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, b"sip-autoresponder admin token");
    let expected = hmac::sign(&key, token);
    hmac::verify(&key, presented, expected.as_ref()).is_ok()
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;

    use super::*;

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(AUTHORIZATION, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn without_a_token_everything_is_allowed() {
        assert_eq!(check(None, &headers(&[])), Verdict::Allowed);
        assert_eq!(
            check(None, &headers(&["Bearer whatever"])),
            Verdict::Allowed
        );
    }

    #[test]
    fn the_token_is_required() {
        let token = Some("s3cret.T0ken");
        assert_eq!(check(token, &headers(&[])), Verdict::Missing);
        assert_eq!(
            check(token, &headers(&["Bearer s3cret.T0ken"])),
            Verdict::Allowed
        );
        assert_eq!(
            check(token, &headers(&["bearer s3cret.T0ken"])),
            Verdict::Allowed
        );
        assert_eq!(
            check(token, &headers(&["BEARER   s3cret.T0ken  "])),
            Verdict::Allowed
        );
    }

    #[test]
    fn other_credentials_are_refused() {
        let token = Some("s3cret");
        assert_eq!(check(token, &headers(&["Bearer s3cre"])), Verdict::Invalid);
        assert_eq!(
            check(token, &headers(&["Bearer s3cret2"])),
            Verdict::Invalid
        );
        assert_eq!(
            check(token, &headers(&["Bearer S3CRET"])),
            Verdict::Invalid,
            "tokens are case-sensitive"
        );
        assert_eq!(check(token, &headers(&["Bearer "])), Verdict::Invalid);
        assert_eq!(
            check(token, &headers(&["Bearer s3cret", "Bearer s3cret"])),
            Verdict::Invalid
        );
        assert_eq!(
            check(token, &headers(&["Basic czNjcmV0"])),
            Verdict::Missing
        );
        assert_eq!(check(token, &headers(&["Bearers3cret"])), Verdict::Missing);
        assert_eq!(check(token, &headers(&["Bearer"])), Verdict::Missing);
    }

    #[test]
    fn comparison() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"ab", b"abc"));
        assert!(!same(b"", b"abc"));
        assert!(same(b"", b""));
    }
}
