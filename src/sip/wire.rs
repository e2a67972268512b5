//! Bytes that are not UTF-8: escaped losslessly when a head is read, so every
//! layer can treat header text as `str`, and restored when text goes back on
//! the wire (RFC 3261 §8.2.6.2: From, Call-ID, CSeq… are copied as sent).
//!
//! A byte `b` (0x80–0xFF) that is not part of valid UTF-8 becomes the
//! private-use character U+10FF00 + `b`. A head that already holds one of
//! those characters (U+10FF80–U+10FFFF) has its bytes escaped the same way,
//! so restoring is exact whatever the peer sent. Heads that are valid UTF-8
//! and hold none of them (every real message) are never copied.

/// The first two bytes of every escape character's UTF-8 form
/// (`F4 8F BE xx` or `F4 8F BF xx`).
const LEAD: [u8; 2] = [0xF4, 0x8F];

/// Whether `bytes[at..]` starts with the UTF-8 form of an escape character.
fn escape_at(bytes: &[u8], at: usize) -> bool {
    bytes.get(at..at + 4).is_some_and(|seq| {
        seq[..2] == LEAD && matches!(seq[2], 0xBE | 0xBF) && (0x80..0xC0).contains(&seq[3])
    })
}

/// Whether valid UTF-8 `text` holds an escape character (so restoring it
/// would change it).
pub(crate) fn holds_escapes(text: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memchr_iter(LEAD[0], bytes).any(|at| escape_at(bytes, at))
}

fn push_escaped_byte(out: &mut String, byte: u8) {
    // 0x80..=0xFF maps to U+10FF80..=U+10FFFF: always a valid scalar.
    if let Some(c) = char::from_u32(0x10_FF00 + u32::from(byte)) {
        out.push(c);
    }
}

/// `bytes` as text: valid UTF-8 kept, every other byte (and every byte of an
/// escape character already present) escaped.
pub(crate) fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + bytes.len() / 2);
    let mut rest = bytes;
    loop {
        let (valid, invalid) = match std::str::from_utf8(rest) {
            Ok(text) => (text, &[][..]),
            Err(error) => {
                let (valid, after) = rest.split_at(error.valid_up_to());
                let bad = error.error_len().unwrap_or(after.len());
                // `valid` is valid UTF-8 by the error's own account.
                (std::str::from_utf8(valid).unwrap_or(""), &after[..bad])
            }
        };
        push_valid(&mut out, valid);
        for &byte in invalid {
            push_escaped_byte(&mut out, byte);
        }
        let consumed = valid.len() + invalid.len();
        if consumed >= rest.len() {
            return out;
        }
        rest = &rest[consumed..];
    }
}

/// Valid text, with escape characters already in it escaped byte by byte.
fn push_valid(out: &mut String, text: &str) {
    let bytes = text.as_bytes();
    let mut from = 0;
    for at in memchr::memchr_iter(LEAD[0], bytes) {
        if at >= from && escape_at(bytes, at) {
            out.push_str(&text[from..at]);
            for &byte in &bytes[at..at + 4] {
                push_escaped_byte(out, byte);
            }
            from = at + 4;
        }
    }
    out.push_str(&text[from..]);
}

/// Appends `text` as the bytes it stands for: escape characters become the
/// bytes the peer sent.
pub(crate) fn push_wire(out: &mut Vec<u8>, text: &str) {
    push_restored(out, text, |out, chunk| out.extend_from_slice(chunk));
}

/// Like [`push_wire`], for text copied from a message that was refused: a
/// control character (other than HTAB) is written as `%XX`, so an answer
/// never carries one (RFC 3261 §25.1), and `%XX` is legal wherever the
/// copied fields allow a character at all (word, token, URI, quoted-string).
pub(crate) fn push_wire_scrubbed(out: &mut Vec<u8>, text: &str) {
    push_restored(out, text, |out, chunk| {
        for &byte in chunk {
            if is_forbidden_control(byte) {
                out.extend_from_slice(format!("%{byte:02X}").as_bytes());
            } else {
                out.push(byte);
            }
        }
    });
}

/// A control character no header line may carry outside a quoted-pair:
/// CTL (RFC 5234) but HTAB; CR and LF only end lines.
pub(crate) fn is_forbidden_control(byte: u8) -> bool {
    (byte < 0x20 && byte != b'\t') || byte == 0x7F
}

/// Calls `plain` for each run of ordinary text and writes each escape
/// character as its byte.
fn push_restored(out: &mut Vec<u8>, text: &str, mut plain: impl FnMut(&mut Vec<u8>, &[u8])) {
    let bytes = text.as_bytes();
    // Escapes are never ASCII; ASCII is what nearly every field is, and a
    // word-at-a-time check costs less than setting up the search.
    if bytes.is_ascii() {
        return plain(out, bytes);
    }
    let mut from = 0;
    for at in memchr::memchr_iter(LEAD[0], bytes) {
        if at >= from && escape_at(bytes, at) {
            plain(out, &bytes[from..at]);
            out.push(0x80 | ((bytes[at + 2] & 1) << 6) | (bytes[at + 3] & 0x3F));
            from = at + 4;
        }
    }
    plain(out, &bytes[from..]);
}

/// `text` as bytes for the wire, borrowed when it holds no escape.
pub fn wire_bytes(text: &str) -> std::borrow::Cow<'_, [u8]> {
    if holds_escapes(text) {
        let mut out = Vec::with_capacity(text.len());
        push_wire(&mut out, text);
        std::borrow::Cow::Owned(out)
    } else {
        std::borrow::Cow::Borrowed(text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(bytes: &[u8]) -> Vec<u8> {
        let text = escape(bytes);
        let mut out = Vec::new();
        push_wire(&mut out, &text);
        out
    }

    #[test]
    fn every_byte_string_round_trips() {
        let cases: [&[u8]; 7] = [
            b"Call-ID: \xe5\xe4\xf6@host",
            b"\xff\xfe\x80",
            "J\u{fc}rgen \u{10ff80} \u{10ffff}".as_bytes(),
            b"\xf4\x8f\xbe",
            b"\xf4\x8f\xbe\x80\xf4",
            b"plain ascii",
            b"",
        ];
        for bytes in cases {
            assert_eq!(round_trip(bytes), bytes, "{}", bytes.escape_ascii());
        }
        for byte in 0..=255u8 {
            assert_eq!(round_trip(&[b'a', byte, b'z']), [b'a', byte, b'z']);
        }
    }

    #[test]
    fn valid_text_without_escapes_is_kept_as_is() {
        let text = "\"Jürgen\" <sip:j@b>";
        assert_eq!(escape(text.as_bytes()), text);
        assert!(!holds_escapes(text));
        assert!(matches!(wire_bytes(text), std::borrow::Cow::Borrowed(_)));
        assert!(holds_escapes(&escape(b"\xe5")));
    }

    #[test]
    fn scrubbing_percent_encodes_controls_only() {
        let mut out = Vec::new();
        push_wire_scrubbed(&mut out, &escape(b"a\rb\0c\td\x7f\xe5"));
        assert_eq!(out, b"a%0Db%00c\td%7F\xe5");
    }
}
