//! The `Digest` credentials of an Authorization or Proxy-Authorization
//! header (RFC 3261 §25.1 `digest-response`, RFC 7616 §3.4), parsed
//! without allocating unless a quoted-pair must be undone; and the
//! challenges we write (RFC 7616 §3.3).

use std::borrow::Cow;
use std::fmt::Write as _;

use super::digest::{Algorithm, Qop};

/// The parameters of one `Digest` credentials value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials<'a> {
    pub username: Option<Cow<'a, str>>,
    pub realm: Option<Cow<'a, str>>,
    pub nonce: Option<Cow<'a, str>>,
    pub uri: Option<Cow<'a, str>>,
    pub response: Option<Cow<'a, str>>,
    /// Absent means MD5 (RFC 7616 §3.4).
    pub algorithm: Option<Cow<'a, str>>,
    pub cnonce: Option<Cow<'a, str>>,
    pub opaque: Option<Cow<'a, str>>,
    pub qop: Option<Cow<'a, str>>,
    pub nc: Option<Cow<'a, str>>,
}

/// Why a header is not usable `Digest` credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotDigest {
    /// Another scheme (Basic, Bearer…).
    OtherScheme,
    /// Digest, but its parameters do not parse.
    Malformed,
}

impl<'a> Credentials<'a> {
    /// Parses `Digest name=value, …`; unknown parameters are ignored (RFC
    /// 7616 §3.4: `auth-param`), a repeated one is malformed.
    pub fn parse(value: &'a str) -> Result<Self, NotDigest> {
        let value = value.trim_start();
        let (scheme, mut rest) = value.split_at(value.find([' ', '\t']).unwrap_or(value.len()));
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(NotDigest::OtherScheme);
        }
        let mut out = Self::default();
        loop {
            rest = rest.trim_start_matches([' ', '\t', ',']);
            if rest.is_empty() {
                return Ok(out);
            }
            let (name, value, tail) = param(rest).ok_or(NotDigest::Malformed)?;
            let slot = match name.to_ascii_lowercase().as_str() {
                "username" => &mut out.username,
                "realm" => &mut out.realm,
                "nonce" => &mut out.nonce,
                "uri" => &mut out.uri,
                "response" => &mut out.response,
                "algorithm" => &mut out.algorithm,
                "cnonce" => &mut out.cnonce,
                "opaque" => &mut out.opaque,
                "qop" => &mut out.qop,
                "nc" => &mut out.nc,
                _ => {
                    rest = tail;
                    continue;
                }
            };
            if slot.replace(value).is_some() {
                return Err(NotDigest::Malformed);
            }
            rest = tail;
        }
    }
}

/// One `name=value` at the start of `text` (value a token or a
/// quoted-string), and what follows it up to the next comma.
fn param(text: &str) -> Option<(&str, Cow<'_, str>, &str)> {
    let eq = text.find('=')?;
    let name = text[..eq].trim_end();
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return None;
    }
    let after = text[eq + 1..].trim_start_matches([' ', '\t']);
    let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
        quoted_string(quoted)?
    } else {
        let end = after.find([',', ' ', '\t']).unwrap_or(after.len());
        let token = &after[..end];
        if token.is_empty() || !token.bytes().all(is_token_byte) {
            return None;
        }
        (Cow::Borrowed(token), &after[end..])
    };
    let tail = tail.trim_start_matches([' ', '\t']);
    if !(tail.is_empty() || tail.starts_with(',')) {
        return None;
    }
    Some((name, value, tail))
}

/// The content of a quoted-string whose opening quote is gone, quoted-pairs
/// undone (RFC 3261 §25.1), and the text after its closing quote.
fn quoted_string(text: &str) -> Option<(Cow<'_, str>, &str)> {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut owned: Option<String> = None;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let value = owned.map_or(Cow::Borrowed(&text[..i]), Cow::Owned);
                return Some((value, &text[i + 1..]));
            }
            b'\\' if i + 1 < bytes.len() => {
                let copy = owned.get_or_insert_with(|| text[..i].to_owned());
                let next = text[i + 1..].chars().next()?;
                copy.push(next);
                i += 1 + next.len_utf8();
            }
            _ => {
                let c = text[i..].chars().next()?;
                if let Some(copy) = &mut owned {
                    copy.push(c);
                }
                i += c.len_utf8();
            }
        }
    }
    None
}

