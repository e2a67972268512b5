//! `explain`: which rule a SIP message matches, why each earlier rule did
//! not, and the exact responses the daemon would send with their delays —
//! without binding a socket or starting a transaction.

use std::net::{Ipv4Addr, SocketAddr};

use thiserror::Error;

use crate::config::Config;
use crate::engine::protocol::{refusal, sends_reliably};
use crate::engine::sdp::SdpReply;
use crate::rules::template::Vars;
use crate::rules::{AutoMessage, Delay, MatchInput, ReplyPolicy, Step};
use crate::sip::{
    self, MAGIC_COOKIE, OutgoingRequest, ParseError, Rejected, Request, ResponseParts,
    ResponseTemplate, Transport, reason_phrase,
};
use crate::transaction::{RAck, reliable_header_lines};
use crate::transport::ListenerInfo;

/// Stands for the random To-tag of the transaction.
pub const TO_TAG: &str = "<to-tag>";

/// Input `explain` cannot say anything useful about.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ExplainError {
    #[error("the message is empty (on UDP a CRLF keep-alive, which is ignored)")]
    Empty,
    #[error("the message is a SIP response ({status}), not a request")]
    NotARequest { status: u16 },
}

/// Explains what the daemon running `config` would do with `message`
/// arriving from `source` over `transport`, as a fresh daemon sees it: no
/// transaction or dialog exists yet.
pub fn explain(
    config: &Config,
    message: &[u8],
    source: SocketAddr,
    transport: Transport,
) -> Result<String, ExplainError> {
    let mut out = Report::new(config, source, transport);
    let parsed = match sip::parse_datagram(message, &config.server.limits) {
        Ok(parsed) => parsed,
        Err(ParseError::Empty) => return Err(ExplainError::Empty),
        Err(error) => {
            out.line(format!(
                "unparseable message: {error}\ndropped: no response can be routed (logged at warn)"
            ));
            return Ok(out.text);
        }
    };
    if !parsed.is_request() {
        let status = parsed.status().unwrap_or_default();
        return Err(ExplainError::NotARequest { status });
    }
    match Request::validate(parsed) {
        Ok(request) => out.request(&request),
        Err(rejected) => out.rejected(&rejected),
    }
    Ok(out.text)
}

/// The explanation being written, and what responses are rendered with.
struct Report<'a> {
    config: &'a Config,
    source: SocketAddr,
    transport: Transport,
    listener: ListenerInfo,
    server_header: String,
    text: String,
}

impl<'a> Report<'a> {
    fn new(config: &'a Config, source: SocketAddr, transport: Transport) -> Self {
        // The daemon answers through the listener the request arrived on:
        // here the first one of that transport.
        let local = config
            .listeners
            .iter()
            .find(|l| l.transport == transport)
            .map_or(SocketAddr::from((Ipv4Addr::LOCALHOST, 5060)), |l| l.address);
        let public = config.server.public_address.as_deref();
        Self {
            config,
            source,
            transport,
            listener: ListenerInfo::new(transport, local, public),
            server_header: format!("Server: {}\r\n", config.server.user_agent),
            text: String::new(),
        }
    }

    fn line(&mut self, line: impl AsRef<str>) {
        self.text.push_str(line.as_ref());
        self.text.push('\n');
    }

    /// A message that failed validation: 400/505 when routable (RFC 3261
    /// §8.2, §16.3), else dropped — as `Engine::answer_malformed` does.
    fn rejected(&mut self, rejected: &Rejected) {
        let method = rejected.message.method().unwrap_or("?");
        self.line(format!("malformed {method} request: {}", rejected.error));
        let routable = rejected.top_via().is_some() && method != "ACK";
        let template = ResponseTemplate::for_rejected(rejected, self.source, TO_TAG);
        match (rejected.status().filter(|_| routable), template) {
            (Some(status), Some(template)) => {
                let reason = match status {
                    400 => format!("{} ({})", reason_phrase(status), rejected.error),
                    _ => reason_phrase(status).to_owned(),
                };
                self.line("answered statelessly before any rule is tried:");
                self.response(&template, 0, status, &reason, &ResponseParts::default());
            }
            _ => self.line("dropped: no response can be routed (logged at warn)"),
        }
    }

