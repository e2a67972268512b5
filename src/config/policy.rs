//! Compiling reply policies: verb ranges and defaults, templates (with their
//! variables checked against the rule's capture groups), extra header lines,
//! bodies, delays, the auto-reply MESSAGE and the registrar.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::delays::PolicyLimits;
use super::error::Diagnostics;
use super::header_lines::{check_extra_header, is_header_safe};
use super::model::{BodySection, MessageSection, PolicySection, RegisterSection, StepSection};
use super::suggest::nearest;
use crate::rules::template::{Template, TemplateError, VARIABLE_NAMES, Variable};
use crate::rules::{AutoMessage, Body, HeaderLines, RegisterPolicy, ReplyPolicy, Step};
use crate::sip::{Verb, reason_phrase};

/// Compiles the policies of one rule (or of `[fallback]`).
pub(super) struct PolicyCompiler<'a, 'd> {
    pub(super) diag: &'a mut Diagnostics<'d>,
    /// Capture group names of the rule's regexes (`${match.NAME}`).
    pub(super) captures: Vec<String>,
    /// Set when a template uses `${match.NAME}`.
    pub(super) uses_captures: bool,
    pub(super) limits: PolicyLimits,
}

impl PolicyCompiler<'_, '_> {
    /// A policy; `anchor` is where errors about the policy as a whole point.
    pub(super) fn policy(
        &mut self,
        section: &PolicySection,
        anchor: Range<usize>,
    ) -> Option<ReplyPolicy> {
        let finals: Vec<(Verb, &StepSection)> = [
            (Verb::Accept, &section.accept),
            (Verb::Reject, &section.reject),
            (Verb::Reply, &section.reply),
        ]
        .into_iter()
        .filter_map(|(verb, step)| step.as_ref().map(|s| (verb, s)))
        .collect();
        if let Some(register) = &section.register {
            if section.drop
                || !finals.is_empty()
                || !section.progress.is_empty()
                || section.message.is_some()
                || section.no_answer.is_some()
                || section.no_media_port.is_some()
            {
                self.diag.error(register.span(), "`register` is a whole policy; remove progress/accept/reject/reply/drop/message");
                return None;
            }
            return self.register(register);
        }
        if section.drop {
            if !finals.is_empty()
                || !section.progress.is_empty()
                || section.message.is_some()
                || section.no_answer.is_some()
                || section.no_media_port.is_some()
            {
                self.diag.error(
                    anchor,
                    "`drop = true` answers nothing; remove progress/accept/reject/reply/message/no_answer",
                );
                return None;
            }
            return Some(ReplyPolicy::Drop);
        }
        if finals.len() > 1 {
            self.diag.error(
                anchor,
                "a policy has at most one of accept, reject and reply",
            );
            return None;
        }
        if finals.is_empty() && section.progress.is_empty() {
            self.diag.error(anchor, "no reply given: add accept, reject, reply or progress (or `drop = true` to answer nothing, or `register = {}`)");
            return None;
        }
        let errors_before = self.diag.errors.len();
        let progress: Vec<Step> = section
            .progress
            .iter()
            .filter_map(|step| self.step(Verb::Progress, step, &anchor))
            .collect();
        let final_step = finals
            .first()
            .and_then(|(verb, step)| self.step(*verb, step, &anchor));
        let message = section
            .message
            .as_ref()
            .and_then(|message| self.auto_message(message));
        let no_answer = section
            .no_answer
            .as_ref()
            .and_then(|step| self.no_answer(step));
        let no_media_port = section
            .no_media_port
            .as_ref()
            .and_then(|step| self.no_answer(step));
        self.check_total_delay(&progress, final_step.as_ref(), &anchor);
        if self.diag.errors.len() > errors_before {
            return None;
        }
        Some(ReplyPolicy::Respond {
            progress,
            final_step,
            message,
            no_answer,
            no_media_port,
        })
    }

