//! Via header values (RFC 3261 §20.42, §18.2.2; RFC 3581 rport).

use super::class::Class;
use super::cursor::{Cursor, decimal, is_lws};
use super::error::ParseError;
use super::header::{is_token, is_token_byte};
use super::message::Span;
use super::syntax::{find_byte, quoted_string_len, split_list, trim_lws};

/// The RFC 3261 magic cookie that marks a branch as globally unique.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// One via-parm, as spans into the message head.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Via {
    /// The whole via-parm text.
    pub(crate) value: Span,
    pub(crate) transport: Span,
    pub(crate) host: Span,
    pub(crate) port: Option<u16>,
    pub(crate) branch: Option<Span>,
    /// The `rport` parameter (its whole text) and whether it carries a value.
    pub(crate) rport: Option<Span>,
    pub(crate) has_received: bool,
}

/// Parses every via-parm of one Via header field value.
pub(crate) fn parse_via_field(
    head: &str,
    value: &str,
    out: &mut Vec<Via>,
) -> Result<(), ParseError> {
    for part in split_list(value) {
        out.push(parse_via_parm(head, part).ok_or(ParseError::Malformed("Via"))?);
    }
    Ok(())
}

/// Parses the first via-parm of a request that failed validation, enough to
/// route its 400 (or 505) back: any SIP version is taken (RFC 4475 badvers
/// sends `SIP/7.0/UDP` and is owed a 505), and when the parameters are
/// broken only the sent-protocol and sent-by are kept. Parameters that do
/// parse are kept, so `rport` (RFC 3581) still routes the answer.
pub(crate) fn parse_sent_by_leniently(head: &str, value: &str) -> Option<Via> {
    let first = split_list(value).next()?;
    parse_via_parm_of_version(head, first, AnyVersion::Yes).or_else(|| {
        let sent_by = first.split(';').next()?;
        parse_via_parm_of_version(head, sent_by, AnyVersion::Yes)
    })
}

/// Whether a via-parm may carry a protocol version other than 2.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AnyVersion {
    Yes,
    No,
}

fn parse_via_parm(head: &str, text: &str) -> Option<Via> {
    parse_via_parm_of_version(head, text, AnyVersion::No)
}

fn parse_via_parm_of_version(head: &str, text: &str, any_version: AnyVersion) -> Option<Via> {
    let text = trim_lws(text);
    let mut cursor = Cursor::new(text);
    let transport = read_sent_protocol(&mut cursor, any_version)?;
    cursor.skip_lws();
    let (host, port) = read_host_port(&mut cursor)?;
    let mut via = Via {
        value: Span::of(head, text),
        transport: Span::of(head, transport),
        host: Span::of(head, host),
        port,
        branch: None,
        rport: None,
        has_received: false,
    };
    loop {
        cursor.skip_lws();
        if cursor.at_end() {
            return Some(via);
        }
        if !cursor.eat(b';') {
            return None;
        }
        let param = read_param(&mut cursor)?;
        if param.name.eq_ignore_ascii_case("branch") {
            via.branch = Some(Span::of(head, param.value?));
        } else if param.name.eq_ignore_ascii_case("rport") {
            if let Some(port) = param.value
                && port.parse::<u16>().is_err()
            {
                return None;
            }
            via.rport = Some(Span::of(head, param.text));
        } else if param.name.eq_ignore_ascii_case("received") {
            via.has_received = true;
        }
    }
}

/// `protocol-name SLASH protocol-version SLASH transport`, whitespace
/// allowed around each SLASH (RFC 4475 wsinv), and the whitespace that
/// must follow; the transport is returned.
fn read_sent_protocol<'a>(cursor: &mut Cursor<'a>, any_version: AnyVersion) -> Option<&'a str> {
    let name = cursor.take_while(|b| b != b'/');
    if !cursor.eat(b'/') {
        return None;
    }
    let version = cursor.take_while(|b| b != b'/');
    if !cursor.eat(b'/') {
        return None;
    }
    let version = trim_lws(version);
    let version_ok = match any_version {
        AnyVersion::No => version == "2.0",
        AnyVersion::Yes => is_token(version),
    };
    if !trim_lws(name).eq_ignore_ascii_case("SIP") || !version_ok {
        return None;
    }
    cursor.skip_lws();
    let transport = cursor.take_while(is_token_byte);
    if transport.is_empty() || !cursor.peek().is_some_and(is_lws) {
        return None;
    }
    Some(transport)
}

