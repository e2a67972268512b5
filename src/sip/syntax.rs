//! Small lexical helpers shared by the header parsers (RFC 3261 §25.1).

use super::message::Span;
use super::scan::search;

/// Trims linear whitespace on both sides (folds were already unfolded).
/// Byte loops: the spans are short, and `trim_matches` with a char set
/// costs more than the scan.
#[inline]
pub(crate) fn trim_lws(s: &str) -> &str {
    let bytes = s.as_bytes();
    let is_ws = |b: &u8| matches!(b, b' ' | b'\t');
    let start = bytes.iter().position(|b| !is_ws(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_ws(b))
        .map_or(start, |at| at + 1);
    // Both ends sit next to ASCII bytes, so they are char boundaries.
    &s[start..end]
}

/// `str::trim`, skipped when both ends are ASCII and no whitespace (then
/// it has nothing to remove): it decodes characters from both ends.
pub(crate) fn trim_whitespace(text: &str) -> &str {
    let plain = |edge: Option<&u8>| {
        edge.is_some_and(|&b| b.is_ascii() && !(b == b' ' || (0x09..=0x0D).contains(&b)))
    };
    let bytes = text.as_bytes();
    if plain(bytes.first()) && plain(bytes.last()) {
        text
    } else {
        text.trim()
    }
}

/// Position of the first `byte` (ASCII) in `s`. A plain loop: on the short
/// spans header parsing deals in, `str::find` spends more setting up its
/// searcher than scanning.
#[inline]
pub(crate) fn find_byte(s: &str, byte: u8) -> Option<usize> {
    debug_assert!(byte.is_ascii());
    s.bytes().position(|b| b == byte)
}

/// `str::split_once` at an ASCII byte, with `find_byte`.
#[inline]
pub(crate) fn split_once_byte(s: &str, byte: u8) -> Option<(&str, &str)> {
    let at = find_byte(s, byte)?;
    Some((&s[..at], &s[at + 1..]))
}

/// Splits `s` where `pred` stops holding.
pub(crate) fn take_while(s: &str, pred: impl Fn(u8) -> bool) -> (&str, &str) {
    let end = s.bytes().position(|b| !pred(b)).unwrap_or(s.len());
    s.split_at(end)
}

/// Length of the quoted-string at the start of `bytes` (quotes included),
/// with backslash escapes; `None` when the closing quote is missing.
pub(crate) fn quoted_len(bytes: &[u8]) -> Option<usize> {
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

/// Splits a header value at top-level commas: commas inside quoted strings
/// and `<...>` do not split. Elements are returned as written.
pub(crate) fn split_list(s: &str) -> impl Iterator<Item = &str> {
    split_spans(s.as_bytes(), Span::new(0, s.len())).map(move |element| {
        // Elements start and end at a comma or at an end of `s`.
        s.get(element.range()).unwrap_or_default()
    })
}

/// [`split_list`] over `span` of `bytes`: the elements' spans.
pub(crate) fn split_spans(bytes: &[u8], span: Span) -> SplitSpans<'_> {
    let (start, end) = (span.start as usize, span.end as usize);
    // Most values are one element: without a comma there is nothing to
    // scan.
    let comma = bytes
        .get(..end)
        .and_then(|value| search(value, start, b','))
        .is_some();
    SplitSpans {
        bytes: bytes.get(..end).unwrap_or_default(),
        start,
        at: if comma { start } else { end },
        angle: false,
        done: false,
    }
}

/// The iterator of [`split_spans`].
#[derive(Debug, Clone)]
pub(crate) struct SplitSpans<'a> {
    /// The bytes up to the end of the value.
    bytes: &'a [u8],
    /// Where the next element starts.
    start: usize,
    /// How far the search for its end has got.
    at: usize,
    angle: bool,
    done: bool,
}

impl Iterator for SplitSpans<'_> {
    type Item = Span;

    fn next(&mut self) -> Option<Span> {
        if self.done {
            return None;
        }
        let bytes = self.bytes;
        while self.at < bytes.len() {
            match bytes[self.at] {
                b'"' => {
                    self.at += quoted_len(&bytes[self.at..]).unwrap_or(bytes.len() - self.at);
                    continue;
                }
                b'<' => self.angle = true,
                b'>' => self.angle = false,
                b',' if !self.angle => {
                    let element = Span::new(self.start, self.at);
                    self.at += 1;
                    self.start = self.at;
                    return Some(element);
                }
                _ => {}
            }
            self.at += 1;
        }
        self.done = true;
        Some(Span::new(self.start, bytes.len()))
    }
}

