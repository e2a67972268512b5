//! A cursor that reads header text left to right, byte by byte, for the
//! parsers of Via, name-addr and URIs: one pass over a value instead of a
//! trim, a split and a search per element. The grammar (RFC 3261 §25.1) is
//! ASCII, so every position the cursor stops at sits next to an ASCII byte
//! it matched (or at an end), and slicing there never splits a character.

use super::class::Class;

/// Linear whitespace inside a header line (folds are already unfolded).
#[inline]
pub(crate) fn is_lws(byte: u8) -> bool {
    Class::LWS.has(byte)
}

/// The value of `1*DIGIT`, when it is at most `max`: a fold with checked
/// arithmetic, for numbers already known to be digits only (`str::parse`
/// also takes a sign, and costs several times as much).
#[inline]
pub(crate) fn decimal(digits: &str, max: u64) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.bytes().try_fold(0u64, |value, b| {
        let digit = u64::from(b.wrapping_sub(b'0'));
        if digit > 9 {
            return None;
        }
        value
            .checked_mul(10)?
            .checked_add(digit)
            .filter(|&value| value <= max)
    })
}

/// A read position in `text`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self { text, at: 0 }
    }

    /// The next byte, not consumed.
    #[inline]
    pub(crate) fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    #[inline]
    pub(crate) fn at_end(&self) -> bool {
        self.at >= self.text.len()
    }

    /// The position, to come back to with [`Cursor::reset`] or to slice from.
    #[inline]
    pub(crate) fn position(&self) -> usize {
        self.at
    }

    #[inline]
    pub(crate) fn reset(&mut self, at: usize) {
        self.at = at;
    }

    /// Consumes `byte` if it is next.
    #[inline]
    pub(crate) fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        self.at += usize::from(found);
        found
    }

    #[inline]
    pub(crate) fn skip_lws(&mut self) {
        self.skip_while(is_lws);
    }

    /// Consumes bytes while `pred` holds.
    #[inline]
    pub(crate) fn skip_while(&mut self, pred: impl Fn(u8) -> bool) {
        let rest = self.text.as_bytes().get(self.at..).unwrap_or_default();
        self.at += rest.iter().position(|&b| !pred(b)).unwrap_or(rest.len());
    }

    /// Consumes bytes while `pred` holds and returns them. Every `pred`
    /// answers alike for all non-ASCII bytes (the grammar's classes are
    /// ASCII), so the cursor stops only at a character boundary.
    #[inline]
    pub(crate) fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a str {
        let start = self.at;
        self.skip_while(pred);
        self.since(start)
    }

    /// The text from `start` (an earlier position) to here.
    #[inline]
    pub(crate) fn since(&self, start: usize) -> &'a str {
        self.text.get(start..self.at).unwrap_or("")
    }

    /// What is left to read.
    #[inline]
    pub(crate) fn rest(&self) -> &'a str {
        self.text.get(self.at..).unwrap_or("")
    }

    /// Consumes the next `len` bytes (the caller measured them in
    /// [`Cursor::rest`]) and returns them.
    #[inline]
    pub(crate) fn take_len(&mut self, len: usize) -> &'a str {
        let start = self.at;
        self.at = (self.at + len).min(self.text.len());
        self.since(start)
    }

    /// Moves to the end when only linear whitespace is left.
    #[inline]
    pub(crate) fn skip_trailing_lws(&mut self) {
        let mut ahead = *self;
        ahead.skip_lws();
        if ahead.at_end() {
            *self = ahead;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tokens_whitespace_and_rests() {
        let mut c = Cursor::new("  abc ;x");
        c.skip_lws();
        assert_eq!(c.take_while(|b| b.is_ascii_alphabetic()), "abc");
        let after_token = c.position();
        c.skip_lws();
        assert!(c.eat(b';'));
        assert!(!c.eat(b';'));
        assert_eq!(c.rest(), "x");
        c.reset(after_token);
        assert_eq!(c.rest(), " ;x");
        assert_eq!(c.take_len(99), " ;x");
        assert!(c.at_end());
        assert_eq!(c.peek(), None);
    }

    #[test]
    fn decimals_agree_with_str_parse() {
        for text in [
            "",
            "0",
            "00065535",
            "65535",
            "65536",
            "99999999999999999999999",
            "12a",
            "+1",
            " 1",
        ] {
            let all_digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
            let expected = text
                .parse::<u16>()
                .ok()
                .filter(|_| all_digits)
                .map(u64::from);
            assert_eq!(decimal(text, u16::MAX.into()), expected, "{text:?}");
            let expected = text.parse::<u64>().ok().filter(|_| all_digits);
            assert_eq!(decimal(text, u64::MAX), expected, "{text:?}");
        }
    }

    #[test]
    fn trailing_whitespace_is_skipped_only_when_nothing_follows() {
        let mut c = Cursor::new("a \t");
        c.take_len(1);
        c.skip_trailing_lws();
        assert!(c.at_end());
        let mut c = Cursor::new("a ;");
        c.take_len(1);
        c.skip_trailing_lws();
        assert_eq!(c.rest(), " ;");
    }
}
