//! What can be wrong with an incoming message, and the answer each deserves.

use thiserror::Error;

/// A defect found while framing, parsing or validating a message.
///
/// The `Display` text is sent back as the reason phrase of the 400 (or 505),
/// so it names what was wrong in words a SIP engineer recognises.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    // --- unanswerable: the message cannot be identified as a SIP request ---
    #[error("message is empty")]
    Empty,
    #[error("start line is neither a request line nor a status line")]
    NotSip,
    #[error("message head has no terminating empty line")]
    UnterminatedHead,
    #[error("message of {size} bytes exceeds the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("malformed status line")]
    BadStatusLine,

    // --- answerable with 505 ---
    #[error("SIP version {0} is not supported")]
    UnsupportedVersion(String),

    // --- answerable with 400 ---
    #[error("malformed request line: {0}")]
    BadRequestLine(&'static str),
    #[error("message head is not valid UTF-8")]
    NotUtf8,
    /// A CR that does not end a line, or another control character outside
    /// a quoted-pair (RFC 3261 §25.1); names the line or header.
    #[error("control character in {0}")]
    ControlCharacter(String),
    #[error("malformed header line")]
    BadHeaderLine,
    #[error("more than {0} header fields")]
    TooManyHeaders(usize),
    #[error("missing {0} header")]
    Missing(&'static str),
    #[error("more than one {0} header")]
    Duplicate(&'static str),
    #[error("malformed {0} header")]
    Malformed(&'static str),
    #[error("invalid Content-Length")]
    BadContentLength,
    #[error("Content-Length exceeds the received data")]
    ContentLengthTooLarge,
    #[error("Max-Forwards is not a number from 0 to 255")]
    BadMaxForwards,
    #[error("CSeq method does not match the request method")]
    CSeqMethodMismatch,
    #[error("CSeq number is not below 2**31")]
    BadCSeqNumber,
    #[error("malformed Request-URI")]
    BadRequestUri,
}

impl ParseError {
    /// The status a request with this defect is answered with, when an answer
    /// can be routed at all; `None` for messages that are dropped.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Empty
            | Self::NotSip
            | Self::UnterminatedHead
            | Self::TooLarge { .. }
            | Self::BadStatusLine => None,
            Self::UnsupportedVersion(_) => Some(505),
            _ => Some(400),
        }
    }
}
