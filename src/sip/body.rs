//! Message bodies as a session-description answerer reads them: the media
//! type (RFC 3261 §20.15), the content coding (§20.12), and the
//! `application/sdp` part of a multipart body (RFC 5621, RFC 2046 §5.1).

use super::header::{is_token, is_token_byte};
use super::syntax::{take_while, trim_lws};
use super::via::parse_param;
use super::{HeaderName, Request};

/// The media type an SDP offer is sent as.
pub const SDP: &str = "application/sdp";
/// What a request whose body cannot be used is told to send instead
/// (RFC 3261 §21.4.13: 415 carries Accept).
pub const ACCEPTED_TYPES: &str = "application/sdp, multipart/mixed, multipart/alternative";
/// Multipart bodies nested deeper are not looked into.
const MAX_DEPTH: usize = 2;

/// Why a request's body holds no session description the UAS can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Content-Type names a type that is neither SDP nor multipart (or is
    /// missing, or malformed): 415 with Accept.
    #[error("body type {0} is not {SDP} or multipart")]
    UnsupportedType(String),
    /// A Content-Encoding other than identity: 415 with Accept-Encoding.
    #[error("content coding {0} is not supported")]
    UnsupportedEncoding(String),
    /// A multipart body without a usable boundary or with broken parts.
    #[error("malformed multipart body")]
    MalformedMultipart,
}

/// `type "/" subtype *(SEMI m-parameter)`, names compared case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaType<'a> {
    pub kind: &'a str,
    pub subtype: &'a str,
    /// The parameters as written (`;name=value…`).
    params: &'a str,
}

impl<'a> MediaType<'a> {
    pub fn parse(value: &'a str) -> Option<Self> {
        let value = trim_lws(value);
        let (kind, rest) = take_while(value, is_token_byte);
        let rest = trim_lws(rest).strip_prefix('/')?;
        let (subtype, params) = take_while(trim_lws(rest), is_token_byte);
        (is_token(kind) && is_token(subtype)).then_some(Self {
            kind,
            subtype,
            params,
        })
    }

    /// Whether this is `kind/subtype`.
    pub fn is(&self, kind: &str, subtype: &str) -> bool {
        self.kind.eq_ignore_ascii_case(kind) && self.subtype.eq_ignore_ascii_case(subtype)
    }

    /// The value of parameter `name`, without quotes.
    pub fn param(&self, name: &str) -> Option<&'a str> {
        let mut rest = self.params;
        loop {
            let after_semi = trim_lws(rest).strip_prefix(';')?;
            let (_, found, value, after) = parse_param(after_semi)?;
            if found.eq_ignore_ascii_case(name) {
                return value.map(|v| v.trim_matches('"'));
            }
            rest = after;
        }
    }
}

impl Request {
    /// The session description the body carries: the body itself when it
    /// is `application/sdp`, the first `application/sdp` part of a
    /// multipart body (RFC 5621 §3), `None` when there is no body or no
    /// such part; an error for a body that cannot be used at all.
    pub fn session_description(&self) -> Result<Option<&[u8]>, BodyError> {
        let body = self.body();
        if body.trim_ascii().is_empty() {
            return Ok(None);
        }
        // RFC 3261 §20.12: only the identity coding is understood.
        for coding in self.header_values(HeaderName::ContentEncoding) {
            for coding in coding.split(',').map(trim_lws).filter(|c| !c.is_empty()) {
                if !coding.eq_ignore_ascii_case("identity") {
                    return Err(BodyError::UnsupportedEncoding(printable(coding)));
                }
            }
        }
        let content_type = self.header(HeaderName::ContentType).unwrap_or("");
        let media_type = MediaType::parse(content_type)
            .ok_or_else(|| BodyError::UnsupportedType(printable(content_type)))?;
        find_sdp(media_type, body, 0)
            .ok_or_else(|| BodyError::UnsupportedType(printable(content_type)))?
    }
}

