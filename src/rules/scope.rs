//! The scope of a request: which test it belongs to, so that concurrent
//! tests sharing one daemon each get their own rules and journal view. It
//! is the value of a header (`[server] scope_header`, `X-Test-Id` by
//! default), else the Request-URI user up to a separator
//! (`[server] scope_user_separator`: `sip:t1.bob@…` is in scope `t1`).

use crate::sip::{HeaderKey, Request, sip_user};

/// Longest scope taken from a request, bytes; a longer value is no scope
/// (rules name scopes in the config, so nothing longer can match anyway).
pub const MAX_SCOPE_LEN: usize = 128;

/// Where a request's scope is read from, decided once at load.
#[derive(Debug, Clone, Default)]
pub struct ScopeSource {
    /// The header whose value is the scope.
    pub header: Option<(Box<str>, HeaderKey)>,
    /// The Request-URI user up to this character is the scope.
    pub user_separator: Option<char>,
}

impl ScopeSource {
    /// The header named `name` (when set) and the separator (when set).
    pub fn new(header: Option<&str>, user_separator: Option<char>) -> Self {
        Self {
            header: header.map(|name| (name.into(), HeaderKey::new(name))),
            user_separator,
        }
    }

    /// The scope of `request`: the header's first value, trimmed, else the
    /// Request-URI user's prefix; `None` when neither gives a non-empty
    /// value of at most [`MAX_SCOPE_LEN`] bytes.
    pub fn of<'a>(&self, request: &'a Request) -> Option<&'a str> {
        let from_header = self.header.as_ref().and_then(|(_, key)| {
            request
                .message()
                .header_fields()
                .find(|(kind, raw, _)| key.matches(*kind, raw))
                .map(|(_, _, value)| value.trim())
        });
        let from_user = || {
            let separator = self.user_separator?;
            let user = sip_user(request.uri())?;
            user.split_once(separator).map(|(prefix, _)| prefix)
        };
        from_header
            .or_else(from_user)
            .filter(|scope| !scope.is_empty() && scope.len() <= MAX_SCOPE_LEN)
    }

    /// Whether any source is configured.
    pub fn is_on(&self) -> bool {
        self.header.is_some() || self.user_separator.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::{Limits, parse_datagram};

    fn request(uri: &str, extra: &str) -> Request {
        let text = format!(
            "OPTIONS {uri} SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n{extra}\r\n"
        );
        Request::validate(parse_datagram(text.as_bytes(), &Limits::default()).expect("parses"))
            .expect("valid")
    }

    #[test]
    fn the_header_comes_first_then_the_user_prefix() {
        let source = ScopeSource::new(Some("X-Test-Id"), Some('.'));
        let both = request("sip:t2.bob@h", "x-test-id:  t1 \r\n");
        assert_eq!(
            source.of(&both),
            Some("t1"),
            "header names are case-insensitive"
        );
        assert_eq!(source.of(&request("sip:t2.bob@h", "")), Some("t2"));
        assert_eq!(source.of(&request("sip:bob@h", "")), None);
        assert_eq!(source.of(&request("sip:.bob@h", "")), None, "empty prefix");
        let long = format!("X-Test-Id: {}\r\n", "a".repeat(MAX_SCOPE_LEN + 1));
        assert_eq!(source.of(&request("sip:bob@h", &long)), None);
    }

    #[test]
    fn no_source_gives_no_scope() {
        let off = ScopeSource::new(None, None);
        assert!(!off.is_on());
        assert_eq!(off.of(&request("sip:t2.bob@h", "X-Test-Id: t1\r\n")), None);
    }
}
