//! The client side of digest authentication, written for the tests from
//! RFC 7616 §3.4 with RustCrypto's md-5 and sha2 directly (not the
//! daemon's code): read a challenge, answer it.

use md5::Md5;
use sha2::{Digest, Sha256};

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

fn hash(algorithm: &str, text: &str) -> String {
    match algorithm {
        "MD5" => hex(&Md5::digest(text.as_bytes())),
        "SHA-256" => hex(&Sha256::digest(text.as_bytes())),
        other => panic!("the tests answer MD5 and SHA-256, not {other}"),
    }
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
    let algorithm = challenge.algorithm.as_str();
    let ha1 = hash(
        algorithm,
        &format!("{}:{}:{}", answer.user, challenge.realm, answer.password),
    );
    let ha2 = hash(algorithm, &format!("{}:{}", answer.method, answer.uri));
    let nc = format!("{:08x}", answer.nc);
    let cnonce = "0a4f113b";
    let response = hash(
        algorithm,
        &format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", challenge.nonce),
    );
    format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{response}\", \
         algorithm={algorithm}, cnonce=\"{cnonce}\", opaque=\"{}\", qop=auth, nc={nc}",
        answer.user, challenge.realm, challenge.nonce, answer.uri, challenge.opaque
    )
}
