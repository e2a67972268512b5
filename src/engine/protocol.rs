//! RFC 3261 §8.2 checks a UAS makes before the rules see a request, and the
//! default answer to in-dialog requests no rule handles.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::Snapshot;
use crate::rules::{MatchInput, ReplyPolicy, Selected, Step};
use crate::sip::{self, HeaderName, Request, Verb, reason_phrase};
use crate::transaction::Dialog;

/// The rule name events carry for answers these checks give.
pub(super) const RULE: &str = "protocol";

/// Methods RFC 3261 and its extensions define; others are "unknown" (501).
const KNOWN_METHODS: [&str; 14] = [
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "OPTIONS",
    "REGISTER",
    "PRACK",
    "SUBSCRIBE",
    "NOTIFY",
    "PUBLISH",
    "INFO",
    "REFER",
    "MESSAGE",
    "UPDATE",
];

/// A request the rules never see, and how it is answered.
pub(super) struct Refusal {
    pub(super) status: u16,
    pub(super) extra_headers: String,
}

pub(super) fn refusal(
    request: &Request,
    snapshot: &Snapshot,
    input: &MatchInput<'_>,
) -> Option<Refusal> {
    let method = request.method();
    // §8.2.1: 405 with Allow for a method the config does not allow.
    if let Some(allowed) = &snapshot.settings.allowed_methods
        && !allowed.iter().any(|m| m == method)
    {
        return Some(Refusal {
            status: 405,
            extra_headers: format!("Allow: {}\r\n", allowed.join(", ")),
        });
    }
    // §8.2.1: 501 for a method nobody knows, unless a rule answers it.
    if !KNOWN_METHODS.contains(&method) && snapshot.rules.find(input).is_none() {
        return Some(Refusal {
            status: 501,
            extra_headers: String::new(),
        });
    }
    // §8.2.2.1: 416 for a Request-URI scheme the UAS does not support.
    let scheme = sip::scheme(request.uri()).unwrap_or("");
    if !["sip", "sips", "tel"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(scheme))
    {
        return Some(Refusal {
            status: 416,
            extra_headers: String::new(),
        });
    }
    // §8.2.2.3: no extension is implemented, so every Require option is
    // unsupported; CANCEL is exempt and Proxy-Require is for proxies.
    if method != "CANCEL" {
        let unsupported: Vec<&str> = request
            .header_values(HeaderName::Require)
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|tag| !tag.is_empty())
            .collect();
        if !unsupported.is_empty() {
            return Some(Refusal {
                status: 420,
                extra_headers: format!("Unsupported: {}\r\n", unsupported.join(", ")),
            });
        }
    }
    None
}

/// An in-dialog request no rule answers gets 200; a re-INVITE or UPDATE that
/// carries an offer gets the dialog's previous SDP answer again.
pub(super) fn in_dialog_default(request: &Request, dialog: &Dialog) -> Selected {
    let offers = matches!(request.method(), "INVITE" | "UPDATE") && !request.body().is_empty();
    let body = if offers {
        dialog.answer().unwrap_or_default()
    } else {
        Bytes::new()
    };
    let step = Step {
        verb: Verb::Accept,
        status: 200,
        reason: reason_phrase(200).into(),
        extra_headers: Bytes::new(),
        content_type: (!body.is_empty()).then(|| "application/sdp".into()),
        body,
        delay: Duration::ZERO,
        hangup_after: None,
    };
    Selected {
        rule: dialog.rule.clone(),
        policy: Arc::new(ReplyPolicy::Respond {
            progress: Vec::new(),
            final_step: Some(step),
            message: None,
        }),
    }
}
