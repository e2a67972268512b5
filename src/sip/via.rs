//! Via header values (RFC 3261 §20.42, §18.2.2; RFC 3581 rport).

use super::error::ParseError;
use super::header::{is_token, is_token_byte};
use super::message::Span;
use super::syntax::{split_list, take_while, trim_lws};

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
pub(crate) fn parse_via_field(head: &str, value: &str, out: &mut Vec<Via>) -> Result<(), ParseError> {
    for part in split_list(value) {
        out.push(parse_via_parm(head, part).ok_or(ParseError::Malformed("Via"))?);
    }
    Ok(())
}

/// Parses only the sent-protocol and sent-by of the first via-parm, ignoring
/// broken parameters: enough to route a 400 back for a malformed request.
pub(crate) fn parse_sent_by_leniently(head: &str, value: &str) -> Option<Via> {
    let first = value.split([',', ';']).next()?;
    parse_via_parm(head, first)
}

fn parse_via_parm(head: &str, text: &str) -> Option<Via> {
    let text = trim_lws(text);
    // sent-protocol = protocol-name SLASH protocol-version SLASH transport,
    // SLASH allowing whitespace around it (RFC 4475 wsinv).
    let (name, rest) = text.split_once('/')?;
    let (version, rest) = rest.split_once('/')?;
    if !trim_lws(name).eq_ignore_ascii_case("SIP") || trim_lws(version) != "2.0" {
        return None;
    }
    let (transport, rest) = take_while(trim_lws(rest), is_token_byte);
    if transport.is_empty() || !rest.starts_with([' ', '\t']) {
        return None;
    }
    let (host, port, mut rest) = parse_host_port(trim_lws(rest))?;
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
        rest = trim_lws(rest);
        if rest.is_empty() {
            return Some(via);
        }
        let (param, name, value, after) = parse_param(rest.strip_prefix(';')?)?;
        match name.to_ascii_lowercase().as_str() {
            "branch" => via.branch = Some(Span::of(head, value?)),
            "rport" => {
                if let Some(port) = value
                    && port.parse::<u16>().is_err()
                {
                    return None;
                }
                via.rport = Some(Span::of(head, param));
            }
            "received" => via.has_received = true,
            _ => {}
        }
        rest = after;
    }
}

/// `;name[=value]` after the semicolon: the whole parameter text, its name,
/// its value (None when absent) and what follows. The value is a token, a
/// quoted string or a bracketed IPv6 reference; an empty name is an error.
pub(crate) fn parse_param(text: &str) -> Option<(&str, &str, Option<&str>, &str)> {
    let start = trim_lws(text);
    let (name, rest) = take_while(start, is_token_byte);
    if name.is_empty() {
        return None;
    }
    let after_name = trim_lws(rest);
    let Some(value_text) = after_name.strip_prefix('=') else {
        let param = &start[..name.len()];
        return Some((param, name, None, rest));
    };
    let value_text = trim_lws(value_text);
    let value_len = if value_text.starts_with('"') {
        super::syntax::quoted_string_len(value_text)?
    } else if value_text.starts_with('[') {
        value_text.find(']')? + 1
    } else {
        let (token, _) = take_while(value_text, |b| is_token_byte(b) || b == b':');
        // An unbracketed IPv6 address is not a token (RFC 5118 §4.5).
        if token.is_empty() || token.contains(':') && !is_token(token) {
            return None;
        }
        token.len()
    };
    let value = &value_text[..value_len];
    let end = value.as_ptr() as usize - start.as_ptr() as usize + value_len;
    Some((&start[..end], name, Some(value), &value_text[value_len..]))
}

/// `host [ ":" port ]`, host being a hostname, IPv4 address or `[IPv6]`.
pub(crate) fn parse_host_port(text: &str) -> Option<(&str, Option<u16>, &str)> {
    let (host, rest) = if text.starts_with('[') {
        let close = text.find(']')?;
        let host = &text[..=close];
        host[1..close].parse::<std::net::Ipv6Addr>().ok()?;
        (host, &text[close + 1..])
    } else {
        let (host, rest) = take_while(text, |b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if host.is_empty() {
            return None;
        }
        (host, rest)
    };
    let after = trim_lws(rest);
    let Some(port_text) = after.strip_prefix(':') else {
        return Some((host, None, rest));
    };
    let (digits, rest) = take_while(trim_lws(port_text), |b| b.is_ascii_digit());
    let port = digits.parse::<u16>().ok()?;
    Some((host, Some(port), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vias(value: &str) -> Result<Vec<(String, String, Option<u16>, Option<String>)>, ParseError> {
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
        let parsed = vias("SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKas3;received=[2001:db8::9:255]")
            .expect("valid");
        assert_eq!(parsed[0].1, "[2001:db8::9:1]");
        assert_eq!(parsed[0].2, Some(6050));
        assert!(vias("SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3").is_err());
        assert!(vias("SIP/2.0/UDP [2001:db8:::1]").is_err());
    }

    #[test]
    fn broken_params_are_errors_but_sent_by_is_recoverable() {
        let value = "SIP/2.0/UDP 192.0.2.15;;,;,,";
        assert!(vias(value).is_err());
        let via = parse_sent_by_leniently(value, value).expect("sent-by");
        assert_eq!(&value[via.host.range()], "192.0.2.15");
    }
}
