//! Credentials never reach the journal or the logs: an Authorization or
//! Proxy-Authorization value keeps its scheme, username and realm (who
//! tried) and loses the rest (the response digest can be attacked offline
//! for the password, the nonce and cnonce help that).

use std::borrow::Cow;

use super::params::Credentials;

/// What replaces the secret part of a credentials value.
pub const MASK: &str = "(credentials masked)";

/// Whether a header name (as written) carries credentials.
pub fn carries_credentials(name: &str) -> bool {
    name.eq_ignore_ascii_case("Authorization") || name.eq_ignore_ascii_case("Proxy-Authorization")
}

/// `Digest username="alice", realm="lab", (credentials masked)` for a
/// Digest value; the scheme and the mask for any other.
pub fn mask_credentials(value: &str) -> String {
    let scheme = value.split_whitespace().next().unwrap_or("");
    let mut out = String::with_capacity(64);
    out.push_str(scheme);
    out.push(' ');
    if let Ok(creds) = Credentials::parse(value) {
        for (name, field) in [("username", &creds.username), ("realm", &creds.realm)] {
            if let Some(field) = field {
                out.push_str(name);
                out.push_str("=\"");
                out.extend(field.chars().filter(|c| !c.is_control()).take(128));
                out.push_str("\", ");
            }
        }
    }
    out.push_str(MASK);
    out
}

/// A raw message with every credentials header's value masked (for log
/// excerpts of messages that did not parse). Unchanged when it has none.
pub fn masked_message(bytes: &[u8]) -> Cow<'_, [u8]> {
    let has = |line: &[u8]| {
        let name_end = line.iter().position(|&b| b == b':').unwrap_or(0);
        let name = String::from_utf8_lossy(&line[..name_end]);
        carries_credentials(name.trim())
    };
    if !bytes.split(|&b| b == b'\n').any(has) {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        if has(line) {
            let colon = line.iter().position(|&b| b == b':').unwrap_or(0);
            out.extend_from_slice(&line[..=colon]);
            out.extend_from_slice(b" ");
            out.extend_from_slice(MASK.as_bytes());
            if line.ends_with(b"\r") {
                out.push(b'\r');
            }
        } else {
            out.extend_from_slice(line);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_value_keeps_who_and_loses_the_secret() {
        let masked = mask_credentials(
            r#"Digest username="alice", realm="lab", nonce="abc", response="0123", cnonce="x""#,
        );
        assert_eq!(
            masked,
            r#"Digest username="alice", realm="lab", (credentials masked)"#
        );
        assert_eq!(
            mask_credentials("Basic YWxpY2U6c2VjcmV0"),
            "Basic (credentials masked)"
        );
    }

    #[test]
    fn raw_messages_are_masked_line_by_line() {
        let raw = b"INVITE sip:a@b SIP/2.0\r\nAuthorization: Digest response=\"feed\"\r\nproxy-authorization : x\r\nX: y\r\n";
        let masked = masked_message(raw);
        let text = String::from_utf8_lossy(&masked);
        assert!(!text.contains("feed"), "{text}");
        assert!(text.contains("Authorization: (credentials masked)\r\nproxy-authorization : (credentials masked)\r\nX: y\r\n"), "{text}");
        let plain = b"OPTIONS sip:a@b SIP/2.0\r\n";
        assert!(matches!(masked_message(plain), Cow::Borrowed(_)));
    }
}
