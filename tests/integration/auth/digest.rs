//! The client side of digest authentication, written for the tests from
//! RFC 7616 §3.4 with RustCrypto's md-5 and sha2 directly (not the
//! daemon's code): read a challenge, answer it.

use md5::Md5;
use sha2::{Digest, Sha256, Sha512_256};

use crate::common::Response;

/// One challenge as a test reads it.
#[derive(Debug, Clone)]
pub(super) struct Challenge {
    pub(super) realm: String,
    pub nonce: String,
    pub opaque: String,
    pub algorithm: String,
    pub qop: String,
    pub stale: bool,
}

impl Challenge {
    /// Every challenge of `header` in `response`, in order.
    pub(super) fn all(response: &Response, header: &str) -> Vec<Self> {
        response.all(header).into_iter().map(Self::parse).collect()
    }

    /// The first challenge of `header` (panics when there is none).
    pub(super) fn first(response: &Response, header: &str) -> Self {
        Self::all(response, header)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no {header} in:\n{}", response.raw))
    }

    fn parse(value: &str) -> Self {
        let rest = value.strip_prefix("Digest ").expect("a Digest challenge");
        let mut out = Self {
            realm: String::new(),
            nonce: String::new(),
            opaque: String::new(),
            algorithm: "MD5".into(),
            qop: String::new(),
            stale: false,
        };
        // Our challenges quote no comma, so splitting on ", " is enough.
        for param in rest.split(", ") {
            let (name, value) = param.split_once('=').expect("name=value");
            let value = value.trim_matches('"').to_owned();
            match name {
                "realm" => out.realm = value,
                "nonce" => out.nonce = value,
                "opaque" => out.opaque = value,
                "algorithm" => out.algorithm = value,
                "qop" => out.qop = value,
                "stale" => out.stale = value == "true",
                other => panic!("unexpected parameter {other} in {value}"),
            }
        }
        out
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hash_bytes(algorithm: &str, bytes: &[u8]) -> String {
    match algorithm {
        "MD5" => hex(&Md5::digest(bytes)),
        "SHA-256" => hex(&Sha256::digest(bytes)),
        "SHA-512-256" => hex(&Sha512_256::digest(bytes)),
        other => panic!("the tests answer MD5, SHA-256 and SHA-512-256, not {other}"),
    }
}

fn hash(algorithm: &str, text: &str) -> String {
    hash_bytes(algorithm, text.as_bytes())
}

/// HA1 as a users file holds it (`user:realm:HA1`).
pub(super) fn ha1(algorithm: &str, user: &str, realm: &str, password: &str) -> String {
    hash(algorithm, &format!("{user}:{realm}:{password}"))
}

/// What a client answers with.
pub(super) struct Answer<'a> {
    pub user: &'a str,
    pub password: &'a str,
    pub method: &'a str,
    pub uri: &'a str,
    pub nc: u32,
}

/// The credentials value answering `challenge` (qop=auth, cnonce fixed).
pub(super) fn credentials(challenge: &Challenge, answer: &Answer<'_>) -> String {
    credentials_with(challenge, answer, None)
}

/// The credentials value answering `challenge`, with qop=auth-int over
/// `body` when given (RFC 7616 §3.4.3: HA2 = H(method:uri:H(body))).
pub(super) fn credentials_with(
    challenge: &Challenge,
    answer: &Answer<'_>,
    auth_int_body: Option<&[u8]>,
) -> String {
    let algorithm = challenge.algorithm.as_str();
    let ha1 = ha1(algorithm, answer.user, &challenge.realm, answer.password);
    let (qop, ha2) = match auth_int_body {
        None => (
            "auth",
            hash(algorithm, &format!("{}:{}", answer.method, answer.uri)),
        ),
        Some(body) => {
            let body = hash_bytes(algorithm, body);
            let a2 = format!("{}:{}:{body}", answer.method, answer.uri);
            ("auth-int", hash(algorithm, &a2))
        }
    };
    let nc = format!("{:08x}", answer.nc);
    let cnonce = "0a4f113b";
    let response = hash(
        algorithm,
        &format!("{ha1}:{}:{nc}:{cnonce}:{qop}:{ha2}", challenge.nonce),
    );
    format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{response}\", \
         algorithm={algorithm}, cnonce=\"{cnonce}\", opaque=\"{}\", qop={qop}, nc={nc}",
        answer.user, challenge.realm, challenge.nonce, answer.uri, challenge.opaque
    )
}