/// Where a header line may hold quoted-pairs (RFC 3261 §25.1): none in a
/// start line, in quoted strings in headers, and in comments too in the
/// headers whose grammar has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quoting {
    None,
    Strings,
    StringsAndComments,
}

/// Position of the first control character `line` may not hold: a CTL other
/// than HTAB anywhere but escaped by a backslash in a quoted string or
/// comment, and there neither CR nor LF (`quoted-pair = "\" (%x00-09 /
/// %x0B-0C / %x0E-7F)`). Inside `<…>` (a URI) no quoting applies.
pub(crate) fn misplaced_control(line: &str, quoting: Quoting) -> Option<usize> {
    let bytes = line.as_bytes();
    let (mut quoted, mut comment_depth, mut angle) = (false, 0u32, false);
    let mut i = 0;
    while i < bytes.len() {
        let escapable = quoted || comment_depth > 0;
        match bytes[i] {
            b'\\' if escapable => {
                if matches!(bytes.get(i + 1), Some(b'\r' | b'\n')) {
                    return Some(i + 1);
                }
                i += 2;
                continue;
            }
            b'"' if quoting != Quoting::None && !angle && comment_depth == 0 => quoted = !quoted,
            b'<' if !quoted && comment_depth == 0 => angle = true,
            b'>' if !quoted && comment_depth == 0 => angle = false,
            b'(' if quoting == Quoting::StringsAndComments && !quoted && !angle => {
                comment_depth += 1;
            }
            b')' if comment_depth > 0 && !quoted => comment_depth -= 1,
            byte if super::wire::is_forbidden_control(byte) => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shortcut agrees with `str::trim` on ends of every kind: ASCII
    /// whitespace (VT and FF included), other controls, and the Unicode
    /// spaces `trim` removes.
    #[test]
    fn trimming_agrees_with_str_trim() {
        let edges = [
            "", "a", " ", "\t", "\u{b}", "\u{c}", "\r", "\u{1c}", "\u{85}", "\u{a0}", "\u{3000}",
            "é", "\u{7f}",
        ];
        for start in edges {
            for end in edges {
                let text = format!("{start}sip:a@b{end}");
                assert_eq!(trim_whitespace(&text), text.trim(), "{text:?}");
            }
            assert_eq!(trim_whitespace(start), start.trim(), "{start:?}");
        }
    }

    #[test]
    fn lists_respect_quotes_and_brackets() {
        let items: Vec<_> = split_list(r#""a, b" <sip:x@y;p=1,2>;q=1, <sip:z@w>"#).collect();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1], " <sip:z@w>");
        let items: Vec<_> = split_list(";;,;,,").collect();
        assert_eq!(items, [";;", ";", "", ""]);
    }

    #[test]
    fn controls_are_allowed_only_as_quoted_pairs() {
        let at = |line: &str| misplaced_control(line, Quoting::Strings);
        assert_eq!(at("From: \"a\\\u{0}b\" <sip:a@b>;tag=1"), None);
        assert_eq!(at("From: \"a\\\u{1}\tb\" <sip:a@b>"), None);
        assert_eq!(at("Call-ID: ab\rc"), Some(11));
        assert_eq!(at("From: \"a\u{0}\" <sip:a@b>"), Some(8));
        assert_eq!(at("From: \"a\\\r\" <sip:a@b>"), Some(9));
        // No quoting inside a URI, nor outside quotes.
        assert_eq!(at("From: <sip:\"\\\u{0}\"@b>"), Some(13));
        assert_eq!(at("Require: foo\\\u{0}"), Some(13));
        assert_eq!(at("Via: SIP/2.0/UDP h;x=\"\\\u{7f}\""), None);
        assert_eq!(
            misplaced_control("OPTIONS sip:\"\\\u{0}\" SIP/2.0", Quoting::None),
            Some(14)
        );
        let comments = Quoting::StringsAndComments;
        assert_eq!(misplaced_control("Server: x (a\\\u{0})", comments), None);
        assert_eq!(misplaced_control("Server: x (a\u{0})", comments), Some(12));
    }

    #[test]
    fn quoted_strings_with_escapes() {
        assert_eq!(quoted_len(br#""J Rosenberg \\\"" <sip"#), Some(18));
        assert_eq!(quoted_len(br#""Mr. J. User <sip:j@x>"#), None);
    }
}
