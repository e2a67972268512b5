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
        Self::classify_bytes(raw.as_bytes())
    }

    /// [`HeaderName::classify`] on bytes. The length and first letter
    /// leave at most one candidate (two for `c` and 7 bytes), so one
    /// comparison of known length decides; no scan of every known name.
    pub(crate) fn classify_bytes(raw: &[u8]) -> Self {
        let Some(&first) = raw.first() else {
            return Self::Other;
        };
        // Lower-case for a letter; another byte reaches no arm it could
        // pass, since each arm compares the whole name.
        match (raw.len(), first | 0x20) {
            (1, letter) => Self::from_compact(letter),
            (2, b't') if is(raw, b"to") => Self::To,
            (3, b'v') if is(raw, b"via") => Self::Via,
            (4, b'f') if is(raw, b"from") => Self::From,
            (4, b'c') if is(raw, b"cseq") => Self::CSeq,
            (4, b'd') if is(raw, b"date") => Self::Date,
            (5, b'r') if is(raw, b"route") => Self::Route,
            (5, b'e') if is(raw, b"event") => Self::Event,
            (7, b'c') if is(raw, b"call-id") => Self::CallId,
            (7, b'c') if is(raw, b"contact") => Self::Contact,
            (7, b'r') if is(raw, b"require") => Self::Require,
            (7, b'e') if is(raw, b"expires") => Self::Expires,
            (7, b's') if is(raw, b"subject") => Self::Subject,
            (8, b'r') if is(raw, b"refer-to") => Self::ReferTo,
            (8, b'i') if is(raw, b"identity") => Self::Identity,
            (9, b's') if is(raw, b"supported") => Self::Supported,
            (11, b'r') if is(raw, b"referred-by") => Self::ReferredBy,
            (12, b'm') if is(raw, b"max-forwards") => Self::MaxForwards,
            (12, b'c') if is(raw, b"content-type") => Self::ContentType,
            (12, b'r') if is(raw, b"record-route") => Self::RecordRoute,
            (12, b'a') if is(raw, b"allow-events") => Self::AllowEvents,
            (13, b'p') if is(raw, b"proxy-require") => Self::ProxyRequire,
            (13, b'i') if is(raw, b"identity-info") => Self::IdentityInfo,
            (14, b'c') if is(raw, b"content-length") => Self::ContentLength,
            (14, b'a') if is(raw, b"accept-contact") => Self::AcceptContact,
            (14, b'r') if is(raw, b"reject-contact") => Self::RejectContact,
            (15, b's') if is(raw, b"session-expires") => Self::SessionExpires,
            (16, b'c') if is(raw, b"content-encoding") => Self::ContentEncoding,
            (19, b'r') if is(raw, b"request-disposition") => Self::RequestDisposition,
            _ => Self::Other,
        }
    }

    /// The header name at the start of a header line, and its length. The
    /// headers of nearly every request are recognised by their first
    /// letter and one comparison; any other name is scanned as a token and
    /// classified. Either way the name is the line's leading token (a
    /// known name counts only when no token byte follows it).
    pub(crate) fn read(line: &[u8]) -> (Self, usize) {
        let known = match line.first().map(|b| b | 0x20) {
            Some(b'v') if starts_with(line, b"via") => Some((Self::Via, 3)),
            Some(b'f') if starts_with(line, b"from") => Some((Self::From, 4)),
            Some(b't') if starts_with(line, b"to") => Some((Self::To, 2)),
            Some(b'c') if starts_with(line, b"call-id") => Some((Self::CallId, 7)),
            Some(b'c') if starts_with(line, b"cseq") => Some((Self::CSeq, 4)),
            Some(b'c') if starts_with(line, b"contact") => Some((Self::Contact, 7)),
            Some(b'c') if starts_with(line, b"content-length") => Some((Self::ContentLength, 14)),
            Some(b'c') if starts_with(line, b"content-type") => Some((Self::ContentType, 12)),
            Some(b'm') if starts_with(line, b"max-forwards") => Some((Self::MaxForwards, 12)),
            _ => None,
        };
        known.unwrap_or_else(|| {
            let len = line
                .iter()
                .position(|&b| !is_token_byte(b))
                .unwrap_or(line.len());
            (Self::classify_bytes(&line[..len]), len)
        })
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
        Some(match self {
            Self::Via => "Via",
            Self::From => "From",
            Self::To => "To",
            Self::CallId => "Call-ID",
            Self::CSeq => "CSeq",
            Self::MaxForwards => "Max-Forwards",
            Self::ContentLength => "Content-Length",
            Self::ContentType => "Content-Type",
            Self::Contact => "Contact",
            Self::RecordRoute => "Record-Route",
            Self::Route => "Route",
            Self::Require => "Require",
            Self::ProxyRequire => "Proxy-Require",
            Self::Supported => "Supported",
            Self::Date => "Date",
            Self::Expires => "Expires",
            Self::Subject => "Subject",
            Self::ContentEncoding => "Content-Encoding",
            Self::Event => "Event",
            Self::ReferTo => "Refer-To",
            Self::ReferredBy => "Referred-By",
            Self::AllowEvents => "Allow-Events",
            Self::SessionExpires => "Session-Expires",
            Self::AcceptContact => "Accept-Contact",
            Self::RejectContact => "Reject-Contact",
            Self::RequestDisposition => "Request-Disposition",
            Self::Identity => "Identity",
            Self::IdentityInfo => "Identity-Info",
            Self::Other => return None,
        })
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

/// Whether `raw` is the lower-case `name` in any case. The length and
/// `name` are constants once inlined: each byte is one OR (for a letter of
/// `name`: `b | 0x20` equals it only for its two cases) and one compare,
/// which the compiler merges into word compares.
#[inline(always)]
fn is<const N: usize>(raw: &[u8], name: &[u8; N]) -> bool {
    let Ok(raw) = <&[u8; N]>::try_from(raw) else {
        return false;
    };
    let mut same = true;
    for (&r, &n) in raw.iter().zip(name) {
        let case = if n.is_ascii_lowercase() { 0x20 } else { 0 };
        same &= r | case == n;
    }
    same
}

/// Whether `line` starts with the lower-case `name` in any case, and no
/// token byte follows it (so it is the whole leading token).
#[inline(always)]
fn starts_with<const N: usize>(line: &[u8], name: &[u8; N]) -> bool {
    line.len() > N && is(&line[..N], name) && !is_token_byte(line[N])
}

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

/// RFC 3261 §25.1 `token` characters, from the byte class table: one
/// load a byte on the parser's hottest loops.
#[inline]
pub(crate) fn is_token_byte(b: u8) -> bool {
    super::class::Class::TOKEN.has(b)
}

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

    const KNOWN: [HeaderName; 28] = [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
        HeaderName::MaxForwards,
        HeaderName::ContentLength,
        HeaderName::ContentType,
        HeaderName::Contact,
        HeaderName::RecordRoute,
        HeaderName::Route,
        HeaderName::Require,
        HeaderName::ProxyRequire,
        HeaderName::Supported,
        HeaderName::Date,
        HeaderName::Expires,
        HeaderName::Subject,
        HeaderName::ContentEncoding,
        HeaderName::Event,
        HeaderName::ReferTo,
        HeaderName::ReferredBy,
        HeaderName::AllowEvents,
        HeaderName::SessionExpires,
        HeaderName::AcceptContact,
        HeaderName::RejectContact,
        HeaderName::RequestDisposition,
        HeaderName::Identity,
        HeaderName::IdentityInfo,
    ];

    /// What `classify` must answer: the known header whose long name this
    /// is, ignoring case, or whose compact form this letter is.
    fn by_search(raw: &[u8]) -> HeaderName {
        if let [letter] = raw {
            return HeaderName::from_compact(letter.to_ascii_lowercase());
        }
        KNOWN
            .into_iter()
            .find(|name| {
                name.long_name()
                    .is_some_and(|long| long.as_bytes().eq_ignore_ascii_case(raw))
            })
            .unwrap_or(HeaderName::Other)
    }

    #[test]
    fn every_long_name_classifies_to_itself() {
        for name in KNOWN {
            let long = name.long_name().expect("a known header has a long name");
            assert_eq!(HeaderName::classify(long), name, "{long}");
            assert_eq!(
                HeaderName::classify(&long.to_ascii_uppercase()),
                name,
                "{long}"
            );
            assert_eq!(
                HeaderName::classify(&long.to_ascii_lowercase()),
                name,
                "{long}"
            );
        }
        assert_eq!(
            HeaderName::classify("a-very-long-extension-header-name"),
            HeaderName::Other
        );
        assert_eq!(HeaderName::classify(""), HeaderName::Other);
    }

    /// The dispatch on length and first letter never takes a name for
    /// another: every long name with any one byte changed, cut or extended,
    /// and every one- and two-byte name, classify as a search would.
    #[test]
    fn near_misses_classify_as_a_search_would() {
        let mut names: Vec<Vec<u8>> = Vec::new();
        for a in 0..=255u8 {
            names.push(vec![a]);
            for b in [b'o', b'O', b'-', b'0', 0x80, 0xff] {
                names.push(vec![a, b]);
                names.push(vec![b, a]);
            }
        }
        for name in KNOWN {
            let long = name.long_name().expect("long name").as_bytes();
            for at in 0..long.len() {
                for byte in [b'x', b'-', b'@', b'`', b'{', b'[', 0x80, 0xc0, b' ', 0] {
                    let mut changed = long.to_vec();
                    changed[at] = byte;
                    names.push(changed);
                    let mut flipped = long.to_vec();
                    flipped[at] ^= 0x20;
                    names.push(flipped);
                }
                names.push(long[..at].to_vec());
                names.push([long, &long[at..=at]].concat());
            }
        }
        for name in names {
            assert_eq!(
                HeaderName::classify_bytes(&name),
                by_search(&name),
                "{}",
                name.escape_ascii()
            );
        }
    }

    /// Reading a name from its line finds what a token scan and
    /// `classify` find, for known names in any case with anything after
    /// them, near misses, and names cut short.
    #[test]
    fn names_read_from_lines_agree_with_a_scan() {
        let by_scan = |line: &[u8]| {
            let len = line
                .iter()
                .position(|&b| !is_token_byte(b))
                .unwrap_or(line.len());
            (HeaderName::classify_bytes(&line[..len]), len)
        };
        let mut names: Vec<Vec<u8>> = vec![b"v".to_vec(), b"i".to_vec(), b"X-Via".to_vec(), vec![]];
        for name in KNOWN {
            let long = name.long_name().expect("long name").as_bytes();
            names.push(long.to_vec());
            names.push(long.to_ascii_uppercase());
            names.push(long[..long.len() - 1].to_vec());
            names.push([long, b"x"].concat());
            names.push([long, b"-"].concat());
        }
        for name in names {
            for after in [
                &b""[..],
                b":",
                b" : x",
                b"\t:",
                b"x: y",
                b"-x: y",
                b";",
                b"\xc3\xa9:",
            ] {
                let line = [&name[..], after].concat();
                assert_eq!(
                    HeaderName::read(&line),
                    by_scan(&line),
                    "{}",
                    line.escape_ascii()
                );
            }
        }
    }

    #[test]
    fn keys_match_compact_forms_and_extensions() {
        assert!(HeaderKey::new("Call-ID").matches(HeaderName::CallId, "i"));
        let ext = HeaderKey::new("X-Scenario");
        assert!(ext.matches(HeaderName::Other, "x-scenario"));
        assert!(!ext.matches(HeaderName::Other, "X-Other"));
    }
}
