//! URI checks a UAS needs: scheme syntax (RFC 3986 §3.1), and for sip/sips
//! the host part and the absence of headers in a Request-URI (RFC 3261 §19.1.1).

use super::class::Class;
use super::message::Span;
use super::scan::{find, skip};
use super::syntax::split_once_byte;
use super::via::read_host_port;

/// The scheme of an absolute URI, if `uri` starts with a syntactically valid one.
pub fn scheme(uri: &str) -> Option<&str> {
    let (scheme, _) = read_scheme(uri.as_bytes())?;
    uri.get(scheme.range())
}

/// `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"` (RFC 3986 §3.1) at the
/// start: the scheme and the position after its colon.
fn read_scheme(uri: &[u8]) -> Option<(Span, usize)> {
    if !uri.first()?.is_ascii_alphabetic() {
        return None;
    }
    let end = skip(uri, 1, |b| Class::SCHEME.has(b));
    (uri.get(end) == Some(&b':')).then_some((Span::new(0, end), end + 1))
}

/// Whether a URI may carry a `?headers` part: a Request-URI may not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UriHeaders {
    Allowed,
    /// In a Request-URI (RFC 3261 §19.1.1; RFC 4475 escruri).
    Refused,
}

/// Whether `uri` is a well-formed absolute URI (any scheme): one pass over
/// the scheme, then for sip and sips the host and port after any user part
/// and what may follow them (with `Refused`, no `?headers`).
pub(crate) fn check_uri(uri: &[u8], headers: UriHeaders) -> bool {
    let Some((scheme, after_scheme)) = read_scheme(uri) else {
        return false;
    };
    if !is_sip_scheme(&uri[scheme.range()]) {
        // Something after the colon.
        return after_scheme < uri.len();
    }
    // '?' may appear in the user part (RFC 4475 intmeth); the first '@' ends it.
    let host = find(uri, after_scheme, b'@').map_or(after_scheme, |at| at + 1);
    match read_host_port_then_params(uri, host) {
        Some((_, _, end)) => headers == UriHeaders::Allowed || find(uri, end, b'?').is_none(),
        None => false,
    }
}

fn is_sip_scheme(scheme: &[u8]) -> bool {
    scheme.eq_ignore_ascii_case(b"sip") || scheme.eq_ignore_ascii_case(b"sips")
}

/// The user part of a sip/sips URI (before the first '@'), or None.
pub fn sip_user(uri: &str) -> Option<&str> {
    let rest = split_once_byte(uri, b':')?.1;
    split_once_byte(rest, b'@').map(|(user, _)| user)
}

/// The host (with brackets for IPv6) and port of a sip/sips URI.
pub fn sip_host_port(uri: &str) -> Option<(&str, Option<u16>)> {
    let host_part = host_part(uri);
    let (host, port, _) = read_host_port_then_params(host_part.as_bytes(), 0)?;
    Some((host_part.get(host.range())?, port))
}

/// `host[:port]` at `at`, after which only parameters or headers may follow.
fn read_host_port_then_params(bytes: &[u8], at: usize) -> Option<(Span, Option<u16>, usize)> {
    let host_port = read_host_port(bytes, at)?;
    matches!(bytes.get(host_port.2), None | Some(b';' | b'?')).then_some(host_port)
}

/// The address-of-record a registrar files `uri` under (RFC 3261 §10.3
/// step 5): parameters and headers removed, scheme and host lower-case
/// (`sips` filed with `sip`), the user part as written (§19.1.4: it is
/// case-sensitive) with escapes of unreserved characters undone and the
/// others' hex digits upper-case, so equal URIs give one key.
pub fn address_of_record(uri: &str) -> String {
    let bare = uri.split([';', '?']).next().unwrap_or(uri);
    let (scheme, rest) = bare.split_once(':').unwrap_or(("", bare));
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "sips" => "sip".to_owned(),
        other => other.to_owned(),
    };
    let (user, host) = match rest.rsplit_once('@') {
        Some((user, host)) => (Some(user), host),
        None => (None, rest),
    };
    let mut out = String::with_capacity(bare.len());
    out.push_str(&scheme);
    out.push(':');
    if let Some(user) = user {
        push_unescaped(&mut out, user);
        out.push('@');
    }
    out.push_str(&host.to_ascii_lowercase());
    out
}

/// `%XX` of an unreserved character (RFC 3261 §25.1) becomes the
/// character; other escapes keep their form with upper-case hex.
fn push_unescaped(out: &mut String, user: &str) {
    let mut chars = user.char_indices();
    while let Some((at, c)) = chars.next() {
        let escape = user
            .get(at + 1..at + 3)
            .filter(|_| c == '%')
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escape {
            Some(byte) => {
                let unreserved = byte.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&byte);
                if unreserved {
                    out.push(char::from(byte));
                } else {
                    out.push_str(&format!("%{byte:02X}"));
                }
                chars.nth(1);
            }
            None => out.push(c),
        }
    }
}

/// The text after `userinfo@` (or after the scheme when there is no user).
fn host_part(uri: &str) -> &str {
    let rest = split_once_byte(uri, b':').map_or("", |(_, rest)| rest);
    // '?' may appear in the user part (RFC 4475 intmeth); the first '@' ends it.
    split_once_byte(rest, b'@').map_or(rest, |(_, host)| host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_valid_request_uri(uri: &str) -> bool {
        check_uri(uri.as_bytes(), UriHeaders::Refused)
    }

    #[test]
    fn schemes() {
        assert_eq!(scheme("soap.beep://192.0.2.103:3002"), Some("soap.beep"));
        assert_eq!(
            scheme("nobodyKnowsThisScheme:totallyopaquecontent"),
            Some("nobodyKnowsThisScheme")
        );
        assert_eq!(scheme("<sip:user@example.com>"), None);
    }

    #[test]
    fn request_uris() {
        assert!(is_valid_request_uri("sip:[2001:db8::10]"));
        assert!(is_valid_request_uri("sip:[2001:db8::10:5070]"));
        assert!(is_valid_request_uri("sip:[2001:db8::10]:5070"));
        assert!(!is_valid_request_uri("sip:2001:db8::10"));
        assert!(!is_valid_request_uri("sip:user@[2001:db8:::192.0.2.1]"));
        assert!(!is_valid_request_uri(
            "sip:user@example.com?Route=%3Csip:example.com%3E"
        ));
        assert!(is_valid_request_uri(
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com"
        ));
        assert!(is_valid_request_uri(
            "sip:user;par=u%40example.net@example.com"
        ));
        assert!(is_valid_request_uri("tel:+15551234"));
        assert_eq!(sip_user("sip:busy@example.com"), Some("busy"));
    }

    #[test]
    fn addresses_of_record() {
        assert_eq!(
            address_of_record("SIP:Bob@Example.COM;transport=udp?x=y"),
            "sip:Bob@example.com"
        );
        assert_eq!(
            address_of_record("sips:b%6fb%2c@example.com:5061"),
            "sip:bob%2C@example.com:5061"
        );
        assert_eq!(address_of_record("tel:+1555"), "tel:+1555");
        assert_eq!(address_of_record("sip:%zz@h"), "sip:%zz@h");
    }
}
