//! RFC 3261 §8.2 checks a UAS makes before the rules see a request, and the
//! default answer to in-dialog requests no rule handles.

use std::sync::Arc;

use crate::rules::template::Template;
use crate::rules::{Body, Delay, HeaderLines, MatchInput, ReplyPolicy, RuleSet, Selected, Step};
use crate::sip::{self, HeaderName, Request, Verb, reason_phrase};
use crate::transaction::{Dialog, ReliableMode};

/// RFC 3262's option tag.
const OPTION_100REL: &str = "100rel";
/// RFC 4028's option tag.
const OPTION_TIMER: &str = "timer";

/// The rule name events carry for answers these checks give.
pub const RULE: &str = "protocol";

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    /// `Name: value\r\n` lines.
    pub extra_headers: String,
    /// Why, for logs and `explain`.
    pub why: String,
}

/// The RFC 3261 §8.2 checks a UAS makes before the rules see a request.
/// `allowed_methods` is the config's list, if any. Rules are only matched,
/// never taken (no `every` or sequence state moves).
pub fn refusal(
    request: &Request,
    rules: &RuleSet,
    allowed_methods: Option<&[String]>,
    reliable: ReliableMode,
    input: &MatchInput<'_>,
) -> Option<Refusal> {
    let method = request.method();
    // §8.2.1: 405 with Allow for a method the config does not allow.
    if let Some(allowed) = allowed_methods
        && !allowed.iter().any(|m| m == method)
    {
        return Some(Refusal {
            status: 405,
            extra_headers: format!("Allow: {}\r\n", allowed.join(", ")),
            why: format!("{method} is not in allowed_methods (RFC 3261 §8.2.1)"),
        });
    }
    // §8.2.1: 501 for a method nobody knows, unless a rule answers it.
    if !KNOWN_METHODS.contains(&method) && !rules.matches_any(input) {
        return Some(Refusal {
            status: 501,
            extra_headers: String::new(),
            why: format!("{method} is an unknown method no rule answers (RFC 3261 §8.2.1)"),
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
            why: format!(
                "Request-URI scheme `{scheme}` is not sip, sips or tel (RFC 3261 §8.2.2.1)"
            ),
        });
    }
    // §8.2.2.3: the extensions implemented are 100rel for INVITE (RFC
    // 3262, unless the config turns it off) and session timers for INVITE
    // and UPDATE (RFC 4028); every other Require option is unsupported.
    // CANCEL is exempt and Proxy-Require is for proxies.
    if method != "CANCEL" {
        let knows_100rel = method == "INVITE" && reliable != ReliableMode::Never;
        let knows_timer = matches!(method, "INVITE" | "UPDATE");
        let supported = |tag: &str| {
            (knows_100rel && tag.eq_ignore_ascii_case(OPTION_100REL))
                || (knows_timer && tag.eq_ignore_ascii_case(OPTION_TIMER))
        };
        let unsupported: Vec<&str> = option_tags(request, HeaderName::Require)
            .filter(|tag| !supported(tag))
            .collect();
        if !unsupported.is_empty() {
            let list = unsupported.join(", ");
            return Some(Refusal {
                status: 420,
                extra_headers: format!("Unsupported: {list}\r\n"),
                why: format!("Require: {list} is not supported (RFC 3261 §8.2.2.3)"),
            });
        }
    }
    None
}

/// The option tags of every `name` header (comma-separated lists).
fn option_tags(request: &Request, name: HeaderName) -> impl Iterator<Item = &str> {
    request
        .header_values(name)
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|tag| !tag.is_empty())
}

/// An UPDATE in an early dialog no rule answers gets 200, with the SDP
/// answer to its offer (RFC 3311 §5.2; none without an offer).
pub(super) fn early_dialog_default() -> Selected {
    accept_200(RULE.into(), Some("application/sdp".into()), Body::SdpAnswer)
}

/// An in-dialog request no rule answers gets 200; a re-INVITE or UPDATE that
/// carries an offer gets the dialog's previous SDP answer again.
pub(super) fn in_dialog_default(request: &Request, dialog: &Dialog) -> Selected {
    let offers = matches!(request.method(), "INVITE" | "UPDATE") && !request.body().is_empty();
    let answer = dialog
        .answer()
        .filter(|_| offers)
        .and_then(|b| String::from_utf8(b.to_vec()).ok());
    accept_200(
        dialog.rule(),
        answer.is_some().then(|| "application/sdp".into()),
        answer.map_or(Body::None, |sdp| Body::Text(Template::literal(&sdp))),
    )
}

/// A policy answering 200 at once.
fn accept_200(rule: Arc<str>, content_type: Option<Box<str>>, body: Body) -> Selected {
    let step = Step {
        verb: Verb::Accept,
        status: 200,
        reason: Template::literal(reason_phrase(200)),
        extra_headers: HeaderLines::default(),
        content_type,
        body,
        delay: Delay::ZERO,
        hangup_after: None,
        media: None,
    };
    Selected {
        rule,
        policy: Arc::new(ReplyPolicy::Respond {
            progress: Vec::new(),
            final_step: Some(step),
            message: None,
            no_answer: None,
            no_media_port: None,
        }),
        counter: 0,
        captures: Vec::new(),
        seed: 0,
        stateless: false,
        auth: None,
    }
}
