//! Header names: the ones the responder reads, their compact forms (RFC 3261
//! §7.3.3 and extensions), and case-insensitive comparison.

/// The header names the responder interprets; anything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeaderName {
    Via,
    From,
    To,
    CallId,
    CSeq,
    MaxForwards,
    ContentLength,
    ContentType,
    Contact,
    RecordRoute,
    Route,
    Require,
    ProxyRequire,
    Supported,
    Date,
    Expires,
    Subject,
    ContentEncoding,
    Event,
    ReferTo,
    ReferredBy,
    AllowEvents,
    SessionExpires,
    AcceptContact,
    RejectContact,
    RequestDisposition,
    Identity,
    IdentityInfo,
    Other,
}

impl HeaderName {
    /// Classifies a header name as written on the wire (any case, compact or long).
    pub fn classify(raw: &str) -> Self {
        if raw.len() == 1 {
            return Self::from_compact(raw.as_bytes()[0].to_ascii_lowercase());
        }
        // Lower-case into a stack buffer and let `match` compare by length
        // then bytes: no allocation, no scan over every known name.
        let mut buf = [0u8; 24];
        let Some(lower) = buf.get_mut(..raw.len()) else {
            return Self::Other;
        };
        for (dst, src) in lower.iter_mut().zip(raw.bytes()) {
            *dst = src.to_ascii_lowercase();
        }
        match &*lower {
            b"via" => Self::Via,
            b"from" => Self::From,
            b"to" => Self::To,
            b"call-id" => Self::CallId,
            b"cseq" => Self::CSeq,
            b"max-forwards" => Self::MaxForwards,
            b"content-length" => Self::ContentLength,
            b"content-type" => Self::ContentType,
            b"contact" => Self::Contact,
            b"record-route" => Self::RecordRoute,
            b"route" => Self::Route,
            b"require" => Self::Require,
            b"proxy-require" => Self::ProxyRequire,
            b"supported" => Self::Supported,
            b"date" => Self::Date,
            b"expires" => Self::Expires,
            b"subject" => Self::Subject,
            b"content-encoding" => Self::ContentEncoding,
            b"event" => Self::Event,
            b"refer-to" => Self::ReferTo,
            b"referred-by" => Self::ReferredBy,
            b"allow-events" => Self::AllowEvents,
            b"session-expires" => Self::SessionExpires,
            b"accept-contact" => Self::AcceptContact,
            b"reject-contact" => Self::RejectContact,
            b"request-disposition" => Self::RequestDisposition,
            b"identity" => Self::Identity,
            b"identity-info" => Self::IdentityInfo,
            _ => Self::Other,
        }
    }

    fn from_compact(letter: u8) -> Self {
        match letter {
            b'v' => Self::Via,
            b'f' => Self::From,
            b't' => Self::To,
            b'i' => Self::CallId,
            b'l' => Self::ContentLength,
            b'c' => Self::ContentType,
            b'm' => Self::Contact,
            b'k' => Self::Supported,
            b's' => Self::Subject,
            b'e' => Self::ContentEncoding,
            b'o' => Self::Event,
            b'r' => Self::ReferTo,
            b'b' => Self::ReferredBy,
            b'u' => Self::AllowEvents,
            b'x' => Self::SessionExpires,
            b'a' => Self::AcceptContact,
            b'j' => Self::RejectContact,
            b'd' => Self::RequestDisposition,
            b'y' => Self::Identity,
            b'n' => Self::IdentityInfo,
            _ => Self::Other,
        }
    }

    /// The canonical long name, for a known header.
    pub fn long_name(self) -> Option<&'static str> {
        LONG_NAMES
            .iter()
            .find(|(name, _)| *name == self)
            .map(|(_, long)| *long)
    }

    /// Headers that may appear once only in a request (RFC 3261 §7.3.1 and
    /// RFC 4475 multi01 / mcl01).
    pub fn is_single_valued(self) -> bool {
        matches!(
            self,
            Self::From
                | Self::To
                | Self::CallId
                | Self::CSeq
                | Self::MaxForwards
                | Self::ContentLength
                | Self::ContentType
        )
    }
}

