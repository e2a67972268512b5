//! The checks of RFC 3261 §8.1.1 that make a message a request the other
//! layers can rely on: the mandatory headers present, single where they
//! must be, and well-formed, each defect named for the 400.

use crate::sip::HeaderName;
use crate::sip::error::ParseError;
use crate::sip::header::is_token_byte;
use crate::sip::message::{Message, Span, StartLine};
use crate::sip::name_addr::{NameAddr, read_name_addr};
use crate::sip::scan::{decimal, search2, skip};
use crate::sip::syntax::split_spans;
use crate::sip::uri::{UriHeaders, check_uri};
use crate::sip::via::{Via, read_via_field};

/// What the checks read, for the request to keep.
pub(super) struct Checked {
    pub(super) top_via: Via,
    pub(super) from: NameAddr,
    pub(super) to: NameAddr,
    pub(super) call_id: Span,
    pub(super) cseq: u32,
    pub(super) max_forwards: Option<u8>,
}

/// The first defect, in a fixed order: a tokeniser's defect, the
/// Request-URI, Via, From, To, Call-ID, CSeq, Max-Forwards, Content-Type,
/// Contact, Date.
pub(super) fn check(message: &Message) -> Result<Checked, ParseError> {
    if let Some(defect) = message.defect() {
        return Err(defect.clone());
    }
    let StartLine::Request { method, uri } = message.start else {
        return Err(ParseError::NotSip);
    };
    // Spans into the head's bytes throughout: no text is sliced (and no
    // character boundary checked) until a value must be compared.
    let bytes = message.head().as_bytes();
    if !check_uri(&bytes[uri.range()], UriHeaders::Refused) {
        return Err(ParseError::BadRequestUri);
    }
    let fields = Fields::of(message);

    let mut top_via = None;
    for header in message.headers.iter().filter(|h| h.name == HeaderName::Via) {
        read_via_field(bytes, header.value, &mut top_via)?;
    }
    let top_via = top_via.ok_or(ParseError::Missing("Via"))?;
    let from = name_addr(bytes, fields.from, "From")?;
    let to = name_addr(bytes, fields.to, "To")?;
    let call_id = fields.call_id.single("Call-ID")?;
    let call_id_text = &bytes[call_id.range()];
    if call_id_text.is_empty() || search2(call_id_text, 0, b' ', b'\t').is_some() {
        return Err(ParseError::Malformed("Call-ID"));
    }
    let cseq = fields.cseq.single("CSeq")?;
    let cseq = parse_cseq(&bytes[cseq.range()], &bytes[method.range()])?;
    let max_forwards = match fields.max_forwards.optional("Max-Forwards")? {
        Some(value) => Some(parse_max_forwards(&bytes[value.range()])?),
        None => None,
    };
    fields.content_type.optional("Content-Type")?;
    if fields.contact {
        check_contacts(message, bytes)?;
    }
    if let Some(date) = fields.date
        && !is_rfc1123_date(message.text(date))
    {
        return Err(ParseError::Malformed("Date"));
    }
    Ok(Checked {
        top_via,
        from,
        to,
        call_id,
        cseq,
        max_forwards,
    })
}

/// Every Contact is `*` or a list of name-addrs (RFC 3261 §20.10).
fn check_contacts(message: &Message, bytes: &[u8]) -> Result<(), ParseError> {
    for header in message
        .headers
        .iter()
        .filter(|h| h.name == HeaderName::Contact)
    {
        if &bytes[header.value.range()] != b"*"
            && split_spans(bytes, header.value).any(|c| read_name_addr(bytes, c).is_none())
        {
            return Err(ParseError::Malformed("Contact"));
        }
    }
    Ok(())
}

/// The headers the checks read, found in one pass over the header fields
/// rather than one pass per header.
#[derive(Debug, Default)]
struct Fields {
    from: Single,
    to: Single,
    call_id: Single,
    cseq: Single,
    max_forwards: Single,
    content_type: Single,
    /// Whether there is a Contact.
    contact: bool,
    /// The first Date.
    date: Option<Span>,
}

impl Fields {
    fn of(message: &Message) -> Self {
        let mut fields = Self::default();
        for header in &message.headers {
            let single = match header.name {
                HeaderName::From => &mut fields.from,
                HeaderName::To => &mut fields.to,
                HeaderName::CallId => &mut fields.call_id,
                HeaderName::CSeq => &mut fields.cseq,
                HeaderName::MaxForwards => &mut fields.max_forwards,
                HeaderName::ContentType => &mut fields.content_type,
                HeaderName::Contact => {
                    fields.contact = true;
                    continue;
                }
                HeaderName::Date => {
                    fields.date.get_or_insert(header.value);
                    continue;
                }
                _ => continue,
            };
            single.repeated |= single.first.is_some();
            single.first.get_or_insert(header.value);
        }
        fields
    }
}

/// A header that may appear once: its first value, and whether another
/// follows.
#[derive(Debug, Default, Clone, Copy)]
struct Single {
    first: Option<Span>,
    repeated: bool,
}