    fn request(&mut self, request: &Request) {
        let method = request.method();
        self.line(format!(
            "request: {method} {} (Call-ID {}) from {} over {}",
            request.uri(),
            request.call_id(),
            self.source,
            self.transport
        ));
        self.line(format!("responses go to {}", self.destination(request)));
        let template =
            ResponseTemplate::for_request(request, self.source, TO_TAG, &self.listener.contact);
        if !self.transaction_layer(request, &template) {
            return;
        }
        let in_dialog = request.to_tag().is_some();
        let input = MatchInput {
            request,
            source: self.source,
            transport: self.transport,
        };
        let allowed = self.config.server.allowed_methods.as_deref();
        let reliable = self.config.server.reliable_provisionals;
        if let Some(refusal) = refusal(request, &self.config.rules, allowed, reliable, &input) {
            self.line(format!(
                "refused before the rules are tried: {}",
                refusal.why
            ));
            let parts = ResponseParts {
                extra_headers: refusal.extra_headers.as_bytes(),
                ..ResponseParts::default()
            };
            self.response(
                &template,
                0,
                refusal.status,
                reason_phrase(refusal.status),
                &parts,
            );
            return;
        }
        let rules = &self.config.rules;
        let mut matched = None;
        for (rule, verdict) in rules.explain(&input) {
            match verdict {
                Ok(()) => {
                    self.line(format!("rule {}: MATCH", rule.name));
                    if rule.every > 1 {
                        self.line(format!("   (it takes only every {}th matching request; the others go on to the next rules)", rule.every));
                    }
                    matched = Some((
                        rule.name.clone(),
                        rule.choice
                            .policies()
                            .into_iter()
                            .cloned()
                            .collect::<Vec<_>>(),
                        rule.matcher.captures(&input),
                    ));
                }
                Err(mismatch) => self.line(format!(
                    "rule {}: no match (first failing condition: {mismatch})",
                    rule.name
                )),
            }
        }
        let (rule, policies, captures) = match matched {
            Some(found) => found,
            None if in_dialog => {
                return self.line("no rule matched: 200 OK (the dialog's default)");
            }
            None => {
                self.line("no rule matched: the fallback answers");
                (
                    crate::rules::FALLBACK_RULE.into(),
                    vec![rules.fallback_selection().policy],
                    Vec::new(),
                )
            }
        };
        let vars = Vars {
            request,
            source: self.source,
            transport: self.transport,
            local: self.listener.local,
            rule: &rule,
            counter: 1,
            captures: &captures,
        };
        let count = policies.len();
        for (i, policy) in policies.iter().enumerate() {
            if count > 1 {
                self.line(format!(
                    "possible policy {} of {count} (weighted outcome or sequence step):",
                    i + 1
                ));
            }
            self.policy(request, &template, policy, &vars);
        }
    }

