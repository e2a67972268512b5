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

    /// Header fields, each name and value cut, at most [`MAX_FIELDS`].
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
            out.push((self.text(name, VALUE_LIMIT), self.text(value, VALUE_LIMIT)));
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
}
