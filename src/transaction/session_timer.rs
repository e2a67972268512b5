//! Session timers, UAS side (RFC 4028 §9): the terms a 2xx to INVITE or
//! UPDATE grants from the request's Session-Expires and Min-SE, and the 422
//! for an interval below ours.

use crate::sip::{HeaderName, Request};

use super::settings::DialogSettings;

/// Who refreshes the session (RFC 4028 §7.2 `refresher`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresher {
    /// The peer refreshes; we end the session when it does not.
    Uac,
    /// We refresh, by UPDATE.
    Uas,
}

/// The session timer a 2xx grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTerms {
    /// The session interval, seconds.
    pub interval: u32,
    pub refresher: Refresher,
    /// The UAC supports the extension: the 2xx carries `Require: timer`.
    pub uac_supports: bool,
}

impl SessionTerms {
    /// The header lines of the 2xx (§9).
    pub fn header_lines(&self) -> String {
        let refresher = match self.refresher {
            Refresher::Uac => "uac",
            Refresher::Uas => "uas",
        };
        let mut lines = format!(
            "Session-Expires: {};refresher={refresher}\r\n",
            self.interval
        );
        if self.uac_supports {
            lines.push_str("Require: timer\r\n");
        }
        lines
    }
}

/// What a request's session timer headers call for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Negotiation {
    /// No session timer for this request's dialog.
    None,
    /// A 2xx grants these terms.
    Grant(SessionTerms),
    /// §9: the interval is below our minimum and the UAC supports the
    /// extension: 422 with `Min-SE: min_se`.
    TooBrief { min_se: u32 },
}

/// RFC 4028 §9 for an INVITE or UPDATE: Session-Expires below the larger
/// of our `min_se` and the request's Min-SE is refused with 422 when the
/// UAC supports timers, raised otherwise; without Session-Expires a UAC that
/// supports timers is asked for `session_expires` if configured. We prefer
/// the peer to refresh; we refresh (by UPDATE) only when it asks us to or
/// cannot, and only when it accepts UPDATE.
pub fn negotiate(request: &Request, settings: &DialogSettings) -> Negotiation {
    let uac_supports = has_option(request, HeaderName::Supported, "timer")
        || has_option(request, HeaderName::Require, "timer");
    let min_se = min_se(request).map_or(settings.min_se, |theirs| theirs.max(settings.min_se));
    let (interval, asked) = match request.header(HeaderName::SessionExpires).map(parse) {
        Some(Some(asked)) => asked,
        // A malformed Session-Expires is ignored like an absent one.
        Some(None) | None => match settings.session_expires.filter(|_| uac_supports) {
            Some(ours) => (ours.max(min_se), None),
            None => return Negotiation::None,
        },
    };
    if interval < min_se && uac_supports {
        return Negotiation::TooBrief { min_se };
    }
    let interval = interval.max(min_se);
    let refresher = match (uac_supports, asked) {
        (true, Some(Refresher::Uas)) | (false, _) => Refresher::Uas,
        (true, _) => Refresher::Uac,
    };
    if refresher == Refresher::Uas && !allows_update(request) {
        // We could not refresh: a UAC that supports timers refreshes
        // itself; otherwise no session timer is used.
        if !uac_supports {
            return Negotiation::None;
        }
        return Negotiation::Grant(SessionTerms {
            interval,
            refresher: Refresher::Uac,
            uac_supports,
        });
    }
    Negotiation::Grant(SessionTerms {
        interval,
        refresher,
        uac_supports,
    })
}

/// `delta-seconds *(;param)`, with an optional `refresher=uac|uas`.
fn parse(value: &str) -> Option<(u32, Option<Refresher>)> {
    let mut parts = value.split(';');
    let interval = parts.next()?.trim().parse().ok()?;
    let refresher = parts.find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("refresher") {
            return None;
        }
        match value.trim().to_ascii_lowercase().as_str() {
            "uac" => Some(Refresher::Uac),
            "uas" => Some(Refresher::Uas),
            _ => None,
        }
    });
    Some((interval, refresher))
}

fn min_se(request: &Request) -> Option<u32> {
    raw_header(request, "Min-SE")
        .and_then(|value| value.split(';').next())
        .and_then(|delta| delta.trim().parse().ok())
}