    /// One step; every error in it is reported before it is given up.
    pub(super) fn step(
        &mut self,
        verb: Verb,
        step: &StepSection,
        anchor: &Range<usize>,
    ) -> Option<Step> {
        let errors_before = self.diag.errors.len();
        let status = self.status(verb, step, anchor);
        let reason = match &step.reason {
            Some(reason) if !is_header_safe(reason.get_ref()) => {
                self.diag
                    .error(reason.span(), "reason must not contain CR, LF or NUL");
                None
            }
            Some(reason) => self.template(reason),
            None => status.map(|status| Template::literal(reason_phrase(status))),
        };
        let extra_headers = self.header_lines(&step.extra_headers);
        let (body, generated) = match &step.body {
            None => (Some(Body::None), false),
            Some(body) => match body.get_ref() {
                BodySection::Text(text) => (
                    self.template(&Spanned::new(body.span(), text.clone()))
                        .map(Body::Text),
                    false,
                ),
                BodySection::Generated(generated) if generated.sdp == "answer" => {
                    (Some(Body::SdpAnswer), true)
                }
                BodySection::Generated(generated) => {
                    self.diag.error(
                        body.span(),
                        format!(
                            "unknown generated body `sdp = \"{}\"` (expected \"answer\")",
                            generated.sdp
                        ),
                    );
                    (None, false)
                }
            },
        };
        let content_type = self.content_type(step, body.as_ref(), generated, anchor);
        let hangup_after = match &step.hangup_after_ms {
            Some(ms) if verb != Verb::Accept => {
                self.diag.error(
                    ms.span(),
                    "hangup_after_ms belongs on `accept` (the 2xx that creates the dialog)",
                );
                None
            }
            Some(ms) if Duration::from_millis(*ms.get_ref()) > self.limits.max_duration => {
                self.diag.error(
                    ms.span(),
                    format!(
                        "hangup_after_ms is above [dialog] max_duration_ms ({} ms), which ends the dialog first",
                        self.limits.max_duration.as_millis()
                    ),
                );
                None
            }
            Some(ms) => Some(Duration::from_millis(*ms.get_ref())),
            None => None,
        };
        let delay = self.delay(step.delay_ms, anchor);
        let media = self.step_media(verb, step, generated);
        if self.diag.errors.len() > errors_before {
            return None;
        }
        Some(Step {
            verb,
            status: status?,
            reason: reason?,
            extra_headers,
            content_type: content_type.map(Into::into),
            body: body?,
            delay,
            hangup_after,
            media,
        })
    }

    /// The status of a step: given (within the verb's range) or the verb's
    /// default.
    fn status(&mut self, verb: Verb, step: &StepSection, anchor: &Range<usize>) -> Option<u16> {
        match (&step.status, verb.default_status()) {
            (Some(status), _) => {
                let (low, high) = verb.range();
                if !verb.allows(*status.get_ref()) {
                    self.diag.error(
                        status.span(),
                        format!(
                            "status {} is outside {}'s range {low}-{high}",
                            status.get_ref(),
                            verb.name()
                        ),
                    );
                    return None;
                }
                Some(*status.get_ref())
            }
            (None, Some(default)) => Some(default),
            (None, None) => {
                self.diag.error(
                    anchor.clone(),
                    "`reply` needs a status (100-699); it has no default",
                );
                None
            }
        }
    }

    /// The Content-Type of a step's body: given, or application/sdp for SDP
    /// (generated, or text starting `v=0`), else text/plain.
    fn content_type(
        &mut self,
        step: &StepSection,
        body: Option<&Body>,
        generated: bool,
        anchor: &Range<usize>,
    ) -> Option<String> {
        let content_type = match (&step.content_type, body) {
            (Some(ct), _) if !is_header_safe(ct.get_ref()) || ct.get_ref().is_empty() => {
                self.diag
                    .error(ct.span(), "content_type must be a single non-empty line");
                None
            }
            (Some(ct), _) => Some(ct.get_ref().clone()),
            (None, None | Some(Body::None)) => None,
            (None, Some(Body::Text(text))) if !text.raw().starts_with("v=0") => {
                Some("text/plain".to_owned())
            }
            (None, _) => Some("application/sdp".to_owned()),
        };
        if !generated {
            return content_type;
        }
        if content_type
            .as_deref()
            .is_some_and(|ct| ct != "application/sdp")
        {
            self.diag.warn(
                anchor.clone(),
                "an SDP answer is sent as application/sdp; content_type is overridden",
            );
        }
        Some("application/sdp".to_owned())
    }

