//! From / To / Contact / Record-Route values: `name-addr` or `addr-spec`
//! followed by parameters (RFC 3261 §20.10, §20.20, §20.39, §25.1).

use super::class::Class;
use super::cursor::{Cursor, is_lws};
use super::message::Span;
use super::syntax::{find_byte, quoted_string_len, trim_lws};
use super::uri::is_valid_uri;
use super::via::read_param;

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
    let mut cursor = Cursor::new(text);
    let (display, uri) = read_address(&mut cursor)?;
    if !is_valid_uri(uri) {
        return None;
    }
    let params = Span::of(head, cursor.rest());
    let mut tag = None;
    loop {
        cursor.skip_lws();
        if cursor.at_end() {
            break;
        }
        if !cursor.eat(b';') {
            return None;
        }
        let param = read_param(&mut cursor)?;
        if param.name.eq_ignore_ascii_case("tag") {
            tag = Some(Span::of(head, param.value?));
        }
    }
    Some(NameAddr {
        display: display.map(|d| Span::of(head, d)),
        uri: Span::of(head, uri),
        tag,
        params,
    })
}

/// The display name, if any, and the URI: a quoted display name, or a `<`
/// before any `;` (a name-addr), or else an addr-spec that ends at the
/// first `;`. One scan for the first `<` or `;` tells the last two apart.
fn read_address<'a>(cursor: &mut Cursor<'a>) -> Option<(Option<&'a str>, &'a str)> {
    if cursor.peek() == Some(b'"') {
        let display = cursor.take_len(quoted_string_len(cursor.rest())?);
        cursor.skip_lws();
        return Some((Some(display), read_bracketed_uri(cursor)?));
    }
    let rest = cursor.rest();
    let stop = rest.bytes().position(|b| b == b'<' || b == b';');
    match stop {
        Some(open) if rest.as_bytes()[open] == b'<' => {
            // display-name = *(token LWS): unquoted commas or quotes are
            // invalid (RFC 4475 baddn).
            let display = trim_lws(cursor.take_len(open));
            if !display.bytes().all(|b| Class::TOKEN.or(Class::LWS).has(b)) {
                return None;
            }
            let uri = read_bracketed_uri(cursor)?;
            Some(((!display.is_empty()).then_some(display), uri))
        }
        _ => {
            // addr-spec: may not carry headers, commas or quotes outside
            // <> (RFC 4475 regbadct).
            let uri = trim_lws(cursor.take_len(stop.unwrap_or(rest.len())));
            if uri.bytes().any(|b| matches!(b, b'?' | b',' | b'"' | b' ')) {
                return None;
            }
            Some((None, uri))
        }
    }
}

/// `< URI >` with no whitespace inside the brackets (RFC 4475 badaspec).
fn read_bracketed_uri<'a>(cursor: &mut Cursor<'a>) -> Option<&'a str> {
    if !cursor.eat(b'<') {
        return None;
    }
    let close = find_byte(cursor.rest(), b'>')?;
    let uri = cursor.take_len(close);
    cursor.eat(b'>');
    let edges = [uri.as_bytes().first(), uri.as_bytes().last()];
    if uri.is_empty() || edges.into_iter().flatten().any(|&b| is_lws(b)) {
        return None;
    }
    Some(uri)
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
