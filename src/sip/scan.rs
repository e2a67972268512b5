//! Byte scanning for the parsers of Via, name-addr and URIs: each reads the
//! bytes of the whole head from a position and returns the next position
//! and spans into the head, so a parser makes no string slices (and no
//! character boundary checks) on its way. The grammar (RFC 3261 §25.1) is
//! ASCII: every position they stop at is next to an ASCII byte they
//! matched, or at an end, and the spans are taken as text only at the end.

use super::class::Class;
use super::message::Span;

/// Linear whitespace inside a header line (folds are already unfolded).
#[inline]
pub(crate) fn is_lws(byte: u8) -> bool {
    Class::LWS.has(byte)
}

/// The position of the first byte from `at` on for which `pred` fails (or
/// the end). Every `pred` answers alike for all non-ASCII bytes, so the
/// position is a character boundary. An index loop: fewer instructions a
/// call than an iterator over the rest, on the short runs of a value.
#[inline]
pub(crate) fn skip(bytes: &[u8], mut at: usize, pred: impl Fn(u8) -> bool) -> usize {
    while at < bytes.len() && pred(bytes[at]) {
        at += 1;
    }
    at
}

/// [`skip`] for runs that are usually long (a tag, a branch: 20 to 40
/// bytes): four bytes a step while all four match, tested together
/// without a branch each.
#[inline]
pub(crate) fn skip_run(bytes: &[u8], mut at: usize, pred: impl Fn(u8) -> bool) -> usize {
    while let Some(&[a, b, c, d]) = bytes.get(at..at + 4) {
        if !(pred(a) & pred(b) & pred(c) & pred(d)) {
            break;
        }
        at += 4;
    }
    skip(bytes, at, pred)
}

/// [`skip`] over linear whitespace.
#[inline]
pub(crate) fn skip_lws(bytes: &[u8], at: usize) -> usize {
    skip(bytes, at, is_lws)
}

/// The position of the first `byte` from `at` on.
#[inline]
pub(crate) fn find(bytes: &[u8], at: usize, byte: u8) -> Option<usize> {
    let found = skip(bytes, at, |b| b != byte);
    (found < bytes.len()).then_some(found)
}

/// The position of the first `byte` from `at` on, by a vector search: for
/// runs longer than a few bytes. On x86-64 memchr's SSE2 searcher: SSE2
/// is part of the architecture, so the searcher always exists and is
/// inlined, where `memchr::memchr` picks AVX2 through a function pointer
/// on every call (~20 instructions more, on the 20 to 80 bytes of a line
/// or a value).
#[inline]
pub(crate) fn search(bytes: &[u8], at: usize, byte: u8) -> Option<usize> {
    let rest = bytes.get(at..)?;
    #[cfg(target_arch = "x86_64")]
    if let Some(sse2) = memchr::arch::x86_64::sse2::memchr::One::new(byte) {
        return sse2.find(rest).map(|found| at + found);
    }
    memchr::memchr(byte, rest).map(|found| at + found)
}

/// [`search`] for either of two bytes.
#[inline]
pub(crate) fn search2(bytes: &[u8], at: usize, first: u8, second: u8) -> Option<usize> {
    let rest = bytes.get(at..)?;
    #[cfg(target_arch = "x86_64")]
    if let Some(sse2) = memchr::arch::x86_64::sse2::memchr::Two::new(first, second) {
        return sse2.find(rest).map(|found| at + found);
    }
    memchr::memchr2(first, second, rest).map(|found| at + found)
}

/// `span` of `bytes` without linear whitespace at either end.
#[inline]
pub(crate) fn trim_span(bytes: &[u8], span: Span) -> Span {
    let (mut start, mut end) = (span.start as usize, span.end as usize);
    while start < end && is_lws(bytes[start]) {
        start += 1;
    }
    while end > start && is_lws(bytes[end - 1]) {
        end -= 1;
    }
    Span::new(start, end)
}

/// The value of `1*DIGIT`, when it is at most `max`: a fold with checked
/// arithmetic, for numbers already known to be digits only (`str::parse`
/// also takes a sign, and costs several times as much).
#[inline]
pub(crate) fn decimal(digits: &[u8], max: u64) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |value, &b| {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_finds_and_trims() {
        let bytes = b"  abc ;x";
        assert_eq!(skip_lws(bytes, 0), 2);
        assert_eq!(skip(bytes, 2, |b| b.is_ascii_alphabetic()), 5);
        assert_eq!(skip(bytes, 8, |_| true), 8);
        assert_eq!(find(bytes, 0, b';'), Some(6));
        assert_eq!(find(bytes, 7, b';'), None);
        for at in 0..=bytes.len() + 1 {
            for byte in [b' ', b';', b'x', b'a', b'q'] {
                let expected = bytes
                    .get(at..)
                    .and_then(|rest| rest.iter().position(|&b| b == byte));
                assert_eq!(search(bytes, at, byte), expected.map(|found| at + found));
                let either = bytes
                    .get(at..)
                    .and_then(|rest| rest.iter().position(|&b| b == byte || b == b'c'));
                assert_eq!(
                    search2(bytes, at, byte, b'c'),
                    either.map(|found| at + found)
                );
            }
        }
        assert_eq!(trim_span(bytes, Span::new(0, 6)), Span::new(2, 5));
        assert_eq!(trim_span(bytes, Span::new(0, 2)), Span::new(2, 2));
    }

    /// Four at a time or one at a time, a run ends at the same byte.
    #[test]
    fn runs_end_where_skips_end() {
        let bytes = b"abcdefghij-klm;nopqrstu vw";
        for at in 0..=bytes.len() {
            for len in 0..=bytes.len() {
                let bytes = &bytes[..len];
                let letter = |b: u8| b.is_ascii_alphabetic();
                assert_eq!(
                    skip_run(bytes, at, letter),
                    skip(bytes, at, letter),
                    "{at} {len}"
                );
            }
        }
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
            let expected = text.parse::<u16>().ok().filter(|_| all_digits);
            assert_eq!(
                decimal(text.as_bytes(), u16::MAX.into()),
                expected.map(u64::from),
                "{text:?}"
            );
            let expected = text.parse::<u64>().ok().filter(|_| all_digits);
            assert_eq!(decimal(text.as_bytes(), u64::MAX), expected, "{text:?}");
        }
    }
}
