//! SDP offer/answer for `body.sdp = "answer"`: parse an offer, answer it per RFC 3264, and make late offers.
//!
//! Everything here is pure: no sockets, no files, no clocks. The caller (the
//! policy runner) owns the per-dialog state — the o= session id, the session
//! version it increments for every later answer in the same dialog (RFC 3264
//! §8), the media port base — and passes it in an [`AnswerContext`].
//!
//! - [`parse`] reads an SDP description (RFC 8866, which obsoletes RFC 4566)
//!   leniently enough for real clients (CRLF or LF line ends, unknown lines
//!   and attributes ignored) but with bounded work and an [`SdpError`] for
//!   malformed input, never a panic.
//! - [`answer`] / [`negotiate`] derive an answer from an offer (RFC 3264 §6):
//!   one m-line per offered m-line, the first common codec in the offer's
//!   order or ours ([`Preference`]) (plus telephone-event), port 0 for streams with nothing in common,
//!   the direction mirrored. WebRTC offers (ICE, DTLS-SRTP, BUNDLE,
//!   rtcp-mux) get a syntactically complete WebRTC answer; SDES-keyed
//!   RTP/SAVP offers get an `a=crypto` key (RFC 4568).
//! - [`offer`] makes the offer of a 2xx to an INVITE without SDP (late
//!   offer, RFC 3261 §13.2.1) and [`accept_answer`] / [`check_answer`] check
//!   the answer that comes back in the ACK.
//!
//! The answerer never sends or receives media: the answer exists so that
//! signalling completes and the peer's offer/answer state machine is happy.

mod answer;
mod codec;
mod offer;
mod parse;
mod srtp;
mod webrtc;

#[cfg(test)]
mod tests;

use std::net::IpAddr;

pub use answer::Answer;
pub use codec::{Codec, CodecParseError, KNOWN_ENCODINGS, default_codecs};
pub use parse::{
    Attribute, Connection, Crypto, Direction, Fingerprint, Fmtp, Group, MAX_FORMATS, MAX_MEDIA,
    MAX_SDP_LEN, MediaDescription, Origin, Rtpmap, SessionDescription, Setup, Transport, parse,
};
pub use webrtc::{DtlsIdentity, sha256_fingerprint};

/// Why an SDP body could not be parsed or answered.
///
/// Line numbers count from 1 over the body as received.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// The body is larger than [`MAX_SDP_LEN`] bytes.
    #[error("SDP body of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Size of the body received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The body holds no line at all.
    #[error("SDP body is empty")]
    Empty,
    /// The first line is not `v=0` (RFC 8866 §5.1).
    #[error("line {line}: an SDP description starts with v=0")]
    Version {
        /// The offending line.
        line: usize,
    },
    /// A line or one of its fields does not follow the RFC 8866 §9 grammar.
    #[error("line {line}: malformed {what}")]
    Malformed {
        /// The offending line.
        line: usize,
        /// What was being parsed.
        what: &'static str,
    },
    /// A mandatory line is absent (`o=`, RFC 8866 §5.2).
    #[error("missing mandatory {0}= line")]
    Missing(char),
    /// More m-lines than [`MAX_MEDIA`].
    #[error("more than {max} media descriptions")]
    TooManyMedia {
        /// The limit.
        max: usize,
    },
    /// More formats on one m-line than [`MAX_FORMATS`].
    #[error("line {line}: more than {max} formats on one m-line")]
    TooManyFormats {
        /// The offending line.
        line: usize,
        /// The limit.
        max: usize,
    },
    /// `base_port + 2 * stream index` does not fit in a port number.
    #[error("media port base {base} leaves no port for stream {index}")]
    PortRange {
        /// The context's base port.
        base: u16,
        /// Index of the m-line that has no port.
        index: usize,
    },
    /// An answer does not mirror its offer's m-lines (RFC 3264 §6).
    #[error("the answer has {answered} m-lines where the offer had {offered}")]
    MediaMismatch {
        /// m-lines in the offer.
        offered: usize,
        /// m-lines in the answer.
        answered: usize,
    },
    /// An answer's m-line is not of its offer's media type (RFC 3264 §6).
    #[error("m-line {index} of the answer is {answered} where the offer's is {offered}")]
    MediaTypeMismatch {
        /// Index of the m-line, from 0.
        index: usize,
        /// The offer's media type.
        offered: String,
        /// The answer's media type.
        answered: String,
    },
    /// The start-up certificate could not be generated.
    #[error("cannot generate the DTLS certificate: {0}")]
    Certificate(String),
    /// The system random number generator failed.
    #[error("the system random number generator failed")]
    Random,
}

