//! Offers `body.sdp = "answer"` cannot answer, and the response each gets
//! instead of a 2xx without its answer (RFC 3261 §13.3.1.4): 415 for a body
//! that is not SDP (§21.4.13), 400 for an offer that does not parse, 488
//! with a Warning when no stream is usable (§21.4.26, §20.43).

use std::net::IpAddr;

use crate::context::{ContextError, ReplyOptions, ServerContext};
use crate::rules::sdp::SdpError;
use crate::sip::{ACCEPTED_TYPES, BodyError};

/// Why an offer gets no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfferRefusal {
    /// The body is not one the answerer reads, or is coded.
    #[error(transparent)]
    Body(#[from] BodyError),
    /// The SDP does not parse.
    #[error("unparseable SDP offer: {0}")]
    Unparseable(SdpError),
    /// The SDP parses but is beyond what the answerer takes (size, streams,
    /// formats, ports).
    #[error("SDP offer not answerable: {0}")]
    Unacceptable(SdpError),
    /// Every stream the offer proposes is rejected. `media_known`: one is
    /// of a media type we have codecs for (no common format, warning 305),
    /// else none is (warning 304).
    #[error("no stream of the offer is usable")]
    NoCommonMedia { media_known: bool },
}

impl OfferRefusal {
    /// The refusal of an offer the answerer returned `error` for.
    pub fn of_sdp_error(error: SdpError) -> Self {
        match error {
            SdpError::Empty
            | SdpError::Version { .. }
            | SdpError::Malformed { .. }
            | SdpError::Missing(_) => Self::Unparseable(error),
            _ => Self::Unacceptable(error),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Self::Body(BodyError::MalformedMultipart) | Self::Unparseable(_) => 400,
            Self::Body(_) => 415,
            Self::NoCommonMedia { .. } | Self::Unacceptable(_) => 488,
        }
    }

    /// The reason phrase: a 400 names the defect (§21.4.1).
    pub fn reason(&self) -> Option<String> {
        (self.status() == 400).then(|| format!("Bad Request ({self})"))
    }

    /// The header lines the response carries. `agent` is the warn-agent
    /// (RFC 3261 §20.43: the host answering).
    pub fn header_lines(&self, agent: IpAddr) -> String {
        match self {
            Self::Body(BodyError::UnsupportedEncoding(_)) => {
                "Accept-Encoding: identity\r\n".to_owned()
            }
            Self::Body(BodyError::UnsupportedType(_)) => format!("Accept: {ACCEPTED_TYPES}\r\n"),
            Self::Body(BodyError::MalformedMultipart) | Self::Unparseable(_) => String::new(),
            Self::NoCommonMedia { media_known } => {
                let (code, text) = if *media_known {
                    (305, "Incompatible media format")
                } else {
                    (304, "Media type not available")
                };
                warning(code, agent, text)
            }
            // §20.43: 399 is a miscellaneous warning, its text for humans.
            Self::Unacceptable(error) => warning(399, agent, &error.to_string()),
        }
    }
}

impl OfferRefusal {
    /// Sends the refusal through `context`, as its final response.
    /// `agent` is the listener's address (the warn-agent).
    pub(crate) async fn send(
        &self,
        context: &mut ServerContext,
        agent: IpAddr,
    ) -> Result<(), ContextError> {
        let reason = self.reason();
        let headers = self.header_lines(agent);
        let options = ReplyOptions {
            status: Some(self.status()),
            reason: reason.as_deref(),
            extra_headers: headers.as_bytes(),
            ..ReplyOptions::default()
        };
        context.reject(options).await
    }
}

/// `Warning: code agent "text"` (RFC 3261 §20.43); `text` holds no quote
/// or control character (it is ours).
fn warning(code: u16, agent: IpAddr, text: &str) -> String {
    let agent = match agent {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    };
    format!("Warning: {code} {agent} \"{text}\"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_has_its_status_and_headers() {
        let agent = IpAddr::from([192, 0, 2, 1]);
        let coded = OfferRefusal::Body(BodyError::UnsupportedEncoding("gzip".into()));
        assert_eq!(
            (coded.status(), coded.header_lines(agent).as_str()),
            (415, "Accept-Encoding: identity\r\n")
        );
        let typed = OfferRefusal::Body(BodyError::UnsupportedType("text/plain".into()));
        assert!(
            typed
                .header_lines(agent)
                .starts_with("Accept: application/sdp")
        );
        let broken = OfferRefusal::of_sdp_error(SdpError::Version { line: 1 });
        assert_eq!(broken.status(), 400);
        assert_eq!(
            broken.reason().as_deref(),
            Some("Bad Request (unparseable SDP offer: line 1: an SDP description starts with v=0)")
        );
        let none = OfferRefusal::NoCommonMedia { media_known: true };
        assert_eq!(
            none.header_lines(agent),
            "Warning: 305 192.0.2.1 \"Incompatible media format\"\r\n"
        );
        let video = OfferRefusal::NoCommonMedia { media_known: false };
        let v6 = IpAddr::from(std::net::Ipv6Addr::LOCALHOST);
        assert_eq!(
            video.header_lines(v6),
            "Warning: 304 [::1] \"Media type not available\"\r\n"
        );
        let many = OfferRefusal::of_sdp_error(SdpError::TooManyMedia { max: 8 });
        assert_eq!((many.status(), many.reason()), (488, None));
        assert!(
            many.header_lines(agent)
                .starts_with("Warning: 399 192.0.2.1 \"more than 8")
        );
    }
}
