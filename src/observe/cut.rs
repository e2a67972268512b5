//! Copies of network text cut at a limit, so every journal record is
//! bounded in bytes whatever a peer sends: the cutter remembers whether it
//! cut and how many bytes it kept.

/// Longest header value (and Request-URI, From, To, Call-ID) kept, bytes.
pub const VALUE_LIMIT: usize = 1024;
/// Longest body kept, bytes.
pub const BODY_LIMIT: usize = 4096;
/// Most header fields kept of one message.
pub const MAX_FIELDS: usize = 128;

/// Cuts values as they are copied and remembers whether it had to.
#[derive(Debug, Default)]
pub(super) struct Cutter {
    pub(super) cut: bool,
    /// Bytes of the copies made.
    pub(super) bytes: usize,
}

impl Cutter {
    /// `value` cut at `limit` bytes (on a character boundary).
    pub(super) fn text(&mut self, value: &str, limit: usize) -> String {
        let kept = if value.len() > limit {
            self.cut = true;
            let mut end = limit;
            while !value.is_char_boundary(end) {
                end -= 1;
            }
            &value[..end]
        } else {
            value
        };
        self.bytes += kept.len();
        kept.to_owned()
    }

    /// A body as text (lossy UTF-8), cut at [`BODY_LIMIT`].
    pub(super) fn body(&mut self, body: &[u8]) -> String {
        let kept = if body.len() > BODY_LIMIT {
            self.cut = true;
            &body[..BODY_LIMIT]
        } else {
            body
        };
        let text = String::from_utf8_lossy(kept).into_owned();
        self.bytes += text.len();
        text
    }

    /// Header fields, each name and value cut, at most [`MAX_FIELDS`];
    /// credentials (`Authorization`, `Proxy-Authorization`) masked, so they
    /// never reach the journal nor its file.
    pub(super) fn fields<'a>(
        &mut self,
        fields: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, value) in fields {
            if out.len() == MAX_FIELDS {
                self.cut = true;
                break;
            }
            let value = if crate::auth::carries_credentials(name) {
                std::borrow::Cow::Owned(crate::auth::mask_credentials(value))
            } else {
                std::borrow::Cow::Borrowed(value)
            };
            out.push((self.text(name, VALUE_LIMIT), self.text(&value, VALUE_LIMIT)));
        }
        self.bytes += out.len() * 2 * std::mem::size_of::<String>();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_on_a_char_boundary_and_counts() {
        let mut cutter = Cutter::default();
        assert_eq!(cutter.text("abc", 10), "abc");
        assert!(!cutter.cut);
        let long = format!("{}é", "v".repeat(VALUE_LIMIT - 1));
        assert_eq!(cutter.text(&long, VALUE_LIMIT).len(), VALUE_LIMIT - 1);
        assert!(cutter.cut);
        assert_eq!(cutter.bytes, 3 + VALUE_LIMIT - 1);
        let mut bodies = Cutter::default();
        assert_eq!(bodies.body(&[b'x'; 3 * BODY_LIMIT]).len(), BODY_LIMIT);
        assert!(bodies.cut);
        let many = (0..MAX_FIELDS + 5).map(|_| ("X-A", "1"));
        let mut fields = Cutter::default();
        assert_eq!(fields.fields(many).len(), MAX_FIELDS);
        assert!(fields.cut);
    }

    #[test]
    fn credentials_are_masked_as_they_are_copied() {
        let mut cutter = Cutter::default();
        let fields = [
            (
                "Authorization",
                r#"Digest username="alice", realm="lab", response="feed""#,
            ),
            ("proxy-authorization", "Basic YWxpY2U6c2VjcmV0"),
            ("X-Other", "feed"),
        ];
        let copied = cutter.fields(fields.into_iter());
        assert_eq!(
            copied[0].1,
            r#"Digest username="alice", realm="lab", (credentials masked)"#
        );
        assert_eq!(copied[1].1, "Basic (credentials masked)");
        assert_eq!(copied[2].1, "feed");
    }
}
