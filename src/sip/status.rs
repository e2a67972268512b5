//! Reason phrases for every IANA-registered SIP status code, and the status
//! ranges of the ServerContext verbs.

/// The reason phrase IANA registers for `code`, or "" for an unregistered code
/// (SIP.js `REASON_PHRASE` behaviour).
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        199 => "Early Dialog Terminated",
        200 => "OK",
        202 => "Accepted",
        204 => "No Notification",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        305 => "Use Proxy",
        380 => "Alternative Service",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        412 => "Conditional Request Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        417 => "Unknown Resource-Priority",
        420 => "Bad Extension",
        421 => "Extension Required",
        422 => "Session Interval Too Small",
        423 => "Interval Too Brief",
        424 => "Bad Location Information",
        425 => "Bad Alert Message",
        428 => "Use Identity Header",
        429 => "Provide Referrer Identity",
        430 => "Flow Failed",
        433 => "Anonymity Disallowed",
        436 => "Bad Identity Info",
        437 => "Unsupported Credential",
        438 => "Invalid Identity Header",
        439 => "First Hop Lacks Outbound Support",
        440 => "Max-Breadth Exceeded",
        469 => "Bad Info Package",
        470 => "Consent Needed",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        485 => "Ambiguous",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        489 => "Bad Event",
        491 => "Request Pending",
        493 => "Undecipherable",
        494 => "Security Agreement Required",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        555 => "Push Notification Service Not Supported",
        580 => "Precondition Failure",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        607 => "Unwanted",
        608 => "Rejected",
        _ => "",
    }
}

/// The four ServerContext verbs (SIP.js), with their status ranges and defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    Progress,
    Accept,
    Reject,
    Reply,
}

impl Verb {
    /// The inclusive status range the verb may send.
    pub const fn range(self) -> (u16, u16) {
        match self {
            Self::Progress => (100, 199),
            Self::Accept => (200, 299),
            Self::Reject => (300, 699),
            Self::Reply => (100, 699),
        }
    }

    /// The status used when the config gives none; `reply` has no default.
    pub const fn default_status(self) -> Option<u16> {
        match self {
            Self::Progress => Some(180),
            Self::Accept => Some(200),
            Self::Reject => Some(480),
            Self::Reply => None,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Self::Progress => "progress",
            Self::Accept => "accept",
            Self::Reject => "reject",
            Self::Reply => "reply",
        }
    }

    pub fn allows(self, status: u16) -> bool {
        let (low, high) = self.range();
        (low..=high).contains(&status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_and_unregistered_codes() {
        assert_eq!(reason_phrase(486), "Busy Here");
        assert_eq!(reason_phrase(199), "Early Dialog Terminated");
        assert_eq!(reason_phrase(608), "Rejected");
        assert_eq!(reason_phrase(299), "");
        assert_eq!(reason_phrase(499), "");
    }

    #[test]
    fn verb_ranges_match_sipjs() {
        assert!(Verb::Progress.allows(183) && !Verb::Progress.allows(200));
        assert!(Verb::Accept.allows(202) && !Verb::Accept.allows(300));
        assert!(Verb::Reject.allows(699) && !Verb::Reject.allows(299));
        assert!(Verb::Reply.allows(100) && !Verb::Reply.allows(700));
        assert_eq!(Verb::Reply.default_status(), None);
        assert_eq!(Verb::Reject.default_status(), Some(480));
    }
}
