//! The SIP.js / JsSIP failure-cause vocabulary, and the cause of a status code.

use std::fmt;

/// Why a transaction failed, in the words SIP.js and JsSIP use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cause {
    Busy,
    Rejected,
    Redirected,
    Unavailable,
    NotFound,
    AddressIncomplete,
    IncompatibleSdp,
    AuthenticationError,
    SipFailureCode,
    NoAck,
    /// Ringing for the ring timeout without a final response (JsSIP
    /// `NO_ANSWER`).
    NoAnswer,
    /// The dialog reached its maximum duration (JsSIP `EXPIRES`).
    Expires,
    /// The session timer ran out without a refresh (RFC 4028 §10).
    SessionTimer,
    /// No RTP from the peer for `[media] timeout_ms` (JsSIP `RTP_TIMEOUT`).
    RtpTimeout,
    Canceled,
    RequestTimeout,
    ConnectionError,
    InternalError,
}

impl Cause {
    /// The cause a final status implies; `None` for 1xx and 2xx.
    pub fn of_status(status: u16) -> Option<Self> {
        Some(match status {
            0..=299 => return None,
            300..=399 => Self::Redirected,
            486 | 600 => Self::Busy,
            403 | 603 => Self::Rejected,
            480 | 410 | 408 | 430 => Self::Unavailable,
            404 | 604 => Self::NotFound,
            484 => Self::AddressIncomplete,
            488 | 606 => Self::IncompatibleSdp,
            401 | 407 => Self::AuthenticationError,
            _ => Self::SipFailureCode,
        })
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Busy => "Busy",
            Self::Rejected => "Rejected",
            Self::Redirected => "Redirected",
            Self::Unavailable => "Unavailable",
            Self::NotFound => "Not Found",
            Self::AddressIncomplete => "Address Incomplete",
            Self::IncompatibleSdp => "Incompatible SDP",
            Self::AuthenticationError => "Authentication Error",
            Self::SipFailureCode => "SIP Failure Code",
            Self::NoAck => "No ACK",
            Self::NoAnswer => "No Answer",
            Self::Expires => "Expires",
            Self::SessionTimer => "Session Timer",
            Self::RtpTimeout => "RTP Timeout",
            Self::Canceled => "Canceled",
            Self::RequestTimeout => "Request Timeout",
            Self::ConnectionError => "Connection Error",
            Self::InternalError => "Internal Error",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_follow_jssip() {
        assert_eq!(Cause::of_status(200), None);
        assert_eq!(Cause::of_status(486), Some(Cause::Busy));
        assert_eq!(Cause::of_status(600), Some(Cause::Busy));
        assert_eq!(Cause::of_status(603), Some(Cause::Rejected));
        assert_eq!(Cause::of_status(302), Some(Cause::Redirected));
        assert_eq!(Cause::of_status(480), Some(Cause::Unavailable));
        assert_eq!(Cause::of_status(604), Some(Cause::NotFound));
        assert_eq!(Cause::of_status(488), Some(Cause::IncompatibleSdp));
        assert_eq!(Cause::of_status(407), Some(Cause::AuthenticationError));
        assert_eq!(Cause::of_status(500), Some(Cause::SipFailureCode));
    }
}