    fn auto_message(&mut self, section: &Spanned<MessageSection>) -> Option<AutoMessage> {
        let message = section.get_ref();
        let errors_before = self.diag.errors.len();
        let extra_headers = self.header_lines(&message.extra_headers);
        let content_type = match &message.content_type {
            Some(ct) if !is_header_safe(ct.get_ref()) || ct.get_ref().is_empty() => {
                self.diag
                    .error(ct.span(), "content_type must be a single non-empty line");
                String::new()
            }
            Some(ct) => ct.get_ref().clone(),
            None => "text/plain".to_owned(),
        };
        let target = match &message.target {
            Some(target)
                if crate::sip::sip_host_port(target.get_ref()).is_none()
                    || !is_header_safe(target.get_ref()) =>
            {
                self.diag.error(
                    target.span(),
                    format!("target `{}` is not a sip: or sips: URI", target.get_ref()),
                );
                None
            }
            Some(target) => Some(target.get_ref().as_str().into()),
            None => None,
        };
        let body = match &message.body {
            Some(body) => self.template(body),
            None => Some(Template::literal("")),
        };
        let delay = Duration::from_millis(message.delay_ms);
        if delay > self.limits.ring_timeout {
            self.diag.error(
                section.span(),
                format!(
                    "message delay_ms {} is above [timers] ring_timeout_ms ({} ms)",
                    message.delay_ms,
                    self.limits.ring_timeout.as_millis()
                ),
            );
        }
        if self.diag.errors.len() > errors_before {
            return None;
        }
        Some(AutoMessage {
            body: body?,
            content_type: content_type.into(),
            extra_headers,
            target,
            delay,
        })
    }

    fn register(&mut self, section: &Spanned<RegisterSection>) -> Option<ReplyPolicy> {
        let register = section.get_ref();
        let default_expires = register.default_expires.unwrap_or_else(|| {
            3600_u32.clamp(
                register.min_expires,
                register.max_expires.max(register.min_expires),
            )
        });
        if register.min_expires > register.max_expires
            || !(register.min_expires..=register.max_expires).contains(&default_expires)
        {
            self.diag.error(
                section.span(),
                "register needs min_expires <= default_expires <= max_expires",
            );
            return None;
        }
        let max_contacts = *register.max_contacts.get_ref();
        if max_contacts == 0 {
            self.diag.error(
                register.max_contacts.span(),
                "max_contacts must be at least 1",
            );
            return None;
        }
        let replace_oldest = match register.max_contacts_action.get_ref().as_str() {
            "503" => false,
            "replace-oldest" => true,
            other => {
                self.diag.error(
                    register.max_contacts_action.span(),
                    format!(
                        "max_contacts_action `{other}`: expected \"503\" or \"replace-oldest\""
                    ),
                );
                return None;
            }
        };
        Some(ReplyPolicy::Register(RegisterPolicy {
            min_expires: register.min_expires,
            max_expires: register.max_expires,
            default_expires,
            max_contacts,
            replace_oldest,
            owners: super::auth::compile_owners(register, self.diag),
        }))
    }

    /// A template; every unknown variable and `${match.NAME}` without such
    /// a capture group is an error at its position in the value.
    pub(super) fn template(&mut self, text: &Spanned<String>) -> Option<Template> {
        let value = text.get_ref();
        let template = match Template::parse_all(value) {
            Ok(template) => template,
            Err(errors) => {
                for (offset, error) in errors {
                    let hint = match &error {
                        TemplateError::UnknownVariable(name) => {
                            let captures = self.captures.iter().map(|c| format!("match.{c}"));
                            let known: Vec<String> = VARIABLE_NAMES
                                .iter()
                                .map(|v| (*v).to_owned())
                                .chain(captures)
                                .collect();
                            nearest(name, known.iter().map(String::as_str))
                                .map_or(String::new(), |c| format!("; did you mean `${{{c}}}`?"))
                        }
                        TemplateError::Unterminated => String::new(),
                    };
                    self.diag
                        .error_in_string(text.span(), value, offset, format!("{error}{hint}"));
                }
                return None;
            }
        };
        let mut missing_capture = false;
        for variable in template.variables() {
            if let Variable::Match(name) = variable {
                self.uses_captures = true;
                if !self.captures.iter().any(|c| **c == **name) {
                    let offset = value.find(&format!("${{match.{name}}}")).unwrap_or(0);
                    self.diag.error_in_string(text.span(), value, offset, format!("`${{match.{name}}}`: no regex of this rule has a capture group named `{name}` (write `(?P<{name}>…)`)"));
                    missing_capture = true;
                }
            }
        }
        (!missing_capture).then_some(template)
    }

    /// `Name: value` lines (value templated).
    fn header_lines(&mut self, lines: &[Spanned<String>]) -> HeaderLines {
        let mut templates = Vec::new();
        for line in lines {
            match check_extra_header(line.get_ref()) {
                Ok(()) => {
                    if let Some(template) = self.template(line) {
                        templates.push(template);
                    }
                }
                Err(message) => self.diag.error(line.span(), message),
            }
        }
        HeaderLines::new(templates)
    }
}
