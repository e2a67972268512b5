//! URI checks a UAS needs: scheme syntax (RFC 3986 §3.1), and for sip/sips
//! the host part and the absence of headers in a Request-URI (RFC 3261 §19.1.1).

use super::class::Class;
use super::cursor::Cursor;
use super::syntax::{find_byte, split_once_byte};
use super::via::read_host_port;

/// The scheme of an absolute URI, if `uri` starts with a syntactically valid one.
pub fn scheme(uri: &str) -> Option<&str> {
    read_scheme(&mut Cursor::new(uri))
}

/// `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"` (RFC 3986 §3.1): the
/// scheme, with the cursor after its colon.
fn read_scheme<'a>(cursor: &mut Cursor<'a>) -> Option<&'a str> {
    let start = cursor.position();
    if !cursor.peek()?.is_ascii_alphabetic() {
        return None;
    }
    cursor.skip_while(|b| Class::SCHEME.has(b));
    let scheme = cursor.since(start);
    cursor.eat(b':').then_some(scheme)
}

/// Whether a URI may carry a `?headers` part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UriHeaders {
    Allowed,
    /// In a Request-URI (RFC 3261 §19.1.1; RFC 4475 escruri).
    Refused,
}

/// Whether `uri` is a well-formed absolute URI (any scheme); for sip and sips
/// the host and port must parse.
pub(crate) fn is_valid_uri(uri: &str) -> bool {
    check_uri(uri, UriHeaders::Allowed)
}

/// A Request-URI is valid when it is a valid URI and, for sip/sips, carries
/// no `?headers` part (RFC 4475 escruri).
pub(crate) fn is_valid_request_uri(uri: &str) -> bool {
    check_uri(uri, UriHeaders::Refused)
}

/// One pass over `uri`: the scheme, then for sip/sips the host and port
/// after any user part, and what may follow them.
fn check_uri(uri: &str, headers: UriHeaders) -> bool {
    let mut cursor = Cursor::new(uri);
    let Some(scheme) = read_scheme(&mut cursor) else {
        return false;
    };
    if !is_sip_scheme(scheme) {
        // Something after the colon.
        return !cursor.at_end();
    }
    let mut host = Cursor::new(after_user(cursor.rest()));
    read_host_port_then_params(&mut host).is_some()
        && (headers == UriHeaders::Allowed || find_byte(host.rest(), b'?').is_none())
}

fn is_sip_scheme(scheme: &str) -> bool {
    scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips")
}

/// The user part of a sip/sips URI (before the first '@'), or None.
pub fn sip_user(uri: &str) -> Option<&str> {
    let rest = split_once_byte(uri, b':')?.1;
    split_once_byte(rest, b'@').map(|(user, _)| user)
}

/// The host (with brackets for IPv6) and port of a sip/sips URI.
pub fn sip_host_port(uri: &str) -> Option<(&str, Option<u16>)> {
    sip_host_port_of(host_part(uri))
}

/// `host[:port]` at the start of a URI's host part.
fn sip_host_port_of(host_part: &str) -> Option<(&str, Option<u16>)> {
    read_host_port_then_params(&mut Cursor::new(host_part))
}

/// `host[:port]`, after which only parameters or headers may follow.
fn read_host_port_then_params<'a>(cursor: &mut Cursor<'a>) -> Option<(&'a str, Option<u16>)> {
    let host_port = read_host_port(cursor)?;
    matches!(cursor.peek(), None | Some(b';' | b'?')).then_some(host_port)
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
    after_user(split_once_byte(uri, b':').map_or("", |(_, rest)| rest))
}

/// What follows the user part of the text after a URI's scheme.
fn after_user(rest: &str) -> &str {
    // '?' may appear in the user part (RFC 4475 intmeth); the first '@' ends it.
    split_once_byte(rest, b'@').map_or(rest, |(_, host)| host)
}

#[cfg(test)]
mod tests {
    use super::*;

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