    /// What the transaction layer answers before the rules (RFC 3261 §17,
    /// §9.2, §12.2.2) in a daemon with no transaction or dialog yet; returns
    /// whether the rules still get to decide (in an established dialog).
    fn transaction_layer(&mut self, request: &Request, template: &ResponseTemplate) -> bool {
        const ACK: &str = "ACK is never answered: it confirms the final response of its \
            INVITE transaction or dialog (RFC 3261 §17.2.1, §13.3.1.4)";
        const CANCEL: &str = "CANCEL: no INVITE transaction exists in a freshly started \
            daemon, so the transaction layer answers:";
        const CANCEL_LATER: &str = "matching a ringing INVITE it would get 200, and the INVITE \
            487 Request Terminated (RFC 3261 §9.2)";
        const DIALOG: &str = "in-dialog request: no dialog exists in a freshly started \
            daemon, so the transaction layer answers:";
        const BYE_LATER: &str =
            "in a dialog the daemon established it would get 200 OK and end the dialog";
        const RULES_LATER: &str =
            "in a dialog the daemon established, the rules decide (no match: 200 OK):";
        const PRACK: &str = "PRACK: answered by the transaction layer, never by the rules \
            (RFC 3262 §3): 200 when its RAck names a reliable provisional response awaiting \
            PRACK (with the SDP answer when it carries a new offer), else 481 (as in a \
            freshly started daemon, where none awaits); 400 without a valid RAck:";
        let method = request.method();
        if method == "ACK" {
            self.line(ACK);
            return false;
        }
        if method == "PRACK" {
            self.line(PRACK);
            let status = if RAck::of(request).is_some() {
                481
            } else {
                400
            };
            let parts = ResponseParts::default();
            self.response(template, 0, status, reason_phrase(status), &parts);
            return false;
        }
        if method != "CANCEL" && method != "BYE" && request.to_tag().is_none() {
            return true;
        }
        self.line(if method == "CANCEL" { CANCEL } else { DIALOG });
        let parts = ResponseParts::default();
        self.response(template, 0, 481, reason_phrase(481), &parts);
        match method {
            "CANCEL" => self.line(CANCEL_LATER),
            "BYE" => self.line(BYE_LATER),
            _ => {
                self.line(RULES_LATER);
                return true;
            }
        }
        false
    }

    fn policy(
        &mut self,
        request: &Request,
        template: &ResponseTemplate,
        policy: &ReplyPolicy,
        vars: &Vars<'_>,
    ) {
        if matches!(policy, ReplyPolicy::Drop) {
            return self.line("drop: no response is sent (logged as `dropped`)");
        }
        if let ReplyPolicy::Register(register) = policy {
            return self.line(format!(
                "registrar: 200 echoing each Contact with its expiry clamped to {}-{} s (default {} s), \
                 423 Interval Too Brief with Min-Expires below {} s, Contact: * with Expires: 0 removes all",
                register.min_expires, register.max_expires, register.default_expires, register.min_expires
            ));
        }
        let is_invite = request.method() == "INVITE";
        let reliable = sends_reliably(request, self.config.server.reliable_provisionals);
        if reliable {
            self.line(format!(
                "provisional responses go reliably (RFC 3262): each 101-199 carries \
                 Require: 100rel and an RSeq one higher than the last, is sent again until its \
                 PRACK, and waits for the PRACK of the one before; a 2xx waits for the PRACK of \
                 one with SDP; without a PRACK for {} ms the INVITE gets 500",
                self.config.server.timers.timeout().as_millis()
            ));
        }
        self.line("responses (each delay counts from the previous response):");
        // RFC 3261 §17.2.1: 100 Trying at once when the first answer waits.
        if is_invite && !policy.first_response_is_immediate() {
            self.response(
                template,
                0,
                100,
                reason_phrase(100),
                &ResponseParts::default(),
            );
        }
        let mut final_step: Option<&Step> = None;
        for step in policy.steps() {
            let rendered = step.render(vars, || {
                match SdpReply::for_request(request) {
                    SdpReply::Answer => "<SDP answer derived from the offer>\r\n",
                    SdpReply::Offer => "<SDP offer (the request has none)>\r\n",
                    SdpReply::Nothing => "",
                }
                .to_owned()
            });
            let mut extra_headers = rendered.extra_headers.clone();
            if reliable && (101..200).contains(&step.status) {
                extra_headers = reliable_header_lines("<RSeq>", &extra_headers).into();
            }
            let parts = ResponseParts {
                status: step.status,
                reason: &rendered.reason,
                extra_headers: &extra_headers,
                content_type: rendered.content_type,
                body: &rendered.body,
            };
            match step.delay {
                Delay::Range { .. } => self.line(format!(
                    "(delay drawn from {} for each request; the shortest shown)",
                    step.delay
                )),
                Delay::Fixed(_) => {}
            }
            let delay = match step.delay {
                Delay::Fixed(delay) | Delay::Range { min: delay, .. } => delay.as_millis(),
            };
            self.response(template, delay, step.status, &rendered.reason, &parts);
            if step.status >= 200 {
                final_step = Some(step);
            }
        }
        if is_invite {
            self.after_final(request, final_step);
        }
        if let Some(message) = policy.auto_message() {
            self.auto_message(request, message, vars);
        }
    }

