//! Via header values (RFC 3261 §20.42, §18.2.2; RFC 3581 rport).

use super::class::Class;
use super::error::ParseError;
use super::header::is_token_byte;
use super::message::Span;
use super::scan::{find, is_lws, skip, skip_lws, skip_run, trim_span};
use super::syntax::{quoted_len, split_list, split_spans, trim_lws};

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
#[cfg(test)]
pub(crate) fn parse_via_field(
    head: &str,
    value: &str,
    out: &mut Vec<Via>,
) -> Result<(), ParseError> {
    let bytes = head.as_bytes();
    for part in split_spans(bytes, Span::of(head, value)) {
        out.push(read_via_parm(bytes, part, AnyVersion::No).ok_or(ParseError::Malformed("Via"))?);
    }
    Ok(())
}

/// Checks every via-parm of the Via value at `value` in the head's
/// `bytes`, and keeps the first of the message in `top` (the only one a
/// UAS reads: RFC 3261 §8.2.6.2, §18.2.2; the response copies the others
/// as they were written).
pub(crate) fn read_via_field(
    bytes: &[u8],
    value: Span,
    top: &mut Option<Via>,
) -> Result<(), ParseError> {
    for part in split_spans(bytes, value) {
        let via = read_via_parm(bytes, part, AnyVersion::No).ok_or(ParseError::Malformed("Via"))?;
        top.get_or_insert(via);
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

fn parse_via_parm_of_version(head: &str, text: &str, any_version: AnyVersion) -> Option<Via> {
    read_via_parm(head.as_bytes(), Span::of(head, text), any_version)
}

/// One via-parm at `part` of the head's `bytes` (whitespace around it
/// allowed).
fn read_via_parm(bytes: &[u8], part: Span, any_version: AnyVersion) -> Option<Via> {
    let value = trim_span(bytes, part);
    let bytes = bytes.get(..value.end as usize)?;
    let (transport, at) = read_sent_protocol(bytes, value.start as usize, any_version)?;
    let (host, port, mut at) = read_host_port(bytes, skip_lws(bytes, at))?;
    let mut via = Via {
        value,
        transport,
        host,
        port,
        branch: None,
        rport: None,
        has_received: false,
    };
    loop {
        at = skip_lws(bytes, at);
        match bytes.get(at) {
            None => return Some(via),
            Some(b';') => {}
            Some(_) => return None,
        }
        let param;
        (param, at) = read_param(bytes, at + 1)?;
        let name = &bytes[param.name.range()];
        if name.eq_ignore_ascii_case(b"branch") {
            via.branch = Some(param.value?);
        } else if name.eq_ignore_ascii_case(b"rport") {
            // `str::parse` as ever: it takes a leading '+'.
            if let Some(port) = param.value
                && std::str::from_utf8(&bytes[port.range()])
                    .map_or(true, |port| port.parse::<u16>().is_err())
            {
                return None;
            }
            via.rport = Some(param.text);
        } else if name.eq_ignore_ascii_case(b"received") {
            via.has_received = true;
        }
    }
}

/// `protocol-name SLASH protocol-version SLASH transport` at `at`,
/// whitespace allowed around each SLASH (RFC 4475 wsinv), and the
/// whitespace that must follow: the transport and the position after it.
fn read_sent_protocol(bytes: &[u8], at: usize, any_version: AnyVersion) -> Option<(Span, usize)> {
    let slash = find(bytes, at, b'/')?;
    let second_slash = find(bytes, slash + 1, b'/')?;
    let name = trim_span(bytes, Span::new(at, slash));
    let version = trim_span(bytes, Span::new(slash + 1, second_slash));
    let version = &bytes[version.range()];
    let version_ok = match any_version {
        AnyVersion::No => version == b"2.0",
        AnyVersion::Yes => !version.is_empty() && version.iter().all(|&b| is_token_byte(b)),
    };
    if !bytes[name.range()].eq_ignore_ascii_case(b"SIP") || !version_ok {
        return None;
    }
    let start = skip_lws(bytes, second_slash + 1);
    let end = skip(bytes, start, is_token_byte);
    if end == start || !bytes.get(end).is_some_and(|&b| is_lws(b)) {
        return None;
    }
    Some((Span::new(start, end), end))
}

/// One generic parameter (RFC 3261 §25.1 `generic-param`) as written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Param {
    /// The whole `name[=value]`.
    pub(crate) text: Span,
    pub(crate) name: Span,
    pub(crate) value: Option<Span>,
}

/// `;name[=value]` after the semicolon: the whole parameter text, its name,
/// its value (None when absent) and what follows. The value is a token, a
/// quoted string or a bracketed IPv6 reference; an empty name is an error.
pub(crate) fn parse_param(text: &str) -> Option<(&str, &str, Option<&str>, &str)> {
    let text = trim_lws(text);
    let (param, end) = read_param(text.as_bytes(), 0)?;
    let part = |span: Span| text.get(span.range());
    let value = match param.value {
        Some(value) => Some(part(value)?),
        None => None,
    };
    Some((
        part(param.text)?,
        part(param.name)?,
        value,
        text.get(end..)?,
    ))
}

/// [`parse_param`] at `at`, just after the semicolon: the parameter and
/// the position after it (before any whitespace that follows a bare name).
/// The bytes must not end in whitespace (every caller's are trimmed).
pub(crate) fn read_param(bytes: &[u8], at: usize) -> Option<(Param, usize)> {
    let start = skip_lws(bytes, at);
    let name_end = skip(bytes, start, is_token_byte);
    if name_end == start {
        return None;
    }
    let name = Span::new(start, name_end);
    let equals = skip_lws(bytes, name_end);
    if bytes.get(equals) != Some(&b'=') {
        let param = Param {
            text: name,
            name,
            value: None,
        };
        return Some((param, name_end));
    }
    let value_start = skip_lws(bytes, equals + 1);
    let value_end = param_value_end(bytes, value_start, name)?;
    let param = Param {
        text: Span::new(start, value_end),
        name,
        value: Some(Span::new(value_start, value_end)),
    };
    Some((param, value_end))
}

/// Where a parameter value at `start` ends: a quoted string, a bracketed
/// IPv6 reference or a token.
fn param_value_end(bytes: &[u8], start: usize, name: Span) -> Option<usize> {
    match bytes.get(start) {
        Some(b'"') => Some(start + quoted_len(&bytes[start..])?),
        Some(b'[') => Some(find(bytes, start, b']')? + 1),
        _ => {
            let mut end = skip_run(bytes, start, is_token_byte);
            // A colon is no token character: only `received` may hold one, as
            // an IPv6 address without brackets (RFC 3261 §25.1 via-received,
            // RFC 5118 §4.5; Kamailio writes it so for `;rport` clients).
            if bytes.get(end) == Some(&b':') {
                end = skip(bytes, end, |b| Class::TOKEN.or(Class::COLON).has(b));
                let received = bytes[name.range()].eq_ignore_ascii_case(b"received");
                if !received || !is_ipv6(&bytes[start..end]) {
                    return None;
                }
            }
            (end > start).then_some(end)
        }
    }
}

/// Whether `text` is an IPv6 address (RFC 4291 §2.2 text forms).
fn is_ipv6(text: &[u8]) -> bool {
    std::str::from_utf8(text).is_ok_and(|text| text.parse::<std::net::Ipv6Addr>().is_ok())
}

/// `host [ ":" port ]` at `start`, host being a hostname, IPv4 address or
/// `[IPv6]`: the host, the port and the position after them. Whitespace
/// may surround the colon; after a port, whitespace that ends the bytes is
/// read too.
pub(crate) fn read_host_port(bytes: &[u8], start: usize) -> Option<(Span, Option<u16>, usize)> {
    let host_end = if bytes.get(start) == Some(&b'[') {
        ipv6_reference_end(bytes, start)?
    } else {
        skip(bytes, start, |b| Class::HOST.has(b))
    };
    if host_end == start {
        return None;
    }
    let host = Span::new(start, host_end);
    let colon = skip_lws(bytes, host_end);
    if bytes.get(colon) != Some(&b':') {
        return Some((host, None, host_end));
    }
    let digits = skip_lws(bytes, colon + 1);
    let mut port = 0u32;
    let mut end = digits;
    while let Some(&b) = bytes.get(end) {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        port = port * 10 + u32::from(digit);
        end += 1;
        if port > u32::from(u16::MAX) {
            return None;
        }
    }
    if end == digits {
        return None;
    }
    let after = skip_lws(bytes, end);
    let end = if after == bytes.len() { after } else { end };
    Some((host, u16::try_from(port).ok(), end))
}

/// Where `[IPv6address]` at `start` ends; `None` when it is none.
#[cold]
fn ipv6_reference_end(bytes: &[u8], start: usize) -> Option<usize> {
    let close = find(bytes, start, b']')?;
    is_ipv6(&bytes[start + 1..close]).then_some(close + 1)
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
