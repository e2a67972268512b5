//! The byte classes of the SIP grammar (RFC 3261 §25.1, RFC 3986 §3.1) as
//! one table of bit sets: testing a byte is one load and one mask, on the
//! loops every header value goes through.

/// A set of byte classes; a byte is in a set when it is in any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Class(u8);

impl Class {
    /// `token` characters.
    pub(crate) const TOKEN: Self = Self(1);
    /// Characters of a hostname or IPv4 address: alphanumerics, `-`, `.`.
    pub(crate) const HOST: Self = Self(2);
    pub(crate) const DIGIT: Self = Self(4);
    /// Characters of a URI scheme after the first: alphanumerics, `+-.`.
    pub(crate) const SCHEME: Self = Self(8);
    /// Linear whitespace within a line: SP and HTAB.
    pub(crate) const LWS: Self = Self(16);
    /// A colon: with TOKEN, the characters of an unbracketed IPv6
    /// `received` value.
    pub(crate) const COLON: Self = Self(32);

    /// Both sets.
    pub(crate) const fn or(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    #[inline]
    pub(crate) fn has(self, byte: u8) -> bool {
        CLASSES[usize::from(byte)] & self.0 != 0
    }
}

static CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut bits = 0;
        if b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            )
        {
            bits |= Class::TOKEN.0;
        }
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.') {
            bits |= Class::HOST.0;
        }
        if b.is_ascii_digit() {
            bits |= Class::DIGIT.0;
        }
        if b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.') {
            bits |= Class::SCHEME.0;
        }
        if matches!(b, b' ' | b'\t') {
            bits |= Class::LWS.0;
        }
        if b == b':' {
            bits |= Class::COLON.0;
        }
        table[i] = bits;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Each class against its definition, for every byte.
    #[test]
    fn classes_match_their_definitions() {
        for b in 0..=255u8 {
            let token = b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b);
            assert_eq!(Class::TOKEN.has(b), token, "{b}");
            assert_eq!(
                Class::HOST.has(b),
                b.is_ascii_alphanumeric() || b == b'-' || b == b'.'
            );
            assert_eq!(Class::DIGIT.has(b), b.is_ascii_digit());
            assert_eq!(
                Class::SCHEME.has(b),
                b.is_ascii_alphanumeric() || b"+-.".contains(&b)
            );
            assert_eq!(Class::LWS.has(b), b == b' ' || b == b'\t');
            assert_eq!(Class::COLON.has(b), b == b':');
            assert_eq!(Class::TOKEN.or(Class::COLON).has(b), token || b == b':');
        }
    }
}
