//! `explain`: which rule a SIP message matches, why each earlier rule did
//! not, and a dry run of the real path — the daemon's own dispatch,
//! transaction layer and rules, over a recording flow on a virtual clock —
//! showing every message it would send, when and to where. It binds nothing.

mod dry_run;
mod peer;

use std::net::{Ipv4Addr, SocketAddr};

use thiserror::Error;

use crate::config::Config;
use crate::engine::protocol::refusal;
use crate::rules::MatchInput;
use crate::sip::{self, ParseError, Request, Transport};
use crate::transport::ListenerInfo;
use dry_run::{End, Sender, Timeline};

/// Input `explain` cannot say anything useful about.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ExplainError {
    #[error("the message is empty (on UDP a CRLF keep-alive, which is ignored)")]
    Empty,
    #[error("the message is a SIP response ({status}), not a request")]
    NotARequest { status: u16 },
    #[error("the dry run could not start: {0}")]
    Setup(String),
}

/// Explains what a freshly started daemon running `config` does with
/// `message` arriving from `source` over `transport`.
pub fn explain(
    config: &Config,
    message: &[u8],
    source: SocketAddr,
    transport: Transport,
) -> Result<String, ExplainError> {
    let listener = listener(config, transport);
    let mut out = String::new();
    let request = match sip::parse_datagram(message, &config.server.limits) {
        Err(ParseError::Empty) => return Err(ExplainError::Empty),
        Ok(parsed) if !parsed.is_request() => {
            let status = parsed.status().unwrap_or_default();
            return Err(ExplainError::NotARequest { status });
        }
        Err(error) => {
            line(&mut out, format!("unparseable message: {error}"));
            None
        }
        Ok(parsed) => match Request::validate(parsed) {
            Ok(request) => {
                describe(&mut out, config, &request, source, transport);
                Some(request)
            }
            Err(rejected) => {
                let method = rejected.message.method().unwrap_or("?");
                line(
                    &mut out,
                    format!("malformed {method} request: {}", rejected.error),
                );
                None
            }
        },
    };
    let timeline = dry_run::run(config, message, source, &listener, request.as_ref())
        .map_err(ExplainError::Setup)?;
    show_timeline(&mut out, &timeline);
    Ok(out)
}

/// The listener the request arrives on: the first of its transport.
fn listener(config: &Config, transport: Transport) -> ListenerInfo {
    let local = config
        .listeners
        .iter()
        .find(|l| l.transport == transport)
        .map_or(SocketAddr::from((Ipv4Addr::LOCALHOST, 5060)), |l| l.address);
    ListenerInfo::new(transport, local, config.server.public_address.as_deref())
}

/// The request, what answers it before the rules, and each rule's verdict.
fn describe(
    out: &mut String,
    config: &Config,
    request: &Request,
    source: SocketAddr,
    transport: Transport,
) {
    let method = request.method();
    line(
        out,
        format!(
            "request: {method} {} (Call-ID {}) from {source} over {transport}",
            request.uri(),
            request.call_id()
        ),
    );
    let in_dialog = request.to_tag().is_some();
    match method {
        "ACK" => {
            return line(
                out,
                "ACK is never answered: it confirms a final response (RFC 3261 §17.2.1, §13.3.1.4)",
            );
        }
        "CANCEL" | "PRACK" => {
            return line(
                out,
                "answered by the transaction layer: a freshly started daemon has no transaction it could match",
            );
        }
        _ if in_dialog => {
            return line(
                out,
                "in-dialog request: a freshly started daemon has no dialog, so the transaction layer answers 481 (in a dialog it established, BYE gets 200 and other requests go to the rules)",
            );
        }
        _ => {}
    }
    // A fresh daemon's nonce secret: credentials in the file hold a nonce
    // it never issued, so they count as absent (their digest may be right).
    let service = crate::auth::AuthService::default();
    let checker = crate::auth::Checker::new(request, &config.auth, &service);
    let input = MatchInput {
        request,
        source,
        transport,
        scope: config.server.scope.of(request),
        auth: Some(&checker),
    };
    let rules = &config.rules;
    let allowed = config.server.allowed_methods.as_deref();
    let reliable = crate::engine::Snapshot::of(config).layer.reliable;
    if let Some(refusal) = refusal(request, rules, allowed, reliable, &input) {
        return line(
            out,
            format!("refused before the rules are tried: {}", refusal.why),
        );
    }
    verdicts(out, rules, &input);
}

/// Each rule's verdict in order, up to the first that matches.
fn verdicts(out: &mut String, rules: &crate::rules::RuleSet, input: &MatchInput<'_>) {
    let mut matched = false;
    for (rule, verdict) in rules.explain(input) {
        match verdict {
            Ok(()) => {
                matched = true;
                line(out, format!("rule {}: MATCH", rule.name));
                if rule.every > 1 {
                    line(
                        out,
                        format!(
                            "   (it takes only every {}th matching request; the others go on to the next rules)",
                            rule.every
                        ),
                    );
                }
                if let Some(auth) = &rule.auth {
                    let word = input
                        .auth
                        .map_or("absent", |checker| checker.verdict(Some(auth)).word());
                    line(
                        out,
                        format!(
                            "   requires: {} (this request's: {word}; a fresh daemon issued no nonce, so what came is stale at best)",
                            auth.describe()
                        ),
                    );
                }
                out.push_str(&rule.choice.to_string());
            }
            Err(mismatch) => line(
                out,
                format!(
                    "rule {}: no match (first failing condition: {mismatch})",
                    rule.name
                ),
            ),
        }
    }
    if !matched {
        line(out, "no rule matched: the fallback answers");
    }
}

fn show_timeline(out: &mut String, timeline: &Timeline) {
    line(
        out,
        "dry run (virtual clock; a well-behaved client ACKs final responses, PRACKs reliable \
         provisional responses and answers 200 to requests):",
    );
    if !timeline
        .sent
        .iter()
        .any(|sent| matches!(sent.sender, Sender::Daemon(_)))
    {
        line(
            out,
            "nothing is sent (the input is dropped, with a log line)",
        );
    }
    for sent in &timeline.sent {
        let ms = sent.at.as_millis();
        match &sent.sender {
            Sender::Daemon(to) => {
                line(out, format!("at {ms} ms, sent to {to}:"));
                show(out, &sent.bytes);
            }
            Sender::Client(what) => line(out, format!("at {ms} ms, the client sends {what}")),
        }
    }
    if let End::Cut(after) = timeline.end {
        line(
            out,
            format!(
                "(still in flight after {} ms: the dry run stops here)",
                after.as_millis()
            ),
        );
    }
}

fn line(out: &mut String, text: impl AsRef<str>) {
    out.push_str(text.as_ref());
    out.push('\n');
}

/// A message with each CRLF shown as a line break, indented.
fn show(out: &mut String, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes).replace("\r\n", "\n");
    for text_line in text.trim_end_matches('\n').split('\n') {
        if !text_line.is_empty() {
            out.push_str("    ");
        }
        line(out, text_line);
    }
}

#[cfg(test)]
mod tests;