/// RFC 3261 §25.1 `token` characters.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// What one challenge says.
#[derive(Debug, Clone, Copy)]
pub struct Challenge<'a> {
    pub realm: &'a str,
    pub nonce: &'a str,
    pub opaque: &'a str,
    pub algorithm: Algorithm,
    pub qops: &'a [Qop],
    /// The nonce of the credentials had expired (RFC 7616 §3.3).
    pub stale: bool,
}

/// A `Digest` challenge value (RFC 7616 §3.3), realm quoted with its
/// quotes and backslashes escaped.
pub fn write_challenge(out: &mut String, challenge: &Challenge<'_>) {
    out.push_str("Digest realm=\"");
    for c in challenge.realm.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    let _ = write!(
        out,
        "\", nonce=\"{}\", opaque=\"{}\", algorithm={}",
        challenge.nonce,
        challenge.opaque,
        challenge.algorithm.name()
    );
    if !challenge.qops.is_empty() {
        out.push_str(", qop=\"");
        for (i, qop) in challenge.qops.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(qop.name());
        }
        out.push('"');
    }
    if challenge.stale {
        out.push_str(", stale=true");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_rfc7616_authorization_example() {
        let value = "Digest username=\"Mufasa\",\r\n realm=\"http-auth@example.org\", uri=\"/dir/index.html\", \
                     algorithm=SHA-256, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001, \
                     cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, \
                     response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\", \
                     opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
        // A folded header arrives unfolded from the parser; CR LF here is
        // only whitespace between parameters.
        let value = value.replace("\r\n", "");
        let creds = Credentials::parse(&value).expect("parses");
        assert_eq!(creds.username.as_deref(), Some("Mufasa"));
        assert_eq!(creds.realm.as_deref(), Some("http-auth@example.org"));
        assert_eq!(creds.algorithm.as_deref(), Some("SHA-256"));
        assert_eq!(creds.nc.as_deref(), Some("00000001"));
        assert_eq!(creds.qop.as_deref(), Some("auth"));
        assert!(matches!(creds.username, Some(Cow::Borrowed(_))), "no copy");
    }

    #[test]
    fn quoted_pairs_are_undone_and_unknown_params_ignored() {
        let creds = Credentials::parse(r#"digest username="a\"b", x-extra="1", realm=lab"#)
            .expect("parses");
        assert_eq!(creds.username.as_deref(), Some("a\"b"));
        assert_eq!(creds.realm.as_deref(), Some("lab"));
    }

    #[test]
    fn other_schemes_and_broken_params_are_told_apart() {
        assert_eq!(
            Credentials::parse("Basic QWxhZGRpbjpvcGVu"),
            Err(NotDigest::OtherScheme)
        );
        for broken in [
            "Digest username=\"unterminated",
            "Digest =x",
            "Digest username=a b",
            "Digest realm=a, realm=b",
        ] {
            assert_eq!(
                Credentials::parse(broken),
                Err(NotDigest::Malformed),
                "{broken}"
            );
        }
    }

    #[test]
    fn challenges_are_written_with_every_parameter() {
        let mut out = String::new();
        write_challenge(
            &mut out,
            &Challenge {
                realm: "lab \"1\"",
                nonce: "n",
                opaque: "o",
                algorithm: Algorithm::Sha256,
                qops: &[Qop::Auth, Qop::AuthInt],
                stale: true,
            },
        );
        assert_eq!(
            out,
            r#"Digest realm="lab \"1\"", nonce="n", opaque="o", algorithm=SHA-256, qop="auth,auth-int", stale=true"#
        );
        let parsed = Credentials::parse(&out).expect("our own challenge parses");
        assert_eq!(parsed.realm.as_deref(), Some("lab \"1\""));
    }
}
