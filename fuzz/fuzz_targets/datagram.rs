//! datagram → parse → validate → rule match → render → response build, as
//! the UDP path does it, against a representative rule set
//! (`rules.toml`). Invalid requests go the 400/505 path
//! (`ResponseTemplate::for_rejected`); responses go to `ResponseSummary`.
//!
//! Credentials (Authorization, Proxy-Authorization) are parsed, verified
//! against the rule set's `[auth]` and masked as the journal and the logs
//! mask them.
//!
//! Besides "never panics", it checks what the wire depends on: every
//! response written parses back as a response with the status sent and
//! the body sent, templated header text never carries CR, LF or NUL, and
//! a 400 carries no control character whatever the request held.

#![no_main]

mod common;

use std::net::SocketAddr;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sip_autoresponder::auth::{self, AuthService, Checker};
use sip_autoresponder::engine::protocol;
use sip_autoresponder::rules::template::Vars;
use sip_autoresponder::rules::{MatchInput, ReplyPolicy};
use sip_autoresponder::sip::{
    self, Limits, Rejected, Request, ResponseParts, ResponseSummary, ResponseTemplate, Transport,
    parse_datagram,
};
use sip_autoresponder::transaction::{DialogSettings, RAck, ReliableMode, negotiate, sends_reliably};

const SERVER: &[u8] = b"Server: fuzz\r\n";
const TO_TAG: &str = "fuzztag123";
const CONTACT: &str = "sip:fuzz@127.0.0.1:5060";

/// The nonce secret and counts of a daemon (nonces from the input are
/// foreign to it, so a right digest ends stale: still every step runs).
static AUTH: LazyLock<AuthService> = LazyLock::new(AuthService::default);

/// An `allowed_methods` list, so that the 405 check runs too.
static ALLOWED: LazyLock<Vec<String>> = LazyLock::new(|| {
    ["INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "PRACK"]
        .map(String::from)
        .to_vec()
});

fuzz_target!(|data: &[u8]| {
    let _ = sip::excerpt(data);
    // What a log excerpt of a message that did not parse shows.
    let masked = auth::masked_message(data);
    assert!(masked.len() <= data.len() + 64 * data.split(|&b| b == b'\n').count());
    let Ok(message) = parse_datagram(data, &Limits::default()) else {
        return;
    };
    let _ = message.defect();
    let _ = message.header_fields().count();
    let (source, transport) = common::origin(data);
    if !message.is_request() {
        let _ = message.status();
        let _ = message.reason();
        let _ = ResponseSummary::of(&message);
        return;
    }
    match Request::validate(message) {
        Ok(request) => answer(&request, source, transport),
        Err(rejected) => answer_rejected(&rejected, source),
    }
});

fn answer(request: &Request, source: SocketAddr, transport: Transport) {
    // The accessors the transaction layer and the engine use.
    let via = request.top_via();
    let _ = sip::udp_response_destination(source, via.port, via.rport, false);
    let _ = (
        request.max_forwards(),
        request.contact_uri(),
        request.record_routes(),
    );
    let _ = (
        request.from_display(),
        request.to_display(),
        request.from_value(),
    );
    let _ = (sip::scheme(request.uri()), sip::sip_user(request.uri()));
    let _ = sip::sip_host_port(request.uri());

    let config = common::config();
    for (_, name, value) in request.message().header_fields() {
        if auth::carries_credentials(name) {
            let masked = auth::mask_credentials(value);
            assert!(masked.ends_with(auth::MASK), "{masked}");
        }
    }
    let checker = Checker::new(request, &config.auth, &AUTH);
    let _ = checker.verdict(None);
    let input = MatchInput {
        request,
        source,
        transport,
        scope: config.server.scope.of(request),
        auth: Some(&checker),
    };
    let _ = config.rules.matches_any(&input);
    // The checks before the rules, and RFC 3262's: with each setting.
    for mode in [
        ReliableMode::Required,
        ReliableMode::Supported,
        ReliableMode::Never,
    ] {
        let _ = protocol::refusal(
            request,
            &config.rules,
            Some(ALLOWED.as_slice()),
            mode,
            &input,
        );
        let _ = sends_reliably(request, mode);
    }
    // RFC 4028: the session timer terms or 422, with and without ours.
    for session_expires in [None, Some(1800)] {
        let settings = DialogSettings {
            session_expires,
            ..DialogSettings::default()
        };
        let _ = negotiate(request, &settings);
    }
    let _ = RAck::of(request);
    let selected = config.rules.select(&input);
    let vars = Vars {
        request,
        source,
        transport,
        local: "127.0.0.1:5060".parse().expect("addr"),
        rule: &selected.rule,
        counter: selected.counter,
        captures: &selected.captures,
        auth: None,
    };
    let template = ResponseTemplate::for_request(request, source, TO_TAG, CONTACT);
    let mut out = Vec::with_capacity(1024);
    let mut session_version = 1;
    for step in selected.policy.steps() {
        let Ok(rendered) = step.render(&vars, || {
            session_version += 1;
            Ok::<_, std::convert::Infallible>(common::sdp_answer(request.body(), session_version))
        });
        assert!(
            !rendered.reason.contains(['\r', '\n', '\0']),
            "reason carries a line break: {:?}",
            rendered.reason
        );
        common::assert_header_lines(&rendered.extra_headers);
        template.write(
            &mut out,
            SERVER,
            &ResponseParts {
                status: step.status,
                reason: &rendered.reason,
                extra_headers: &rendered.extra_headers,
                content_type: rendered.content_type,
                body: &rendered.body,
            },
        );
        common::check_response(&out, step.status, &rendered.body);
    }
    if let ReplyPolicy::Respond {
        message: Some(message),
        ..
    } = selected.policy.as_ref()
    {
        let _ = message.body.render(&vars);
        common::assert_header_lines(&message.extra_headers.render(&vars));
    }
}

fn answer_rejected(rejected: &Rejected, source: SocketAddr) {
    let _ = rejected.top_via();
    let Some(status) = rejected.status() else {
        return;
    };
    let Some(template) = ResponseTemplate::for_rejected(rejected, source, TO_TAG) else {
        return;
    };
    // The defect's text is logged, and for a 400 it is the reason phrase:
    // one short line of text, whatever the input.
    let defect = rejected.error.to_string();
    assert!(
        defect.len() <= 128 && !defect.chars().any(char::is_control),
        "defect text not a short single line: {defect:?}"
    );
    // As the engine words it.
    let reason = match status {
        400 => format!("{} ({defect})", sip::reason_phrase(status)),
        _ => sip::reason_phrase(status).to_owned(),
    };
    let mut out = Vec::new();
    template.write(
        &mut out,
        SERVER,
        &ResponseParts {
            status,
            reason: &reason,
            ..ResponseParts::default()
        },
    );
    common::check_response(&out, status, b"");
    // Whatever the request held, the 400 carries no control character but
    // its CR LF line ends and HTAB (RFC 3261 §25.1; issue 13).
    let head_end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(out.len());
    let head = &out[..head_end];
    for (at, &byte) in head.iter().enumerate() {
        let line_end = (byte == b'\r' && head.get(at + 1) == Some(&b'\n'))
            || (byte == b'\n' && at > 0 && head[at - 1] == b'\r');
        let control = (byte < 0x20 && byte != b'\t') || byte == 0x7F;
        assert!(
            !control || line_end,
            "a control character went out at {at}: {}",
            out.escape_ascii()
        );
    }
}
