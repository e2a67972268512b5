//! From / To / Contact / Record-Route values: `name-addr` or `addr-spec`
//! followed by parameters (RFC 3261 §20.10, §20.20, §20.39, §25.1).

use super::class::Class;
use super::message::Span;
use super::scan::{is_lws, search, skip, skip_lws, trim_span};
use super::syntax::quoted_len;
use super::uri::{UriHeaders, check_uri};
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
    read_name_addr(head.as_bytes(), Span::of(head, text))
}

/// [`parse_name_addr`] for the text at `text` in the head's `bytes`
/// (whitespace around it allowed).
pub(crate) fn read_name_addr(bytes: &[u8], text: Span) -> Option<NameAddr> {
    let text = trim_span(bytes, text);
    let bytes = bytes.get(..text.end as usize)?;
    let (display, uri, mut at) = read_address(bytes, text.start as usize)?;
    if !check_uri(&bytes[uri.range()], UriHeaders::Allowed) {
        return None;
    }
    let params = Span::new(at, bytes.len());
    let mut tag = None;
    loop {
        at = skip_lws(bytes, at);
        match bytes.get(at) {
            None => break,
            Some(b';') => {}
            Some(_) => return None,
        }
        let param;
        (param, at) = read_param(bytes, at + 1)?;
        if bytes[param.name.range()].eq_ignore_ascii_case(b"tag") {
            tag = Some(param.value?);
        }
    }
    Some(NameAddr {
        display,
        uri,
        tag,
        params,
    })
}

/// The display name, if any, the URI and the position after them: a
/// quoted display name, or a `<` before any `;` (a name-addr), or else an
/// addr-spec that ends at the first `;`. One scan for the first `<` or `;`
/// tells the last two apart.
fn read_address(bytes: &[u8], start: usize) -> Option<(Option<Span>, Span, usize)> {
    if bytes.get(start) == Some(&b'"') {
        let display_end = start + quoted_len(&bytes[start..])?;
        let (uri, end) = read_bracketed_uri(bytes, skip_lws(bytes, display_end))?;
        return Some((Some(Span::new(start, display_end)), uri, end));
    }
    // A byte loop: the '<' is usually first, or after a short display name.
    let stop = Some(skip(bytes, start, |b| b != b'<' && b != b';')).filter(|&at| at < bytes.len());
    match stop {
        Some(open) if bytes[open] == b'<' => {
            // display-name = *(token LWS): unquoted commas or quotes are
            // invalid (RFC 4475 baddn).
            let display = &bytes[start..open];
            if !display.iter().all(|&b| Class::TOKEN.or(Class::LWS).has(b)) {
                return None;
            }
            let display = trim_span(bytes, Span::new(start, open));
            let (uri, end) = read_bracketed_uri(bytes, open)?;
            Some(((!display.is_empty()).then_some(display), uri, end))
        }
        _ => {
            // addr-spec: may not carry headers, commas or quotes outside
            // <> (RFC 4475 regbadct).
            let end = stop.unwrap_or(bytes.len());
            let uri = trim_span(bytes, Span::new(start, end));
            if bytes[uri.range()]
                .iter()
                .any(|b| matches!(b, b'?' | b',' | b'"' | b' '))
            {
                return None;
            }
            Some((None, uri, end))
        }
    }
}

/// `< URI >` at `at` with no whitespace inside the brackets (RFC 4475
/// badaspec): the URI and the position after the `>`.
fn read_bracketed_uri(bytes: &[u8], at: usize) -> Option<(Span, usize)> {
    if bytes.get(at) != Some(&b'<') {
        return None;
    }
    let start = at + 1;
    let close = search(bytes, start, b'>')?;
    let uri = &bytes[start..close];
    let edges = [uri.first(), uri.last()];
    if uri.is_empty() || edges.into_iter().flatten().any(|&b| is_lws(b)) {
        return None;
    }
    Some((Span::new(start, close), close + 1))
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