const LONG_NAMES: &[(HeaderName, &str)] = &[
    (HeaderName::Via, "Via"),
    (HeaderName::From, "From"),
    (HeaderName::To, "To"),
    (HeaderName::CallId, "Call-ID"),
    (HeaderName::CSeq, "CSeq"),
    (HeaderName::MaxForwards, "Max-Forwards"),
    (HeaderName::ContentLength, "Content-Length"),
    (HeaderName::ContentType, "Content-Type"),
    (HeaderName::Contact, "Contact"),
    (HeaderName::RecordRoute, "Record-Route"),
    (HeaderName::Route, "Route"),
    (HeaderName::Require, "Require"),
    (HeaderName::ProxyRequire, "Proxy-Require"),
    (HeaderName::Supported, "Supported"),
    (HeaderName::Date, "Date"),
    (HeaderName::Expires, "Expires"),
    (HeaderName::Subject, "Subject"),
    (HeaderName::ContentEncoding, "Content-Encoding"),
    (HeaderName::Event, "Event"),
    (HeaderName::ReferTo, "Refer-To"),
    (HeaderName::ReferredBy, "Referred-By"),
    (HeaderName::AllowEvents, "Allow-Events"),
    (HeaderName::SessionExpires, "Session-Expires"),
    (HeaderName::AcceptContact, "Accept-Contact"),
    (HeaderName::RejectContact, "Reject-Contact"),
    (HeaderName::RequestDisposition, "Request-Disposition"),
    (HeaderName::Identity, "Identity"),
    (HeaderName::IdentityInfo, "Identity-Info"),
];

/// A header name as a rule refers to it: a known header (so compact forms
/// match) or an extension name compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderKey {
    Known(HeaderName),
    Extension(Box<str>),
}

impl HeaderKey {
    pub fn new(name: &str) -> Self {
        match HeaderName::classify(name) {
            HeaderName::Other => Self::Extension(name.into()),
            known => Self::Known(known),
        }
    }

    /// Whether a header written as `raw_name` (already classified as `kind`) is this key.
    pub fn matches(&self, kind: HeaderName, raw_name: &str) -> bool {
        match self {
            Self::Known(name) => *name == kind,
            Self::Extension(name) => {
                kind == HeaderName::Other && name.eq_ignore_ascii_case(raw_name)
            }
        }
    }
}

/// RFC 3261 §25.1 `token` characters, as a table: one load a byte on the
/// parser's hottest loops.
pub(crate) fn is_token_byte(b: u8) -> bool {
    TOKEN_BYTES[usize::from(b)]
}

static TOKEN_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        table[b] = byte.is_ascii_alphanumeric()
            || matches!(
                byte,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        b += 1;
    }
    table
};

pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_long_forms() {
        assert_eq!(HeaderName::classify("v"), HeaderName::Via);
        assert_eq!(HeaderName::classify("V"), HeaderName::Via);
        assert_eq!(HeaderName::classify("call-id"), HeaderName::CallId);
        assert_eq!(HeaderName::classify("i"), HeaderName::CallId);
        assert_eq!(HeaderName::classify("l"), HeaderName::ContentLength);
        assert_eq!(
            HeaderName::classify("MaX-fOrWaRdS"),
            HeaderName::MaxForwards
        );
        assert_eq!(HeaderName::classify("C%6Fntact"), HeaderName::Other);
        assert_eq!(HeaderName::classify("q"), HeaderName::Other);
    }

    #[test]
    fn every_long_name_classifies_to_itself() {
        for (name, long) in LONG_NAMES {
            assert_eq!(HeaderName::classify(long), *name, "{long}");
            assert_eq!(
                HeaderName::classify(&long.to_ascii_uppercase()),
                *name,
                "{long}"
            );
        }
        assert_eq!(
            HeaderName::classify("a-very-long-extension-header-name"),
            HeaderName::Other
        );
    }

    #[test]
    fn keys_match_compact_forms_and_extensions() {
        assert!(HeaderKey::new("Call-ID").matches(HeaderName::CallId, "i"));
        let ext = HeaderKey::new("X-Scenario");
        assert!(ext.matches(HeaderName::Other, "x-scenario"));
        assert!(!ext.matches(HeaderName::Other, "X-Other"));
    }
}