/// What an answer (or a late offer) is made from: the responder's side of
/// the session. Cheap to build per request; the references are to
/// long-lived configuration (the codec list) and the start-up identity.
#[derive(Debug, Clone, Copy)]
pub struct AnswerContext<'a> {
    /// Address written in `o=` and `c=` (`IN IP4` or `IN IP6` by family):
    /// the listener's public address.
    pub address: IpAddr,
    /// `o=` session id (RFC 8866 §5.2): constant for the dialog.
    pub session_id: u64,
    /// `o=` session version: the caller increments it for every later
    /// answer or offer in the same dialog (RFC 3264 §8).
    pub session_version: u64,
    /// RTP port of the first m-line; m-line `i` gets `base_port + 2 * i`
    /// (even ports, RTCP on the odd one above, RFC 3550 §11), except that
    /// the m-lines of one BUNDLE group share the port of the first
    /// (RFC 8843 §7.3.1).
    pub base_port: u16,
    /// Codecs the responder accepts, by media type, name and clock rate;
    /// see [`default_codecs`].
    pub codecs: &'a [Codec],
    /// The DTLS certificate (fingerprint) and the secret from which ICE
    /// credentials and SDES keys are derived.
    pub dtls: &'a DtlsIdentity,
    /// Whose codec order picks a stream's codec.
    pub prefer: Preference,
}

/// Which order picks the codec of an answered stream (`[sdp] prefer`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Preference {
    /// The offer's: its first format that is in `codecs` (RFC 3264 §6.1
    /// lets the answerer choose; the offerer's order is its preference).
    #[default]
    Theirs,
    /// Ours: the first of `codecs` that the offer lists.
    Ours,
}

/// Derives the SDP answer to `offer` (RFC 3264 §6), written with CRLF line
/// ends. See [`negotiate`] for the number of streams accepted.
pub fn answer(offer: &str, ctx: &AnswerContext<'_>) -> Result<String, SdpError> {
    negotiate(offer, ctx).map(|answer| answer.sdp)
}

/// Like [`answer`], and also says how many streams were offered and
/// accepted: with none of several accepted, the caller may prefer 488 Not
/// Acceptable Here (RFC 3261 §13.3.1.3) to an answer that rejects every
/// stream.
pub fn negotiate(offer: &str, ctx: &AnswerContext<'_>) -> Result<Answer, SdpError> {
    answer::negotiate(&parse(offer)?, ctx)
}

/// Like [`negotiate`], for a call the media engine serves on `port`: the
/// first accepted plain RTP audio stream gets `port`, the others are
/// declined (port 0, RFC 3264 §6). Without `port`, or without such a
/// stream, as [`negotiate`].
pub fn negotiate_serving(
    offer: &str,
    ctx: &AnswerContext<'_>,
    port: Option<u16>,
) -> Result<Answer, SdpError> {
    answer::negotiate_serving(&parse(offer)?, ctx, port)
}

/// The SDP offer for a 2xx to an INVITE that carried none (late offer,
/// RFC 3261 §13.2.1, RFC 3264 §5): one plain RTP/AVP m-line per media type
/// of `ctx.codecs` (audio first), listing its codecs in list order.
pub fn offer(ctx: &AnswerContext<'_>) -> String {
    offer::late_offer(ctx)
}

/// Checks that the answer to a late offer (the ACK's body) is a parseable
/// SDP description.
pub fn accept_answer(answer: &str) -> Result<(), SdpError> {
    parse(answer).map(|_| ())
}

/// Checks `answer` against the `offer` it answers: both parse, and the
/// answer has exactly the offer's m-lines, with the same media types, in
/// the same order (RFC 3264 §6).
pub fn check_answer(offer: &str, answer: &str) -> Result<(), SdpError> {
    offer::check_answer(&parse(offer)?, &parse(answer)?)
}
