//! Tokenising a framed message: start line, unfolded header lines, body span.
//! Only framing-level defects are found here; header semantics are checked
//! in `validate`.
//!
//! A head that is not folded and whose bytes are their own text (ASCII, or
//! UTF-8 without escape characters: every real message) is tokenised in
//! one pass over the received bytes (`lines`), then copied once. Any other
//! head is unfolded and escaped first, and the same pass reads the result.

mod controls;
mod lines;
mod start_line;

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;

use self::controls::{Controls, misplaced_control, scan_controls};
use self::lines::{Lines, Until};
use self::start_line::parse_start_line;
use super::HeaderName;
use super::error::ParseError;
use super::message::{Message, Span};
use super::{scan, syntax, wire};

/// Size limits applied to every message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest message accepted, head and body, in bytes.
    pub max_message_size: usize,
    /// Most header field lines accepted in one message.
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_size: 64 * 1024,
            max_headers: 128,
        }
    }
}

/// Where the head ends: `head_len` covers the start line and header lines with
/// their line ends; the body starts after the empty line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeadEnd {
    pub(crate) head_len: usize,
    pub(crate) body_start: usize,
}

impl HeadEnd {
    /// The same end, found in a slice that starts `offset` bytes in.
    pub(crate) fn shifted(self, offset: usize) -> Self {
        Self {
            head_len: self.head_len + offset,
            body_start: self.body_start + offset,
        }
    }
}

/// Finds the empty line that ends the head (CRLF CRLF, or bare LF LF),
/// whichever ends first. One pass over the line ends: most lines are long
/// enough that hopping from LF to LF beats matching a four-byte pattern.
pub(crate) fn find_head_end(data: &[u8]) -> Option<HeadEnd> {
    for at in memchr::memchr_iter(b'\n', data) {
        match data.get(at + 1) {
            Some(b'\n') => {
                return Some(HeadEnd {
                    head_len: at + 1,
                    body_start: at + 2,
                });
            }
            Some(b'\r') if data.get(at + 2) == Some(&b'\n') && at >= 1 && data[at - 1] == b'\r' => {
                return Some(HeadEnd {
                    head_len: at + 1,
                    body_start: at + 3,
                });
            }
            _ => {}
        }
    }
    None
}

/// Number of leading CR/LF bytes (RFC 3261 §7.5: ignored before a start line).
pub(crate) fn leading_line_ends(data: &[u8]) -> usize {
    data.iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .count()
}

/// Parses one UDP datagram. Content-Length may be absent (the body is the rest
/// of the datagram), must not exceed the datagram, and bytes past the body are
/// ignored (RFC 3261 §18.3, RFC 4475 dblreq).
pub fn parse_datagram(data: &[u8], limits: &Limits) -> Result<Message, ParseError> {
    if data.len() > limits.max_message_size {
        return Err(ParseError::TooLarge {
            size: data.len(),
            limit: limits.max_message_size,
        });
    }
    let data = &data[leading_line_ends(data)..];
    if data.is_empty() {
        return Err(ParseError::Empty);
    }
    let lines = lines::scan(data, Until::EmptyLine, limits).ok_or(ParseError::UnterminatedHead)?;
    let end = lines.end;
    let mut message = if lines.folded {
        tokenize_unfolding(BytesMut::from(data), end, limits)?
    } else {
        tokenize_scanned(Bytes::copy_from_slice(data), lines, limits)?
    };
    let available = data.len() - end.body_start;
    match content_length(&message) {
        Ok(Some(length)) if length > available => {
            message
                .defect
                .get_or_insert(ParseError::ContentLengthTooLarge);
            message.body = Span::new(end.body_start, data.len());
        }
        Ok(Some(length)) => message.body = Span::new(end.body_start, end.body_start + length),
        Ok(None) => message.body = Span::new(end.body_start, data.len()),
        Err(error) => {
            message.defect.get_or_insert(error);
            message.body = Span::new(end.body_start, data.len());
        }
    }
    Ok(message)
}

/// Parses a message the stream framer has already cut to its exact length.
pub(crate) fn parse_framed(
    data: BytesMut,
    end: HeadEnd,
    limits: &Limits,
) -> Result<Message, ParseError> {
    let total = data.len();
    let mut message = match lines::scan(&data, Until::EmptyLine, limits) {
        Some(lines) if !lines.folded && lines.end == end => {
            tokenize_scanned(data.freeze(), lines, limits)?
        }
        _ => tokenize_unfolding(data, end, limits)?,
    };
    message.body = Span::new(end.body_start, total);
    Ok(message)
}

