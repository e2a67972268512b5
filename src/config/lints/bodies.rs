//! Bodies that will confuse the peer: SDP with bare LF line ends (RFC 8866
//! §5 asks for CRLF), JSON sent as text/plain.

use std::ops::Range;

use super::{LintInput, policies_of};
use crate::config::error::Diagnostics;
use crate::config::model::{BodySection, PolicySection};

pub(super) fn bodies(input: &LintInput<'_>, diag: &mut Diagnostics<'_>) {
    let rules = input
        .sections
        .rules
        .iter()
        .flat_map(|r| policies_of(r.get_ref()));
    let fallback = input.sections.fallback.iter().map(|f| f.get_ref().clone());
    for policy in rules.chain(fallback) {
        check_policy(&policy, diag);
    }
}

fn check_policy(policy: &PolicySection, diag: &mut Diagnostics<'_>) {
    let steps = policy
        .progress
        .iter()
        .chain(&policy.accept)
        .chain(&policy.reject)
        .chain(&policy.reply);
    for step in steps {
        let Some(body) = &step.body else {
            continue;
        };
        let BodySection::Text(text) = body.get_ref() else {
            continue;
        };
        let content_type = step.content_type.as_ref().map(|ct| ct.get_ref().as_str());
        check_body(text, content_type, body.span(), diag);
    }
    if let Some(message) = &policy.message {
        let message = message.get_ref();
        if let Some(body) = &message.body {
            let content_type = message
                .content_type
                .as_ref()
                .map(|ct| ct.get_ref().as_str());
            check_body(body.get_ref(), content_type, body.span(), diag);
        }
    }
}

/// `content_type` as written (`None`: the default, application/sdp for a
/// body starting `v=0`, else text/plain).
fn check_body(
    text: &str,
    content_type: Option<&str>,
    span: Range<usize>,
    diag: &mut Diagnostics<'_>,
) {
    let media_type = content_type
        .and_then(|ct| ct.split(';').next())
        .map(|ct| ct.trim().to_ascii_lowercase());
    let is_sdp = match &media_type {
        Some(media_type) => media_type == "application/sdp",
        None => text.starts_with("v=0"),
    };
    if is_sdp && has_bare_lf(text) {
        diag.warn(
            span.clone(),
            "SDP body with bare LF line ends: SDP lines end in CRLF (RFC 8866 §5), and the body is sent as written; write \\r\\n",
        );
    }
    let plain = media_type.as_deref().is_none_or(|t| t == "text/plain");
    if plain && !is_sdp && looks_like_json(text) {
        diag.warn(
            span,
            "this body is JSON but goes out as text/plain; set content_type = \"application/json\"",
        );
    }
}

fn has_bare_lf(text: &str) -> bool {
    text.bytes()
        .enumerate()
        .any(|(i, b)| b == b'\n' && (i == 0 || text.as_bytes()[i - 1] != b'\r'))
}

/// An object or array that parses as JSON (templates inside strings keep
/// it JSON).
fn looks_like_json(text: &str) -> bool {
    let trimmed = text.trim();
    (trimmed.starts_with('{') || trimmed.starts_with('['))
        && serde_json::from_str::<serde_json::Value>(trimmed).is_ok()
}