/// The SDP in a body of `media_type`; `None` when the type is unusable.
fn find_sdp<'b>(
    media_type: MediaType<'_>,
    body: &'b [u8],
    depth: usize,
) -> Option<Result<Option<&'b [u8]>, BodyError>> {
    if media_type.is("application", "sdp") {
        return Some(Ok(Some(body)));
    }
    if !media_type.kind.eq_ignore_ascii_case("multipart") || depth >= MAX_DEPTH {
        return None;
    }
    let Some(boundary) = media_type.param("boundary").filter(|b| valid_boundary(b)) else {
        return Some(Err(BodyError::MalformedMultipart));
    };
    let Some(parts) = parts(body, boundary.as_bytes()) else {
        return Some(Err(BodyError::MalformedMultipart));
    };
    for part in parts {
        let Some((headers, content)) = split_part(part) else {
            return Some(Err(BodyError::MalformedMultipart));
        };
        // RFC 2046 §5.1: a part without Content-Type is text/plain.
        let found = part_content_type(headers)
            .and_then(MediaType::parse)
            .and_then(|inner| find_sdp(inner, content, depth + 1));
        if let Some(Ok(Some(sdp))) = found {
            return Some(Ok(Some(sdp)));
        }
    }
    Some(Ok(None))
}

/// RFC 2046 §5.1.1: 1 to 70 characters, not ending in a space.
fn valid_boundary(boundary: &str) -> bool {
    (1..=70).contains(&boundary.len()) && !boundary.ends_with(' ')
}

/// The parts between `--boundary` delimiter lines, up to the closing
/// `--boundary--`; `None` when the body has no closing delimiter.
fn parts<'b>(body: &'b [u8], boundary: &[u8]) -> Option<Vec<&'b [u8]>> {
    let mut delimiter = b"--".to_vec();
    delimiter.extend_from_slice(boundary);
    let finder = memchr::memmem::Finder::new(&delimiter);
    let mut parts = Vec::new();
    let mut start: Option<usize> = None;
    let mut from = 0;
    while let Some(found) = finder.find(&body[from..]).map(|at| at + from) {
        let at_line_start = found == 0 || body[found - 1] == b'\n';
        let after = found + delimiter.len();
        from = after;
        if !at_line_start {
            continue;
        }
        if let Some(begin) = start {
            // The line end before the delimiter belongs to it.
            let end = trim_line_end(&body[..found]).len();
            parts.push(&body[begin.min(end)..end]);
        }
        if body[after..].starts_with(b"--") {
            return Some(parts);
        }
        let line_end = memchr::memchr(b'\n', &body[after..])? + after + 1;
        start = Some(line_end);
        from = line_end;
    }
    None
}

fn trim_line_end(text: &[u8]) -> &[u8] {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    text.strip_suffix(b"\r").unwrap_or(text)
}

/// A part's header lines and its content (after the empty line).
fn split_part(part: &[u8]) -> Option<(&str, &[u8])> {
    if part.starts_with(b"\r\n") || part.starts_with(b"\n") {
        let skip = if part.starts_with(b"\r\n") { 2 } else { 1 };
        return Some(("", &part[skip..]));
    }
    let end = super::parse::find_head_end(part)?;
    let headers = std::str::from_utf8(&part[..end.head_len]).ok()?;
    Some((headers, &part[end.body_start..]))
}

fn part_content_type(headers: &str) -> Option<&str> {
    headers.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        let kind = HeaderName::classify(trim_lws(name));
        (kind == HeaderName::ContentType).then(|| trim_lws(value))
    })
}

/// Peer text for a reason phrase: printable ASCII only, cut short.
fn printable(text: &str) -> String {
    let shown: String = text
        .chars()
        .take(40)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if shown.is_empty() {
        "(none)".to_owned()
    } else {
        shown
    }
}

#[cfg(test)]
mod tests;
