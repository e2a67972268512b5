//! A received SIP message: one owned buffer plus spans into it, so a message
//! can outlive the socket read without copying each field.

use bytes::Bytes;
use bytestring::ByteString;

use super::HeaderName;
use super::error::ParseError;

/// A byte range into a message buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Span {
    pub(crate) start: u32,
    pub(crate) end: u32,
}

impl Span {
    #[inline]
    pub(crate) fn new(start: usize, end: usize) -> Self {
        // Messages are capped far below 4 GiB by the size limit.
        Self {
            start: start as u32,
            end: end as u32,
        }
    }

    /// The span of `part`, which must be a subslice of `whole`. A parser
    /// bug that breaks this fails debug builds (and so the fuzz targets);
    /// a release build gets an empty span rather than one out of bounds.
    #[inline]
    pub(crate) fn of(whole: &str, part: &str) -> Self {
        let start = (part.as_ptr() as usize)
            .checked_sub(whole.as_ptr() as usize)
            .filter(|start| start + part.len() <= whole.len());
        debug_assert!(start.is_some(), "{part:?} is not a part of the message");
        match start {
            Some(start) => Self::new(start, start + part.len()),
            None => Self::default(),
        }
    }

    pub(crate) fn is_empty(self) -> bool {
        self.start >= self.end
    }

    #[inline]
    pub(crate) fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// One header field line (after unfolding).
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeaderField {
    pub(crate) name: HeaderName,
    pub(crate) raw_name: Span,
    pub(crate) value: Span,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum StartLine {
    Request { method: Span, uri: Span },
    Response { status: u16, reason: Span },
}

/// A framed and tokenised message: start line, header fields, body. Nothing
/// beyond the framing has been validated yet.
#[derive(Debug, Clone)]
pub struct Message {
    /// The whole message as received (after unfolding).
    pub(crate) buf: Bytes,
    /// The head (start line + header lines), checked as UTF-8 once.
    pub(crate) head: ByteString,
    pub(crate) start: StartLine,
    pub(crate) headers: Vec<HeaderField>,
    pub(crate) body: Span,
    /// An answerable defect found while tokenising (bad request line,
    /// version, header line, Content-Length); validation reports it first.
    pub(crate) defect: Option<ParseError>,
}

impl Message {
    #[inline]
    pub(crate) fn head(&self) -> &str {
        &self.head
    }

    #[inline]
    pub(crate) fn text(&self, span: Span) -> &str {
        self.head().get(span.range()).unwrap_or("")
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The request method, or `None` for a response.
    pub fn method(&self) -> Option<&str> {
        match self.start {
            StartLine::Request { method, .. } => Some(self.text(method)),
            StartLine::Response { .. } => None,
        }
    }

    /// The response status, or `None` for a request.
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { status, .. } => Some(status),
            StartLine::Request { .. } => None,
        }
    }

    /// The response reason phrase ("" for a request).
    pub fn reason(&self) -> &str {
        match self.start {
            StartLine::Response { reason, .. } => self.text(reason),
            StartLine::Request { .. } => "",
        }
    }

    /// The Request-URI as written ("" for a response).
    pub fn request_uri(&self) -> &str {
        match self.start {
            StartLine::Request { uri, .. } => self.text(uri),
            StartLine::Response { .. } => "",
        }
    }

    /// Every header field as (name as written, value), in message order.
    pub fn header_fields(&self) -> impl Iterator<Item = (HeaderName, &str, &str)> {
        self.headers
            .iter()
            .map(|h| (h.name, self.text(h.raw_name), self.text(h.value)))
    }

    /// Values of every field line of a known header, in order.
    #[inline]
    pub fn header_values(&self, name: HeaderName) -> impl Iterator<Item = &str> {
        self.headers
            .iter()
            .filter(move |h| h.name == name)
            .map(|h| self.text(h.value))
    }

    /// The first value of a known header.
    #[inline]
    pub fn header(&self, name: HeaderName) -> Option<&str> {
        self.header_values(name).next()
    }

    pub fn body(&self) -> &[u8] {
        &self.buf[self.body.range()]
    }

    /// The whole message as received (after unfolding of header lines).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.body.end as usize]
    }

    pub fn defect(&self) -> Option<&ParseError> {
        self.defect.as_ref()
    }
}
