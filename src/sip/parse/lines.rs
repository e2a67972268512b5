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
    // is searched once. The state lives in locals until the end.
    let first_end = search(bytes, 0, b'\n')?;
    let start_line = without_cr(bytes, 0, first_end);
    let mut headers = Vec::with_capacity(16);
    let mut crlf_lines = usize::from(start_line < first_end);
    let mut defect = None;
    let mut folded = false;
    let mut reading = true;
    let mut ended_by_crlf = start_line < first_end;
    let mut start = first_end + 1;
    let end = loop {
        // The line's first byte tells the end of the head (an empty line:
        // LF, or CR LF after a CR LF; a CR LF after a bare LF is a line
        // holding a CR) and a fold from any other line.
        match bytes.get(start..) {
            Some([b'\n', ..]) => break start + 1,
            Some([b'\r', b'\n', ..]) if ended_by_crlf => break start + 2,
            Some([]) if until == Until::End => break start,
            Some([b' ' | b'\t', ..]) if until == Until::EmptyLine => folded = true,
            _ => {}
        }
        let line_end = search(bytes, start, b'\n')?;
        let end = without_cr(bytes, start, line_end);
        ended_by_crlf = line_end >= 1 && bytes[line_end - 1] == b'\r';
        // An empty line here holds only a CR after a bare LF: skipped.
        if reading && !folded && end > start {
            if headers.len() == limits.max_headers {
                defect.get_or_insert(ParseError::TooManyHeaders(limits.max_headers));
                reading = false;
            } else {
                crlf_lines += usize::from(end < line_end);
                match split_header_line(&bytes[start..end]) {
                    Some((name, name_len, value)) => headers.push(HeaderField {
                        name,
                        raw_name: Span::new(start, start + name_len),
                        value: Span::new(start + value.start, start + value.end),
                    }),
                    None => {
                        defect.get_or_insert(ParseError::BadHeaderLine);
                    }
                }
            }
        }
        start = line_end + 1;
    };
    Some(Lines {
        end: HeadEnd {
            head_len: start,
            body_start: end,
        },
        start_line,
        headers,
        crlf_lines,
        defect,
        folded,
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