/// The Content-Length of a tokenised message: `None` when absent, an error
/// when repeated or not a number.
pub(crate) fn content_length(message: &Message) -> Result<Option<usize>, ParseError> {
    let mut values = message.header_values(HeaderName::ContentLength);
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ParseError::Duplicate("Content-Length"));
    }
    parse_content_length(first).map(Some)
}

/// `1*DIGIT`, with checked arithmetic so no value can overflow; whitespace
/// around it (as `str::trim` has it) is ignored.
pub(crate) fn parse_content_length(value: &str) -> Result<usize, ParseError> {
    let value = syntax::trim_whitespace(value);
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::BadContentLength);
    }
    scan::decimal(value.as_bytes(), usize::MAX as u64)
        .map(|length| length as usize)
        .ok_or(ParseError::BadContentLength)
}

/// A message whose lines were read from `buf` itself (not folded): when
/// the head is its own text, the lines' spans hold in it as they are.
fn tokenize_scanned(buf: Bytes, lines: Lines, limits: &Limits) -> Result<Message, ParseError> {
    let head_len = lines.end.head_len;
    let controls = scan_controls(&buf[..head_len]);
    match ByteString::try_from(buf.slice(..head_len)) {
        Ok(head) if !controls.non_ascii || !wire::holds_escapes(&head) => {
            assemble(buf, head, lines, controls)
        }
        _ => tokenize_text(buf, lines.end, limits),
    }
}

/// A message whose head may be folded: unfolded in place, then read.
fn tokenize_unfolding(
    mut buf: BytesMut,
    end: HeadEnd,
    limits: &Limits,
) -> Result<Message, ParseError> {
    unfold(&mut buf[..end.head_len]);
    tokenize_text(buf.freeze(), end, limits)
}

/// A message whose head (already unfolded) is read from its text: the
/// received bytes when they are valid UTF-8 without escape characters (no
/// copy), else a copy with the other bytes escaped (`wire`), so what was
/// received can be written back byte for byte.
fn tokenize_text(buf: Bytes, end: HeadEnd, limits: &Limits) -> Result<Message, ParseError> {
    let head = match ByteString::try_from(buf.slice(..end.head_len)) {
        Ok(text) if !wire::holds_escapes(&text) => text,
        _ => ByteString::from(wire::escape(&buf[..end.head_len])),
    };
    // A head text always ends with the LF of its last line.
    let lines = lines::scan(head.as_bytes(), Until::End, limits).ok_or(ParseError::NotSip)?;
    let controls = scan_controls(head.as_bytes());
    assemble(buf, head, lines, controls)
}

/// The message from its head text and the lines read in it: the start
/// line parsed, and the defects ranked (a misplaced control first, then the
/// start line's, then the header lines').
fn assemble(
    buf: Bytes,
    head: ByteString,
    lines: Lines,
    controls: Controls,
) -> Result<Message, ParseError> {
    let mut defect = None;
    let first = head.get(..lines.start_line).unwrap_or("");
    let start = parse_start_line(&head, first, &mut defect)?;
    let mut defect = defect.or(lines.defect);
    // RFC 3261 §25.1: a head with a control character where none may be
    // is refused before any other defect, so its 400 names it.
    if controls.may_be_misplaced(lines.crlf_lines)
        && let Some(misplaced) = misplaced_control(&head)
    {
        defect = Some(misplaced);
    }
    Ok(Message {
        buf,
        head,
        start,
        headers: lines.headers,
        body: Span::default(),
        defect,
    })
}

/// RFC 3261 §7.3.1: a line starting with whitespace continues the previous
/// one. Replacing the line end by spaces keeps every offset valid.
fn unfold(head: &mut [u8]) {
    let mut from = 0;
    while let Some(found) = memchr::memchr(b'\n', &head[from..]) {
        let next = from + found + 1;
        if matches!(head.get(next), Some(b' ' | b'\t')) {
            head[next - 1] = b' ';
            if next >= 2 && head[next - 2] == b'\r' {
                head[next - 2] = b' ';
            }
        }
        from = next;
    }
}

#[cfg(test)]
mod tests;
