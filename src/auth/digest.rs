//! The digest computations of RFC 7616 §3.4.1 (and RFC 2617 §3.2.2, which
//! RFC 3261 §22.4 uses) over RustCrypto's MD5 and SHA-2: H, KD, HA1, HA2
//! and the request-digest, as lowercase hex.

use std::fmt::Write as _;

use md5::Md5;
use sha2::{Digest, Sha256, Sha512_256};

/// A digest algorithm (RFC 8760: SIP's are SHA-512-256, SHA-256 and MD5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// RFC 8760 §2.2 places the strongest first: this order is the order
    /// of challenges in a response.
    Sha512_256,
    Sha256,
    Md5,
}

/// Every algorithm, strongest first (RFC 8760 §2.2's order).
pub const ALGORITHMS: [Algorithm; 3] = [Algorithm::Sha512_256, Algorithm::Sha256, Algorithm::Md5];

impl Algorithm {
    /// The token of the `algorithm` parameter (RFC 7616 §6.1).
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha512_256 => "SHA-512-256",
            Self::Sha256 => "SHA-256",
            Self::Md5 => "MD5",
        }
    }

    /// The algorithm a token names (case-insensitive, RFC 7616 §3.3).
    pub fn parse(token: &str) -> Option<Self> {
        ALGORITHMS
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(token))
    }

    /// Hex digits of one digest.
    pub fn hex_len(self) -> usize {
        match self {
            Self::Md5 => 32,
            Self::Sha256 | Self::Sha512_256 => 64,
        }
    }

    /// H(parts joined by ':'), as lowercase hex.
    pub fn hash(self, parts: &[&[u8]]) -> String {
        match self {
            Self::Md5 => hash_with::<Md5>(parts),
            Self::Sha256 => hash_with::<Sha256>(parts),
            Self::Sha512_256 => hash_with::<Sha512_256>(parts),
        }
    }

    /// HA1 = H(username:realm:password) (RFC 7616 §3.4.2).
    pub fn ha1(self, username: &str, realm: &str, password: &str) -> String {
        self.hash(&[username.as_bytes(), realm.as_bytes(), password.as_bytes()])
    }
}

fn hash_with<D: Digest>(parts: &[&[u8]]) -> String {
    let mut hasher = D::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hasher.update(b":");
        }
        hasher.update(part);
    }
    let mut out = String::with_capacity(64);
    for byte in hasher.finalize() {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Quality of protection (RFC 7616 §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qop {
    Auth,
    /// The body is protected too (HA2 covers H(body)).
    AuthInt,
}

impl Qop {
    pub fn name(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::AuthInt => "auth-int",
        }
    }

    pub fn parse(token: &str) -> Option<Self> {
        match token {
            _ if token.eq_ignore_ascii_case("auth") => Some(Self::Auth),
            _ if token.eq_ignore_ascii_case("auth-int") => Some(Self::AuthInt),
            _ => None,
        }
    }
}

/// What the request-digest covers besides HA1.
#[derive(Debug, Clone, Copy)]
pub struct DigestInput<'a> {
    pub method: &'a str,
    /// The `uri` parameter of the credentials (digest-uri).
    pub uri: &'a str,
    pub nonce: &'a str,
    /// The `nc` parameter as sent (8 hex digits).
    pub nc: &'a str,
    pub cnonce: &'a str,
    pub qop: Qop,
    /// The message body (auth-int only).
    pub body: &'a [u8],
}

/// The request-digest (`response` parameter) of RFC 7616 §3.4.1:
/// KD(HA1, nonce:nc:cnonce:qop:HA2), HA2 = H(method:uri) for `auth` and
/// H(method:uri:H(body)) for `auth-int`.
pub fn request_digest(algorithm: Algorithm, ha1: &str, input: &DigestInput<'_>) -> String {
    let ha2 = match input.qop {
        Qop::Auth => algorithm.hash(&[input.method.as_bytes(), input.uri.as_bytes()]),
        Qop::AuthInt => {
            let body = algorithm.hash(&[input.body]);
            algorithm.hash(&[
                input.method.as_bytes(),
                input.uri.as_bytes(),
                body.as_bytes(),
            ])
        }
    };
    algorithm.hash(&[
        ha1.as_bytes(),
        input.nonce.as_bytes(),
        input.nc.as_bytes(),
        input.cnonce.as_bytes(),
        input.qop.name().as_bytes(),
        ha2.as_bytes(),
    ])
}

