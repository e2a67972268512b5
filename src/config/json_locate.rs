//! Where each value (and each object key) of a JSON text is, by JSON
//! Pointer (RFC 6901), so an error about a rule given as JSON points at its
//! line and column in that JSON. The text was parsed by serde_json first:
//! this scanner only walks valid JSON, and gives up quietly on anything
//! else.

use std::collections::HashMap;
use std::ops::Range;

/// The byte ranges of one value and of its key, if it is an object member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Spot {
    pub(super) key: Option<Range<usize>>,
    pub(super) value: Range<usize>,
}

/// Every value of `text` by pointer (`""` is the whole document).
pub(super) fn locate(text: &str) -> HashMap<String, Spot> {
    let mut scanner = Scanner {
        text: text.as_bytes(),
        at: 0,
        spots: HashMap::new(),
        depth: 0,
    };
    scanner.value(String::new(), None);
    scanner.spots
}

/// How deep the scanner follows nesting (serde_json refuses deeper).
const MAX_DEPTH: usize = 128;

struct Scanner<'a> {
    text: &'a [u8],
    at: usize,
    spots: HashMap<String, Spot>,
    depth: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    fn value(&mut self, pointer: String, key: Option<Range<usize>>) {
        self.skip_space();
        let start = self.at;
        self.depth += 1;
        match self.peek() {
            _ if self.depth > MAX_DEPTH => {}
            Some(b'{') => self.object(&pointer),
            Some(b'[') => self.array(&pointer),
            Some(b'"') => {
                self.string();
            }
            Some(_) => {
                while self
                    .peek()
                    .is_some_and(|b| !matches!(b, b',' | b']' | b'}') && !b.is_ascii_whitespace())
                {
                    self.at += 1;
                }
            }
            None => {}
        }
        self.depth -= 1;
        self.spots.insert(
            pointer,
            Spot {
                key,
                value: start..self.at,
            },
        );
    }

    /// A string from its opening quote; returns its range.
    fn string(&mut self) -> Range<usize> {
        let start = self.at;
        self.at += 1;
        while let Some(b) = self.peek() {
            self.at += 1;
            match b {
                b'\\' => self.at += 1,
                b'"' => break,
                _ => {}
            }
        }
        start..self.at.min(self.text.len())
    }

    fn object(&mut self, pointer: &str) {
        self.at += 1;
        loop {
            self.skip_space();
            match self.peek() {
                Some(b'"') => {}
                Some(b'}') | None => {
                    self.at += 1;
                    return;
                }
                Some(_) => {
                    self.at += 1;
                    continue;
                }
            }
            let key = self.string();
            let name: String = self
                .text
                .get(key.clone())
                .and_then(|raw| serde_json::from_slice(raw).ok())
                .unwrap_or_default();
            self.skip_space();
            if self.peek() == Some(b':') {
                self.at += 1;
            }
            self.value(format!("{pointer}/{}", escape(&name)), Some(key));
            self.skip_space();
            if self.peek() == Some(b',') {
                self.at += 1;
            }
        }
    }

    fn array(&mut self, pointer: &str) {
        self.at += 1;
        let mut index = 0;
        loop {
            self.skip_space();
            match self.peek() {
                Some(b']') | None => {
                    self.at += 1;
                    return;
                }
                Some(b',') => self.at += 1,
                Some(_) => {
                    self.value(format!("{pointer}/{index}"), None);
                    index += 1;
                }
            }
        }
    }
}

/// A key as a pointer segment (RFC 6901 §3: `~` is `~0`, `/` is `~1`).
pub(super) fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_keys_are_found_by_pointer() {
        let text = "[\n  {\"name\": \"a\", \"match\": {\"method\": [\"INVITE\", \"BYE\"]},\n   \"a/b~\": 1, \"esc\\\"\": true}\n]";
        let spots = locate(text);
        let at = |pointer: &str| {
            let spot = &spots[pointer];
            &text[spot.value.clone()]
        };
        assert_eq!(at("/0/name"), "\"a\"");
        assert_eq!(at("/0/match/method/1"), "\"BYE\"");
        assert_eq!(at("/0/a~1b~0"), "1");
        assert_eq!(at("/0/esc\""), "true");
        let key = spots["/0/match"].key.clone().expect("a member");
        assert_eq!(&text[key], "\"match\"");
        assert!(at("").starts_with('[') && at("").ends_with(']'));
    }
}