/// One generic parameter (RFC 3261 §25.1 `generic-param`) as written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Param<'a> {
    /// The whole `name[=value]`.
    pub(crate) text: &'a str,
    pub(crate) name: &'a str,
    pub(crate) value: Option<&'a str>,
}

/// `;name[=value]` after the semicolon: the whole parameter text, its name,
/// its value (None when absent) and what follows. The value is a token, a
/// quoted string or a bracketed IPv6 reference; an empty name is an error.
pub(crate) fn parse_param(text: &str) -> Option<(&str, &str, Option<&str>, &str)> {
    let mut cursor = Cursor::new(trim_lws(text));
    let param = read_param(&mut cursor)?;
    Some((param.text, param.name, param.value, cursor.rest()))
}

/// [`parse_param`] at a cursor just after the semicolon; the cursor ends
/// after the parameter (before any whitespace that follows a bare name).
/// The text read must not end in whitespace (every caller's is trimmed).
pub(crate) fn read_param<'a>(cursor: &mut Cursor<'a>) -> Option<Param<'a>> {
    cursor.skip_lws();
    let start = cursor.position();
    let name = cursor.take_while(is_token_byte);
    if name.is_empty() {
        return None;
    }
    let name_end = cursor.position();
    cursor.skip_lws();
    if !cursor.eat(b'=') {
        cursor.reset(name_end);
        return Some(Param {
            text: name,
            name,
            value: None,
        });
    }
    cursor.skip_lws();
    let value = read_param_value(cursor, name)?;
    Some(Param {
        text: cursor.since(start),
        name,
        value: Some(value),
    })
}

/// A parameter value: a quoted string, a bracketed IPv6 reference or a token.
fn read_param_value<'a>(cursor: &mut Cursor<'a>, name: &str) -> Option<&'a str> {
    let rest = cursor.rest();
    let len = match cursor.peek() {
        Some(b'"') => quoted_string_len(rest)?,
        Some(b'[') => find_byte(rest, b']')? + 1,
        _ => {
            let token = cursor.take_while(|b| Class::TOKEN.or(Class::COLON).has(b));
            // A colon is no token character: only `received` may hold one, as
            // an IPv6 address without brackets (RFC 3261 §25.1 via-received,
            // RFC 5118 §4.5; Kamailio writes it so for `;rport` clients).
            let colon = find_byte(token, b':').is_some();
            if token.is_empty()
                || colon
                    && !(name.eq_ignore_ascii_case("received")
                        && token.parse::<std::net::Ipv6Addr>().is_ok())
            {
                return None;
            }
            return Some(token);
        }
    };
    Some(cursor.take_len(len))
}