    /// What an INVITE transaction does after its last step (RFC 3261
    /// §17.2.1, §13.3.1.4), as `engine::runner` does it.
    fn after_final(&mut self, request: &Request, final_step: Option<&Step>) {
        let timeout = self.config.server.timers.timeout().as_millis();
        let Some(step) = final_step else {
            return self.line(
                "no final response: it rings until the client sends CANCEL (then 487) \
                 or for 180000 ms (Timer C)",
            );
        };
        if step.status >= 300 {
            return self.line(format!(
                "then it waits for the ACK (over UDP the response is retransmitted on \
                 Timer G, for at most {timeout} ms)"
            ));
        }
        self.line(format!(
            "then it waits for the ACK, retransmitting the 2xx (RFC 3261 §13.3.1.4); \
             without an ACK within {timeout} ms it sends BYE and logs failed (No ACK)"
        ));
        if let Some(after) = step.hangup_after {
            let target = request.contact_uri().unwrap_or(request.from_uri());
            self.line(format!(
                "after {} ms: BYE to {target} in the dialog (hangup_after_ms)",
                after.as_millis()
            ));
        }
    }

    /// The auto-reply MESSAGE, rendered like `engine::runner`'s, with
    /// placeholders for its random tag, branch and Call-ID.
    fn auto_message(&mut self, request: &Request, message: &AutoMessage, vars: &Vars<'_>) {
        let extra_headers = message.extra_headers.render(vars);
        let body = message.body.render(vars);
        let target = message.target.as_deref().unwrap_or(request.from_uri());
        let (from, to) = (format!("<{}>", request.to_uri()), format!("<{target}>"));
        let call_id = format!("<call-id>@{}", self.listener.sent_by);
        let branch = format!("{MAGIC_COOKIE}<branch>");
        let outgoing = OutgoingRequest {
            method: "MESSAGE",
            request_uri: target,
            transport: self.transport,
            sent_by: &self.listener.sent_by,
            branch: &branch,
            from: &from,
            from_tag: "<tag>",
            to: &to,
            call_id: &call_id,
            cseq: 1,
            routes: &[],
            user_agent: &self.config.server.user_agent,
            extra_headers: &extra_headers,
            content_type: Some(&message.content_type),
            body: body.as_bytes(),
        };
        let mut bytes = Vec::new();
        outgoing.write(&mut bytes);
        let via = match &message.target {
            Some(_) => format!("to {target} (resolved when sent)"),
            None => format!("back to {} over {}", self.source, self.transport),
        };
        self.line(format!(
            "after {} ms (after the final response): auto-reply MESSAGE {via}:",
            message.delay.as_millis()
        ));
        self.show(&bytes);
    }

    /// Renders one response exactly as the transaction would send it.
    fn response(
        &mut self,
        template: &ResponseTemplate,
        delay_ms: u128,
        status: u16,
        reason: &str,
        parts: &ResponseParts<'_>,
    ) {
        let parts = ResponseParts {
            status,
            reason,
            ..*parts
        };
        let mut bytes = Vec::new();
        template.write(&mut bytes, self.server_header.as_bytes(), &parts);
        self.line(format!("after {delay_ms} ms:"));
        self.show(&bytes);
    }

    /// A message with each CRLF shown as a line break, indented.
    fn show(&mut self, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes).replace("\r\n", "\n");
        for line in text.trim_end_matches('\n').split('\n') {
            if !line.is_empty() {
                self.text.push_str("    ");
            }
            self.line(line);
        }
    }

    /// Where responses go (RFC 3261 §18.2.2, RFC 3581).
    fn destination(&self, request: &Request) -> String {
        if self.transport.is_reliable() {
            return format!("{} over the connection the request came on", self.source);
        }
        let via = request.top_via();
        let force = self.config.server.force_rport;
        let to = sip::udp_response_destination(self.source, via.port, via.rport, force);
        format!("{to} over udp")
    }
}

#[cfg(test)]
mod tests;