/// UPDATE is in the request's Allow (RFC 3311), or Allow is absent.
fn allows_update(request: &Request) -> bool {
    let mut allows = request
        .message()
        .header_fields()
        .filter(|(_, raw, _)| raw.eq_ignore_ascii_case("Allow"))
        .peekable();
    if allows.peek().is_none() {
        return true;
    }
    allows.any(|(_, _, value)| {
        value
            .split(',')
            .any(|method| method.trim().eq_ignore_ascii_case("UPDATE"))
    })
}

fn raw_header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request
        .message()
        .header_fields()
        .find(|(_, raw, _)| raw.eq_ignore_ascii_case(name))
        .map(|(_, _, value)| value)
}

fn has_option(request: &Request, header: HeaderName, tag: &str) -> bool {
    request
        .header_values(header)
        .flat_map(|value| value.split(','))
        .any(|option| option.trim().eq_ignore_ascii_case(tag))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::{Limits, parse_datagram};

    fn request(extra: &str) -> Request {
        let text = format!(
            "INVITE sip:u@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:u@h>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n{extra}\r\n"
        );
        Request::validate(parse_datagram(text.as_bytes(), &Limits::default()).expect("parse"))
            .expect("valid")
    }

    fn settings(session_expires: Option<u32>) -> DialogSettings {
        DialogSettings {
            session_expires,
            ..DialogSettings::default()
        }
    }

    fn grant(interval: u32, refresher: Refresher, uac_supports: bool) -> Negotiation {
        Negotiation::Grant(SessionTerms {
            interval,
            refresher,
            uac_supports,
        })
    }

    #[test]
    fn the_uac_refreshes_what_it_asked_for() {
        let asked = request("Supported: timer\r\nSession-Expires: 1800\r\n");
        assert_eq!(
            negotiate(&asked, &settings(None)),
            grant(1800, Refresher::Uac, true)
        );
        let Negotiation::Grant(terms) = negotiate(&asked, &settings(None)) else {
            panic!("granted")
        };
        assert_eq!(
            terms.header_lines(),
            "Session-Expires: 1800;refresher=uac\r\nRequire: timer\r\n"
        );
    }

    #[test]
    fn below_min_se_is_422_when_supported_and_raised_otherwise() {
        let supported = request("Supported: timer\r\nx: 60\r\n");
        assert_eq!(
            negotiate(&supported, &settings(None)),
            Negotiation::TooBrief { min_se: 90 }
        );
        let theirs = request("k: timer\r\nSession-Expires: 100\r\nMin-SE: 120\r\n");
        assert_eq!(
            negotiate(&theirs, &settings(None)),
            Negotiation::TooBrief { min_se: 120 }
        );
        let proxy_inserted = request("Session-Expires: 60\r\nAllow: INVITE, UPDATE\r\n");
        assert_eq!(
            negotiate(&proxy_inserted, &settings(None)),
            grant(90, Refresher::Uas, false)
        );
    }

    #[test]
    fn we_refresh_only_when_asked_and_allowed_to_update() {
        let asks_us = request("Supported: timer\r\nSession-Expires: 600;refresher=uas\r\n");
        assert_eq!(
            negotiate(&asks_us, &settings(None)),
            grant(600, Refresher::Uas, true)
        );
        let no_update = request(
            "Supported: timer\r\nSession-Expires: 600;refresher=uas\r\nAllow: INVITE, ACK, BYE\r\n",
        );
        assert_eq!(
            negotiate(&no_update, &settings(None)),
            grant(600, Refresher::Uac, true)
        );
        let unsupported = request("Session-Expires: 600\r\nAllow: INVITE, BYE\r\n");
        assert_eq!(negotiate(&unsupported, &settings(None)), Negotiation::None);
    }

    #[test]
    fn without_session_expires_we_ask_only_if_configured_and_supported() {
        assert_eq!(
            negotiate(&request("Supported: timer\r\n"), &settings(None)),
            Negotiation::None
        );
        assert_eq!(
            negotiate(&request("Supported: timer\r\n"), &settings(Some(1800))),
            grant(1800, Refresher::Uac, true)
        );
        assert_eq!(
            negotiate(&request(""), &settings(Some(1800))),
            Negotiation::None
        );
        assert_eq!(
            negotiate(
                &request("Supported: timer\r\nSession-Expires: soon\r\n"),
                &settings(None)
            ),
            Negotiation::None
        );
    }
}
