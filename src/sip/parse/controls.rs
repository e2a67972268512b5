//! Control characters in a head (RFC 3261 §25.1: CR only ends a line, and
//! other controls appear only escaped in a quoted string): one vectorised
//! pass says whether any line may hold one, and only then are the lines
//! read to name the first that does.

use crate::sip::HeaderName;
use crate::sip::error::ParseError;
use crate::sip::header::is_token;
use crate::sip::syntax::{self, Quoting};

/// What one pass over the head's bytes found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Controls {
    /// Control characters other than HTAB and LF: CRs (line ends or not)
    /// and the forbidden ones.
    suspects: usize,
    /// A byte above 0x7F: the head is not plain ASCII.
    pub(super) non_ascii: bool,
}

impl Controls {
    /// Whether a line may hold a misplaced control. Each of the
    /// `crlf_lines` holds one CR that ends it, so there are at least as
    /// many suspects as such lines, and exactly as many only when every
    /// suspect is one of those CRs.
    pub(super) fn may_be_misplaced(self, crlf_lines: usize) -> bool {
        self.suspects != crlf_lines
    }
}

/// One pass over the head. Written for the compiler to vectorise (byte
/// accumulators over short chunks, no branch): ~60 ns for a 660-byte head,
/// where a fold into a tuple took ~570 ns.
pub(super) fn scan_controls(head: &[u8]) -> Controls {
    // A chunk's count fits the u8 accumulator.
    const CHUNK: usize = 128;
    let mut high = 0u8;
    let mut suspects = 0;
    for chunk in head.chunks(CHUNK) {
        let (mut chunk_high, mut chunk_suspects) = (0u8, 0u8);
        for &b in chunk {
            // Controls below 0x20 less the HTABs and LFs among them, plus
            // DEL: each term is one compare, and the sum wraps exactly
            // (a chunk holds fewer than 256 suspects).
            chunk_suspects = chunk_suspects
                .wrapping_add(u8::from(b < 0x20))
                .wrapping_sub(u8::from(b == b'\t'))
                .wrapping_sub(u8::from(b == b'\n'))
                .wrapping_add(u8::from(b == 0x7F));
            chunk_high |= b;
        }
        high |= chunk_high;
        suspects += usize::from(chunk_suspects);
    }
    Controls {
        suspects,
        non_ascii: high >= 0x80,
    }
}

/// The first line holding a control character where §25.1 allows none.
pub(super) fn misplaced_control(head: &str) -> Option<ParseError> {
    let mut lines = lines(head);
    if lines
        .next()
        .is_some_and(|line| syntax::misplaced_control(line, Quoting::None).is_some())
    {
        return Some(ParseError::ControlCharacter("the start line".into()));
    }
    for line in lines {
        let name = line
            .split_once(':')
            .map(|(name, _)| name.trim_end_matches([' ', '\t']))
            .filter(|name| is_token(name));
        // RFC 3261 §20.35, §20.41: product comments may hold quoted-pairs.
        let quoting = match name {
            Some(n) if n.eq_ignore_ascii_case("Server") || n.eq_ignore_ascii_case("User-Agent") => {
                Quoting::StringsAndComments
            }
            _ => Quoting::Strings,
        };
        if syntax::misplaced_control(line, quoting).is_some() {
            let label = match name {
                Some(name) => format!("the {} header", header_label(name)),
                None => "a header line".to_owned(),
            };
            return Some(ParseError::ControlCharacter(label));
        }
    }
    None
}

/// A header name for a reason phrase: the long form of a known header, an
/// extension as written (cut short).
fn header_label(name: &str) -> &str {
    HeaderName::classify(name)
        .long_name()
        .unwrap_or(&name[..name.len().min(32)])
}

/// The lines of a head without their line ends (CR LF or a bare LF), the
/// empty string after the last line end included.
fn lines(head: &str) -> impl Iterator<Item = &str> {
    // One vectorised scan over the whole head, not a search per line.
    let mut ends = memchr::memchr_iter(b'\n', head.as_bytes());
    let mut start = Some(0);
    std::iter::from_fn(move || {
        let from = start?;
        let line = match ends.next() {
            Some(at) => {
                start = Some(at + 1);
                &head[from..at]
            }
            None => {
                start = None;
                &head[from..]
            }
        };
        Some(line.strip_suffix('\r').unwrap_or(line))
    })
}