impl Single {
    fn optional(self, label: &'static str) -> Result<Option<Span>, ParseError> {
        if self.repeated {
            return Err(ParseError::Duplicate(label));
        }
        Ok(self.first)
    }

    fn single(self, label: &'static str) -> Result<Span, ParseError> {
        self.optional(label)?.ok_or(ParseError::Missing(label))
    }
}

fn name_addr(bytes: &[u8], field: Single, label: &'static str) -> Result<NameAddr, ParseError> {
    let value = field.single(label)?;
    read_name_addr(bytes, value).ok_or(ParseError::Malformed(label))
}

/// `CSeq: 1*DIGIT LWS Method`, the number below 2**31 (RFC 3261 §8.1.1.5)
/// and the method equal to the request's (RFC 4475 mismatch01/02). Exactly
/// two words between any ASCII whitespace.
fn parse_cseq(bytes: &[u8], method: &[u8]) -> Result<u32, ParseError> {
    let is_space = |b: u8| b.is_ascii_whitespace();
    let number_start = skip(bytes, 0, is_space);
    let number_end = skip(bytes, number_start, |b| !is_space(b));
    let method_start = skip(bytes, number_end, is_space);
    let method_end = skip(bytes, method_start, |b| !is_space(b));
    let (number, cseq_method) = (
        &bytes[number_start..number_end],
        &bytes[method_start..method_end],
    );
    if number.is_empty()
        || cseq_method.is_empty()
        || skip(bytes, method_end, is_space) < bytes.len()
    {
        return Err(ParseError::Malformed("CSeq"));
    }
    if !number.iter().all(u8::is_ascii_digit) || !cseq_method.iter().all(|&b| is_token_byte(b)) {
        return Err(ParseError::Malformed("CSeq"));
    }
    let number = decimal(number, (1 << 31) - 1).ok_or(ParseError::BadCSeqNumber)?;
    if cseq_method != method {
        return Err(ParseError::CSeqMethodMismatch);
    }
    Ok(number as u32)
}

fn parse_max_forwards(value: &[u8]) -> Result<u8, ParseError> {
    decimal(value, u8::MAX.into())
        .map(|hops| hops as u8)
        .ok_or(ParseError::BadMaxForwards)
}

/// RFC 3261 §20.17: `wkday "," SP date1 SP time SP "GMT"` (RFC 4475 baddate).
fn is_rfc1123_date(value: &str) -> bool {
    const DAYS: [&str; 7] = ["Mon,", "Tue,", "Wed,", "Thu,", "Fri,", "Sat,", "Sun,"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let parts: Vec<&str> = value.split(' ').collect();
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let time_ok = |s: &str| {
        let t: Vec<&str> = s.split(':').collect();
        t.len() == 3 && t.iter().all(|p| digits(p, 2))
    };
    parts.len() == 6
        && DAYS.contains(&parts[0])
        && digits(parts[1], 2)
        && MONTHS.contains(&parts[2])
        && digits(parts[3], 4)
        && time_ok(parts[4])
        && parts[5] == "GMT"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cseq_is_two_words_a_number_and_the_method() {
        assert_eq!(parse_cseq(b"1 OPTIONS", b"OPTIONS"), Ok(1));
        assert_eq!(parse_cseq(b" \t 0042 \x0c OPTIONS \r", b"OPTIONS"), Ok(42));
        assert_eq!(parse_cseq(b"2147483647 A", b"A"), Ok(2_147_483_647));
        assert_eq!(
            parse_cseq(b"2147483648 A", b"A"),
            Err(ParseError::BadCSeqNumber)
        );
        assert_eq!(
            parse_cseq(b"99999999999999999999999 A", b"A"),
            Err(ParseError::BadCSeqNumber)
        );
        assert_eq!(
            parse_cseq(b"1 A", b"B"),
            Err(ParseError::CSeqMethodMismatch)
        );
        for malformed in ["", " ", "1", "1 A B", "+1 A", "1 A\u{b}B", "x A", "1 A,"] {
            assert_eq!(
                parse_cseq(malformed.as_bytes(), b"A"),
                Err(ParseError::Malformed("CSeq")),
                "{malformed:?}"
            );
        }
        // VT is no ASCII whitespace to `split_ascii_whitespace` either.
        assert_eq!(
            parse_cseq(b"1\x0bA", b"A"),
            Err(ParseError::Malformed("CSeq"))
        );
    }

    #[test]
    fn max_forwards_is_a_byte() {
        assert_eq!(parse_max_forwards(b"0"), Ok(0));
        assert_eq!(parse_max_forwards(b"00070"), Ok(70));
        assert_eq!(parse_max_forwards(b"255"), Ok(255));
        for bad in ["", "256", "-1", "+1", "7 0", "99999999999999999999"] {
            assert_eq!(
                parse_max_forwards(bad.as_bytes()),
                Err(ParseError::BadMaxForwards),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn dates_are_rfc1123() {
        assert!(is_rfc1123_date("Sat, 13 Nov 2010 23:29:00 GMT"));
        assert!(!is_rfc1123_date("Fri, 01 Jan 2010 16:00:00 EST"));
    }
}
