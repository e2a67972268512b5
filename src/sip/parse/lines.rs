//! One pass over the lines of a head: each line end found once (memchr),
//! the end of the head noticed on the way, and every header line split
//! into name and value with its name classified. Positions are offsets
//! into the bytes scanned, so they hold in the head text whenever the text
//! is those same bytes.

use std::ops::Range;

use super::{HeadEnd, Limits};
use crate::sip::HeaderName;
use crate::sip::error::ParseError;
use crate::sip::message::{HeaderField, Span};
use crate::sip::scan::{is_lws, search, skip_lws};

/// Where the lines stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Until {
    /// At the empty line that ends the head (CRLF CRLF or LF LF): the bytes
    /// are a whole message.
    EmptyLine,
    /// At the end of the bytes: they are a head, its last line end included.
    End,
}

/// What the pass found.
#[derive(Debug)]
pub(super) struct Lines {
    pub(super) end: HeadEnd,
    /// The length of the start line (it starts at 0) without its line end.
    pub(super) start_line: usize,
    pub(super) headers: Vec<HeaderField>,
    /// Lines ended by CR LF, counted as a CR-ended line must be for the
    /// control check (the start line, and the header lines read before
    /// the header limit, empty ones not).
    pub(super) crlf_lines: usize,
    /// The first bad header line or the header limit reached.
    pub(super) defect: Option<ParseError>,
    /// A line starts with whitespace (RFC 3261 §7.3.1 folding): the head
    /// must be unfolded and read again; only `end` is meaningful. Only
    /// looked for until an empty line (in a message as received).
    pub(super) folded: bool,
}

/// Reads the lines of `bytes`; `None` when no empty line ends the head.
pub(super) fn scan(bytes: &[u8], until: Until, limits: &Limits) -> Option<Lines> {
    // One search per line, from where the last line ended, so each byte
    // is searched once.
    let first_end = search(bytes, 0, b'\n')?;
    let start_line = without_cr(bytes, 0, first_end);
    let mut lines = Lines {
        end: HeadEnd {
            head_len: 0,
            body_start: 0,
        },
        start_line,
        headers: Vec::with_capacity(16),
        crlf_lines: usize::from(start_line < first_end),
        defect: None,
        folded: false,
    };
    let mut reading = true;
    let mut line_end = first_end;
    loop {
        let start = line_end + 1;
        if let Some(end) = head_end(bytes, line_end, until) {
            lines.end = end;
            return Some(lines);
        }
        // An unfolded head may still have a line that starts with
        // whitespace (a fold after a line holding only a CR): a bad line.
        if until == Until::EmptyLine && matches!(bytes.get(start), Some(b' ' | b'\t')) {
            lines.folded = true;
        }
        let next_end = search(bytes, start, b'\n')?;
        if reading && !lines.folded {
            reading = lines.read_header_line(bytes, start..next_end, limits);
        }
        line_end = next_end;
    }
}

/// The end of the head right after the line end at `line_end`, if there:
/// an empty line (LF LF, or CR LF CR LF; LF CR LF is a bare LF line end
/// followed by a line holding a CR), or the end of a whole head.
fn head_end(bytes: &[u8], line_end: usize, until: Until) -> Option<HeadEnd> {
    let start = line_end + 1;
    let ended_by_crlf = line_end >= 1 && bytes[line_end - 1] == b'\r';
    let empty_line_len = match bytes.get(start..) {
        Some([b'\n', ..]) => 1,
        Some([b'\r', b'\n', ..]) if ended_by_crlf => 2,
        Some([]) if until == Until::End => 0,
        _ => return None,
    };
    Some(HeadEnd {
        head_len: start,
        body_start: start + empty_line_len,
    })
}

/// The end of the line `start..lf` without the CR of a CR LF.
fn without_cr(bytes: &[u8], start: usize, lf: usize) -> usize {
    if lf > start && bytes[lf - 1] == b'\r' {
        lf - 1
    } else {
        lf
    }
}

impl Lines {
    /// Reads the header line `line` (its LF excluded); false once the
    /// header limit is reached, after which no line is read.
    fn read_header_line(&mut self, bytes: &[u8], line: Range<usize>, limits: &Limits) -> bool {
        let end = without_cr(bytes, line.start, line.end);
        if end == line.start {
            return true;
        }
        if self.headers.len() == limits.max_headers {
            self.defect
                .get_or_insert(ParseError::TooManyHeaders(limits.max_headers));
            return false;
        }
        self.crlf_lines += usize::from(end < line.end);
        let start = line.start;
        match split_header_line(&bytes[start..end]) {
            Some((name, name_len, value)) => self.headers.push(HeaderField {
                name,
                raw_name: Span::new(start, start + name_len),
                value: Span::new(start + value.start, start + value.end),
            }),
            None => {
                self.defect.get_or_insert(ParseError::BadHeaderLine);
            }
        }
        true
    }
}

/// `name *WS ":" value`: the name, its length and the value's range
/// without surrounding whitespace.
pub(super) fn split_header_line(line: &[u8]) -> Option<(HeaderName, usize, Range<usize>)> {
    let (name, name_len) = HeaderName::read(line);
    let colon = skip_lws(line, name_len);
    if name_len == 0 || line.get(colon) != Some(&b':') {
        return None;
    }
    let start = skip_lws(line, colon + 1);
    let mut end = line.len();
    while end > start && is_lws(line[end - 1]) {
        end -= 1;
    }
    Some((name, name_len, start..end))
}