/// Compares two digests in time that depends on their length only (a
/// response is not to be guessed a byte at a time). Hex case is ignored.
pub fn digests_equal(expected: &str, given: &str) -> bool {
    if expected.len() != given.len() {
        return false;
    }
    expected
        .bytes()
        .zip(given.bytes())
        .fold(0u8, |diff, (a, b)| diff | (a ^ b.to_ascii_lowercase()))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7616 §3.9.1: Mufasa, "Circle of Life", GET /dir/index.html.
    fn rfc7616_input() -> DigestInput<'static> {
        DigestInput {
            method: "GET",
            uri: "/dir/index.html",
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            nc: "00000001",
            cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            qop: Qop::Auth,
            body: b"",
        }
    }

    #[test]
    fn rfc7616_sha256_example() {
        let ha1 = Algorithm::Sha256.ha1("Mufasa", "http-auth@example.org", "Circle of Life");
        assert_eq!(
            request_digest(Algorithm::Sha256, &ha1, &rfc7616_input()),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn rfc7616_md5_example() {
        let ha1 = Algorithm::Md5.ha1("Mufasa", "http-auth@example.org", "Circle of Life");
        assert_eq!(
            request_digest(Algorithm::Md5, &ha1, &rfc7616_input()),
            "8ca523f5e9506fed4657c9700eebdbec"
        );
    }

    /// RFC 2617 §3.5: the same user with "Circle Of Life" in
    /// testrealm@host.com.
    #[test]
    fn rfc2617_example() {
        let ha1 = Algorithm::Md5.ha1("Mufasa", "testrealm@host.com", "Circle Of Life");
        let input = DigestInput {
            method: "GET",
            uri: "/dir/index.html",
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            nc: "00000001",
            cnonce: "0a4f113b",
            qop: Qop::Auth,
            body: b"",
        };
        assert_eq!(
            request_digest(Algorithm::Md5, &ha1, &input),
            "6629fae49393a05397450978507c4ef1"
        );
    }

    #[test]
    fn auth_int_covers_the_body() {
        let ha1 = Algorithm::Sha256.ha1("alice", "lab", "secret");
        let mut input = rfc7616_input();
        input.qop = Qop::AuthInt;
        input.body = b"v=0\r\n";
        let with_body = request_digest(Algorithm::Sha256, &ha1, &input);
        input.body = b"v=1\r\n";
        assert_ne!(with_body, request_digest(Algorithm::Sha256, &ha1, &input));
        // HA2 = H(method:uri:H(body)) by hand.
        input.body = b"";
        let empty = Algorithm::Sha256.hash(&[b""]);
        let ha2 = Algorithm::Sha256.hash(&[b"GET", b"/dir/index.html", empty.as_bytes()]);
        let expected = Algorithm::Sha256.hash(&[
            ha1.as_bytes(),
            input.nonce.as_bytes(),
            b"00000001",
            input.cnonce.as_bytes(),
            b"auth-int",
            ha2.as_bytes(),
        ]);
        assert_eq!(request_digest(Algorithm::Sha256, &ha1, &input), expected);
    }

    #[test]
    fn sha512_256_is_not_a_truncated_sha512() {
        // FIPS 180-4 SHA-512/256 of "abc".
        assert_eq!(
            Algorithm::Sha512_256.hash(&[b"abc"]),
            "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23"
        );
    }

    #[test]
    fn names_parse_in_any_case_and_compare_in_constant_shape() {
        assert_eq!(Algorithm::parse("sha-256"), Some(Algorithm::Sha256));
        assert_eq!(Algorithm::parse("MD5-sess"), None);
        assert!(digests_equal("ab12", "AB12"));
        assert!(!digests_equal("ab12", "ab13"));
        assert!(!digests_equal("ab12", "ab1"));
    }
}
