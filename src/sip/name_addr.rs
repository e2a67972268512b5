//! From / To / Contact / Record-Route values: `name-addr` or `addr-spec`
//! followed by parameters (RFC 3261 §20.10, §20.20, §20.39, §25.1).

use super::header::is_token_byte;
use super::message::Span;
use super::syntax::{find_byte, quoted_string_len, trim_lws};
use super::uri::is_valid_uri;
use super::via::parse_param;

/// A parsed name-addr, as spans into the message head.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NameAddr {
    pub(crate) display: Option<Span>,
    pub(crate) uri: Span,
    pub(crate) tag: Option<Span>,
    /// The parameters after the URI (`;name=value…`, maybe empty).
    pub(crate) params: Span,
}

/// Parses one `(name-addr / addr-spec) *(SEMI param)`; `None` when malformed.
pub(crate) fn parse_name_addr(head: &str, text: &str) -> Option<NameAddr> {
    let text = trim_lws(text);
    let (display, uri, mut rest) = if text.starts_with('"') {
        let quoted_len = quoted_string_len(text)?;
        let after = trim_lws(&text[quoted_len..]);
        let (uri, rest) = bracketed_uri(after)?;
        (Some(&text[..quoted_len]), uri, rest)
    } else if let Some(open) = angle_before_params(text) {
        // display-name = *(token LWS): unquoted commas or quotes are invalid
        // (RFC 4475 baddn).
        let display = trim_lws(&text[..open]);
        if !display
            .bytes()
            .all(|b| is_token_byte(b) || b == b' ' || b == b'\t')
        {
            return None;
        }
        let (uri, rest) = bracketed_uri(&text[open..])?;
        ((!display.is_empty()).then_some(display), uri, rest)
    } else {
        // addr-spec: the URI ends at the first ';', and may not carry
        // headers, commas or quotes outside <> (RFC 4475 regbadct).
        let end = find_byte(text, b';').unwrap_or(text.len());
        let uri = trim_lws(&text[..end]);
        if uri.bytes().any(|b| matches!(b, b'?' | b',' | b'"' | b' ')) {
            return None;
        }
        (None, uri, &text[end..])
    };
    if !is_valid_uri(uri) {
        return None;
    }
    let params = Span::of(head, rest);
    let mut tag = None;
    loop {
        rest = trim_lws(rest);
        if rest.is_empty() {
            break;
        }
        let (_, name, value, after) = parse_param(rest.strip_prefix(';')?)?;
        if name.eq_ignore_ascii_case("tag") {
            tag = Some(Span::of(head, value?));
        }
        rest = after;
    }
    Some(NameAddr {
        display: display.map(|d| Span::of(head, d)),
        uri: Span::of(head, uri),
        tag,
        params,
    })
}

/// Position of a `<` that opens the URI of a name-addr, if the value has one
/// before any parameter.
fn angle_before_params(text: &str) -> Option<usize> {
    let open = find_byte(text, b'<')?;
    find_byte(&text[..open], b';').is_none().then_some(open)
}

/// `< URI >` with no whitespace inside the brackets (RFC 4475 badaspec).
fn bracketed_uri(text: &str) -> Option<(&str, &str)> {
    let inner = text.strip_prefix('<')?;
    let close = find_byte(inner, b'>')?;
    let uri = &inner[..close];
    let is_ws = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
    if uri.is_empty() || is_ws(uri.as_bytes().first()) || is_ws(uri.as_bytes().last()) {
        return None;
    }
    Some((uri, &inner[close + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(text: &str) -> Option<(Option<String>, String, Option<String>)> {
        let na = parse_name_addr(text, text)?;
        Some((
            na.display.map(|d| text[d.range()].to_owned()),
            text[na.uri.range()].to_owned(),
            na.tag.map(|t| text[t.range()].to_owned()),
        ))
    }

    #[test]
    fn accepted_forms() {
        let p = parts(r#""J Rosenberg \\\""       <sip:jdrosen@example.com>  ;  tag = 98asjd8"#)
            .expect("wsinv from");
        assert_eq!(p.1, "sip:jdrosen@example.com");
        assert_eq!(p.2.as_deref(), Some("98asjd8"));
        assert!(parts("caller<sip:caller@example.com>;tag=323").is_some());
        assert!(
            parts("token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;tag=_token~1'+`*%!-.")
                .is_some()
        );
        assert_eq!(
            parts("isbn:2983792873").expect("unksm2").1,
            "isbn:2983792873"
        );
        assert!(parts("<http://www.example.com>;tag=3234233").is_some());
        assert_eq!(
            parts("sip:a@b;tag=x").expect("addr-spec").2.as_deref(),
            Some("x")
        );
    }

    #[test]
    fn rejected_forms() {
        assert!(
            parts(r#""Mr. J. User <sip:j.user@example.com>"#).is_none(),
            "quotbal"
        );
        assert!(
            parts("Bell, Alexander <sip:a.g.bell@example.com>;tag=43").is_none(),
            "baddn"
        );
        assert!(
            parts(r#""Watson, Thomas" < sip:t.watson@example.org >"#).is_none(),
            "badaspec"
        );
        assert!(
            parts("sip:user@example.com?Route=%3Csip:sip.example.com%3E").is_none(),
            "regbadct"
        );
        assert!(
            parts(r#""Joe" <sip:joe@example.org>;;;;"#).is_none(),
            "badinv01 contact"
        );
    }
}
