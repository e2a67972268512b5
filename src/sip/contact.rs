//! Contact header values as a registrar reads them (RFC 3261 §10.2, §20.10):
//! each contact's URI, `expires`, and the RFC 5626 §4.2 `+sip.instance` and
//! `reg-id`; `delta-seconds` for them and for the Expires header.

use super::error::ParseError;
use super::message::Message;
use super::name_addr::parse_name_addr;
use super::syntax::{split_list, trim_lws};
use super::via::parse_param;
use super::{HeaderName, Request};

/// The Contact headers of a REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contacts<'a> {
    /// No Contact: a query of the current bindings (§10.2.3).
    None,
    /// `Contact: *`, alone: remove every binding (§10.2.2).
    Star,
    /// One or more contacts, in order.
    List(Vec<ContactValue<'a>>),
}

/// One contact of a REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactValue<'a> {
    /// The URI, without its `<>`.
    pub uri: &'a str,
    /// `expires` (§10.2.1.1); `None` when absent or not a number.
    pub expires: Option<u32>,
    /// `+sip.instance`, without its quotes (RFC 5626 §4.1).
    pub instance: Option<&'a str>,
    /// `reg-id` (RFC 5626 §4.2).
    pub reg_id: Option<u32>,
}

impl Request {
    /// The Contact headers, parsed. `*` beside another contact, or more than
    /// once, is malformed (RFC 3261 §10.3 step 6).
    pub fn contacts(&self) -> Result<Contacts<'_>, ParseError> {
        parse_contacts(self.message())
    }

    /// The Expires header as delta-seconds (`None` when absent or not a
    /// number).
    pub fn expires(&self) -> Option<u32> {
        self.header(HeaderName::Expires).and_then(delta_seconds)
    }
}

fn parse_contacts(message: &Message) -> Result<Contacts<'_>, ParseError> {
    let head = message.head();
    let mut star = false;
    let mut list = Vec::new();
    for value in message.header_values(HeaderName::Contact) {
        for element in split_list(value) {
            let element = trim_lws(element);
            if element == "*" {
                if star {
                    return Err(ParseError::Malformed("Contact"));
                }
                star = true;
                continue;
            }
            let parsed = parse_name_addr(head, element).ok_or(ParseError::Malformed("Contact"))?;
            let mut contact = ContactValue {
                uri: message.text(parsed.uri),
                expires: None,
                instance: None,
                reg_id: None,
            };
            read_params(message.text(parsed.params), &mut contact)?;
            list.push(contact);
        }
    }
    match (star, list.is_empty()) {
        (true, true) => Ok(Contacts::Star),
        (true, false) => Err(ParseError::Malformed("Contact")),
        (false, true) => Ok(Contacts::None),
        (false, false) => Ok(Contacts::List(list)),
    }
}

/// Reads the contact-params the registrar uses; the others are kept only
/// as part of what was written.
fn read_params<'a>(mut rest: &'a str, contact: &mut ContactValue<'a>) -> Result<(), ParseError> {
    loop {
        rest = trim_lws(rest);
        if rest.is_empty() {
            return Ok(());
        }
        let params = rest
            .strip_prefix(';')
            .ok_or(ParseError::Malformed("Contact"))?;
        let (_, name, value, after) =
            parse_param(params).ok_or(ParseError::Malformed("Contact"))?;
        if name.eq_ignore_ascii_case("expires") {
            contact.expires = value.and_then(delta_seconds);
        } else if name.eq_ignore_ascii_case("+sip.instance") {
            contact.instance = value.map(|v| v.trim_matches('"'));
        } else if name.eq_ignore_ascii_case("reg-id") {
            contact.reg_id = value.and_then(|v| v.parse().ok());
        }
        rest = after;
    }
}

/// `delta-seconds = 1*DIGIT`; a value past 2³²−1 counts as 2³²−1 (RFC 3261
/// §20.19), anything else as no value.
pub fn delta_seconds(text: &str) -> Option<u32> {
    let digits = trim_lws(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.parse().unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::{Limits, parse_datagram};

    fn register(contacts: &str) -> Request {
        let text = format!(
            "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
             From: <sip:a@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: r\r\n\
             CSeq: 1 REGISTER\r\n{contacts}Expires: 99999999999\r\n\r\n"
        );
        let message = parse_datagram(text.as_bytes(), &Limits::default()).expect("parses");
        Request::validate(message).expect("valid")
    }

    #[test]
    fn expires_after_a_quoted_instance_is_read() {
        // baresip: the quoted instance holds a '>' after the URI's.
        let request = register(
            "Contact: <sip:alice-1@127.0.0.1:17020>;expires=600;+sip.instance=\"<urn:uuid:1-2>\";reg-id=1\r\n",
        );
        let Ok(Contacts::List(list)) = request.contacts() else {
            panic!("a list");
        };
        assert_eq!(
            list,
            [ContactValue {
                uri: "sip:alice-1@127.0.0.1:17020",
                expires: Some(600),
                instance: Some("<urn:uuid:1-2>"),
                reg_id: Some(1),
            }]
        );
        assert_eq!(request.expires(), Some(u32::MAX));
    }

    #[test]
    fn lists_star_and_queries() {
        let request = register(
            "Contact: \"A, B\" <sip:a@h;expires=9>;EXPIRES=5, sip:b@h;expires=x\r\nm: <sip:c@h>\r\n",
        );
        let Ok(Contacts::List(list)) = request.contacts() else {
            panic!("a list");
        };
        let parts: Vec<_> = list.iter().map(|c| (c.uri, c.expires)).collect();
        assert_eq!(
            parts,
            [
                ("sip:a@h;expires=9", Some(5)),
                ("sip:b@h", None),
                ("sip:c@h", None)
            ]
        );
        assert_eq!(register("Contact: *\r\n").contacts(), Ok(Contacts::Star));
        assert_eq!(register("").contacts(), Ok(Contacts::None));
        assert_eq!(
            register("Contact: *\r\nContact: *\r\n").contacts(),
            Err(ParseError::Malformed("Contact"))
        );
    }

    #[test]
    fn delta_seconds_clamps_and_refuses() {
        assert_eq!(delta_seconds(" 3600 "), Some(3600));
        assert_eq!(delta_seconds("4294967296"), Some(u32::MAX));
        assert_eq!(delta_seconds("-1"), None);
        assert_eq!(delta_seconds(""), None);
    }
}