/// `host [ ":" port ]`, host being a hostname, IPv4 address or `[IPv6]`.
/// Whitespace may surround the colon; after a port, whitespace that ends
/// the text is read too.
pub(crate) fn read_host_port<'a>(cursor: &mut Cursor<'a>) -> Option<(&'a str, Option<u16>)> {
    let host = if cursor.peek() == Some(b'[') {
        let rest = cursor.rest();
        let close = find_byte(rest, b']')?;
        rest[1..close].parse::<std::net::Ipv6Addr>().ok()?;
        cursor.take_len(close + 1)
    } else {
        cursor.take_while(|b| Class::HOST.has(b))
    };
    if host.is_empty() {
        return None;
    }
    let host_end = cursor.position();
    cursor.skip_lws();
    if !cursor.eat(b':') {
        cursor.reset(host_end);
        return Some((host, None));
    }
    cursor.skip_lws();
    let port = decimal(cursor.take_while(|b| Class::DIGIT.has(b)), u16::MAX.into())?;
    cursor.skip_trailing_lws();
    Some((host, Some(port as u16)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (transport, host, port, branch) of each via-parm.
    type ViaParts = (String, String, Option<u16>, Option<String>);

    fn vias(value: &str) -> Result<Vec<ViaParts>, ParseError> {
        let mut out = Vec::new();
        parse_via_field(value, value, &mut out)?;
        Ok(out
            .iter()
            .map(|v| {
                (
                    value[v.transport.range()].to_owned(),
                    value[v.host.range()].to_owned(),
                    v.port,
                    v.branch.map(|b| value[b.range()].to_owned()),
                )
            })
            .collect())
    }

    #[test]
    fn torture_whitespace_and_lists() {
        let parsed = vias(
            "SIP  / 2.0  / TCP     spindle.example.com   ;   branch  =   z9hG4bK9ikj8  ,  SIP  /    2.0   / UDP  192.168.255.111   ; branch=   z9hG4bK30239",
        )
        .expect("valid");
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].0, "TCP");
        assert_eq!(parsed[0].1, "spindle.example.com");
        assert_eq!(parsed[0].3.as_deref(), Some("z9hG4bK9ikj8"));
        assert_eq!(parsed[1].1, "192.168.255.111");
    }

    #[test]
    fn ipv6_and_ports() {
        let parsed =
            vias("SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKas3;received=[2001:db8::9:255]")
                .expect("valid");
        assert_eq!(parsed[0].1, "[2001:db8::9:1]");
        assert_eq!(parsed[0].2, Some(6050));
        // RFC 5118 §4.5: received holds an IPv6address, brackets or not.
        let parsed = vias("SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3")
            .expect("valid");
        assert_eq!(parsed[0].3.as_deref(), Some("z9hG4bKas3"));
        assert!(vias("SIP/2.0/UDP h;received=2001:db8:::255;branch=z9hG4bK1").is_err());
        assert!(vias("SIP/2.0/UDP h;maddr=2001:db8::1;branch=z9hG4bK1").is_err());
        assert!(vias("SIP/2.0/UDP [2001:db8:::1]").is_err());
    }

    #[test]
    fn broken_params_are_errors_but_sent_by_is_recoverable() {
        let value = "SIP/2.0/UDP 192.0.2.15;;,;,,";
        assert!(vias(value).is_err());
        let via = parse_sent_by_leniently(value, value).expect("sent-by");
        assert_eq!(&value[via.host.range()], "192.0.2.15");
        assert_eq!(&value[via.value.range()], "SIP/2.0/UDP 192.0.2.15");
    }

    #[test]
    fn lenient_parse_takes_any_version_and_keeps_good_params() {
        // RFC 4475 badvers: the 505 must be routable.
        let value = "SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw";
        assert!(vias(value).is_err());
        let via = parse_sent_by_leniently(value, value).expect("sent-by");
        assert_eq!(&value[via.host.range()], "c.example.com");
        assert_eq!(via.branch.map(|b| &value[b.range()]), Some("z9hG4bKkdjuw"));
        // rport survives, so the 400 goes back to the source port.
        let value = "SIP/2.0/UDP 192.0.2.1:5070;rport;branch=z9hG4bK1, SIP/2.0/UDP proxy";
        let via = parse_sent_by_leniently(value, value).expect("sent-by");
        assert_eq!(via.port, Some(5070));
        assert_eq!(via.rport.map(|r| &value[r.range()]), Some("rport"));
        assert_eq!(
            &value[via.value.range()],
            "SIP/2.0/UDP 192.0.2.1:5070;rport;branch=z9hG4bK1"
        );
        assert!(parse_sent_by_leniently("HTTP/1.1/TCP h", "HTTP/1.1/TCP h").is_none());
    }
}
