//! Small lexical helpers shared by the header parsers (RFC 3261 §25.1).

/// Trims linear whitespace on both sides (folds were already unfolded).
pub(crate) fn trim_lws(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// Splits `s` where `pred` stops holding.
pub(crate) fn take_while(s: &str, pred: impl Fn(u8) -> bool) -> (&str, &str) {
    let end = s.bytes().position(|b| !pred(b)).unwrap_or(s.len());
    s.split_at(end)
}

/// Length of the quoted-string at the start of `s` (quotes included), with
/// backslash escapes; `None` when the closing quote is missing.
pub(crate) fn quoted_string_len(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Splits a header value at top-level commas: commas inside quoted strings,
/// `<...>` and `[...]` do not split. Elements are returned as written.
pub(crate) fn split_list(s: &str) -> impl Iterator<Item = &str> {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    let mut angle = false;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        while i < bytes.len() {
            match bytes[i] {
                b'"' => {
                    i += quoted_string_len(&s[i..]).unwrap_or(bytes.len() - i);
                    continue;
                }
                b'<' => angle = true,
                b'>' => angle = false,
                b',' if !angle => {
                    let item = &s[start..i];
                    i += 1;
                    start = i;
                    return Some(item);
                }
                _ => {}
            }
            i += 1;
        }
        done = true;
        Some(&s[start..])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_respect_quotes_and_brackets() {
        let items: Vec<_> = split_list(r#""a, b" <sip:x@y;p=1,2>;q=1, <sip:z@w>"#).collect();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1], " <sip:z@w>");
        let items: Vec<_> = split_list(";;,;,,").collect();
        assert_eq!(items, [";;", ";", "", ""]);
    }

    #[test]
    fn quoted_strings_with_escapes() {
        assert_eq!(quoted_string_len(r#""J Rosenberg \\\"" <sip"#), Some(18));
        assert_eq!(quoted_string_len(r#""Mr. J. User <sip:j@x>"#), None);
    }
}
