//! Reply policies: provisional steps, then at most one final step, each a
//! ServerContext verb whose options are compiled once at load (templates,
//! pre-joined static header lines) and rendered per request.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use super::media::Media;
use super::template::{Template, Vars};
use crate::sip::Verb;

/// A wait before a step: fixed, or drawn uniformly from a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delay {
    Fixed(Duration),
    Range { min: Duration, max: Duration },
}

impl Delay {
    pub const ZERO: Self = Self::Fixed(Duration::ZERO);

    pub fn is_zero(&self) -> bool {
        *self == Self::ZERO
    }

    /// The wait for one request.
    /// The longest wait it can give.
    pub fn longest(&self) -> Duration {
        match *self {
            Self::Fixed(delay) | Self::Range { max: delay, .. } => delay,
        }
    }

    pub fn draw(&self, rng: &mut fastrand::Rng) -> Duration {
        match *self {
            Self::Fixed(delay) => delay,
            Self::Range { min, max } => {
                let (low, high) = (min.as_millis() as u64, max.as_millis() as u64);
                Duration::from_millis(rng.u64(low..=high.max(low)))
            }
        }
    }
}

impl fmt::Display for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fixed(delay) => write!(f, "{} ms", delay.as_millis()),
            Self::Range { min, max } => write!(f, "{}-{} ms", min.as_millis(), max.as_millis()),
        }
    }
}

/// Extra header lines: templates, pre-joined when none substitutes.
#[derive(Debug, Clone, Default)]
pub struct HeaderLines {
    lines: Vec<Template>,
    /// `Name: value\r\n…` when every line is static.
    joined: Option<Bytes>,
}

impl HeaderLines {
    /// `lines` are `Name: value` (validated by the config compiler).
    pub fn new(lines: Vec<Template>) -> Self {
        let joined = lines.iter().all(Template::is_static).then(|| {
            let mut out = Vec::new();
            for line in &lines {
                out.extend_from_slice(line.raw().as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Bytes::from(out)
        });
        Self { lines, joined }
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The lines for one request. A substitution that would inject CR, LF or
    /// NUL is refused: that line falls back to its configured text.
    pub fn render(&self, vars: &Vars<'_>) -> Cow<'_, [u8]> {
        if let Some(joined) = &self.joined {
            return Cow::Borrowed(joined);
        }
        let mut out = Vec::with_capacity(128);
        for line in &self.lines {
            match line.render_header(vars) {
                Ok(text) => out.extend_from_slice(text.as_bytes()),
                Err(raw) => {
                    crate::warn_limited!(
                        rule = vars.rule,
                        sip.call_id = vars.request.call_id(),
                        header = raw,
                        "substitution refused: it would put CR, LF or NUL into a header"
                    );
                    out.extend_from_slice(raw.as_bytes());
                }
            }
            out.extend_from_slice(b"\r\n");
        }
        Cow::Owned(out)
    }

    pub fn names(&self) -> Vec<&str> {
        self.lines.iter().map(Template::raw).collect()
    }

    /// Whether every line renders the same for the same request.
    fn is_deterministic(&self) -> bool {
        self.lines.iter().all(Template::is_deterministic)
    }
}

/// What a step sends as its body.
#[derive(Debug, Clone)]
pub enum Body {
    None,
    Text(Template),
    /// An SDP answer derived from the offer in the request (RFC 3264).
    SdpAnswer,
}

/// One response to send.
#[derive(Debug, Clone)]
pub struct Step {
    pub verb: Verb,
    pub status: u16,
    pub reason: Template,
    pub extra_headers: HeaderLines,
    pub content_type: Option<Box<str>>,
    pub body: Body,
    /// Wait before sending, counted from the previous step.
    pub delay: Delay,
    /// For a 2xx to INVITE: send BYE this long after it.
    pub hangup_after: Option<Duration>,
    /// The call's media from this step on (`None`: the key is absent).
    pub media: Option<Media>,
}

/// A step's options rendered for one request.
#[derive(Debug, Clone)]
pub struct RenderedStep<'s> {
    pub reason: Cow<'s, str>,
    pub extra_headers: Cow<'s, [u8]>,
    pub content_type: Option<&'s str>,
    pub body: Cow<'s, [u8]>,
}

impl Step {
    /// Whether the step renders the same for the same request.
    fn is_deterministic(&self) -> bool {
        let body = match &self.body {
            Body::None => true,
            Body::Text(text) => text.is_deterministic(),
            // An SDP answer keeps session state (its o= version).
            Body::SdpAnswer => false,
        };
        body && self.reason.is_deterministic() && self.extra_headers.is_deterministic()
    }

    /// Renders the step for one request; `sdp_answer` makes the body of a
    /// `{ sdp = "answer" }` step, or says why there is none (the step is
    /// then not sent). A substitution refused in the reason falls back to
    /// the configured text.
    pub fn render<'s, E>(
        &'s self,
        vars: &Vars<'_>,
        sdp_answer: impl FnOnce() -> Result<String, E>,
    ) -> Result<RenderedStep<'s>, E> {
        let reason = self
            .reason
            .render_header(vars)
            .unwrap_or(Cow::Borrowed(self.reason.raw()));
        let body = match &self.body {
            Body::None => Cow::Borrowed(&b""[..]),
            Body::Text(template) => match template.render(vars) {
                Cow::Borrowed(text) => Cow::Borrowed(text.as_bytes()),
                Cow::Owned(text) => Cow::Owned(text.into_bytes()),
            },
            Body::SdpAnswer => Cow::Owned(sdp_answer()?.into_bytes()),
        };
        Ok(RenderedStep {
            reason,
            extra_headers: self.extra_headers.render(vars),
            content_type: self.content_type.as_deref(),
            body,
        })
    }
}

/// An auto-reply MESSAGE sent after the final response (JsSIP
/// `Message.send(target, body, contentType, {extraHeaders})`).
#[derive(Debug, Clone)]
pub struct AutoMessage {
    pub body: Template,
    pub content_type: Box<str>,
    pub extra_headers: HeaderLines,
    /// Explicit target URI; `None` sends to the sender (its live
    /// registration, else its From URI over the flow the request came from).
    pub target: Option<Box<str>>,
    pub delay: Duration,
}

/// The built-in registrar: 200 echoing each Contact with its granted
/// expiry (clamped), 423 below the minimum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterPolicy {
    pub min_expires: u32,
    pub max_expires: u32,
    pub default_expires: u32,
    /// Most bindings of one address-of-record.
    pub max_contacts: usize,
    /// At `max_contacts`: replace the least recently refreshed binding
    /// (true) or refuse with 503 (false).
    pub replace_oldest: bool,
    /// Who owns which address-of-record (`aor`, `aors`). Applied to every
    /// REGISTER the rule authenticated: only the owner changes or lists an
    /// AOR's bindings. The rule, not this policy, holds what credentials it
    /// asks for (`Rule::auth`).
    pub owners: std::sync::Arc<crate::auth::AorOwners>,
}

/// What a rule answers.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // built once at load and shared behind an Arc
pub enum ReplyPolicy {
    /// Answer nothing (lets clients test their timeouts).
    Drop,
    /// Provisional steps, then the final one; without a final step an INVITE
    /// rings until the client gives up.
    Respond {
        progress: Vec<Step>,
        final_step: Option<Step>,
        message: Option<AutoMessage>,
        /// An INVITE's final response when it rings for the ring timeout.
        no_answer: Option<Step>,
        /// An INVITE's final response when its media gets no port pair.
        no_media_port: Option<Step>,
    },
    /// The registrar.
    Register(RegisterPolicy),
}

impl ReplyPolicy {
    /// The SIP.js default: `reject()` → 480 Temporarily Unavailable.
    pub fn default_fallback() -> Self {
        Self::Respond {
            progress: Vec::new(),
            final_step: Some(Step {
                verb: Verb::Reject,
                status: 480,
                reason: Template::literal(crate::sip::reason_phrase(480)),
                extra_headers: HeaderLines::default(),
                content_type: None,
                body: Body::None,
                delay: Delay::ZERO,
                hangup_after: None,
                media: None,
            }),
            message: None,
            no_answer: None,
            no_media_port: None,
        }
    }

    /// Every step in sending order.
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        let (progress, final_step): (&[Step], Option<&Step>) = match self {
            Self::Drop | Self::Register(_) => (&[], None),
            Self::Respond {
                progress,
                final_step,
                ..
            } => (progress, final_step.as_ref()),
        };
        progress.iter().chain(final_step)
    }

    /// The auto-reply MESSAGE, if the policy sends one.
    pub fn auto_message(&self) -> Option<&AutoMessage> {
        match self {
            Self::Respond { message, .. } => message.as_ref(),
            Self::Drop | Self::Register(_) => None,
        }
    }

    /// Whether answering a request changes nothing but the answer: one
    /// immediate final step whose every part renders the same for the same
    /// request (no `${counter}`, no `${random}`), no auto-reply — or no
    /// answer at all (drop). Such a request needs no transaction state: a
    /// retransmission gets the same bytes again.
    pub fn is_stateless(&self) -> bool {
        match self {
            Self::Drop => true,
            Self::Register(_) => false,
            Self::Respond {
                progress,
                final_step: Some(step),
                message: None,
                no_answer: None,
                // Media needs an SDP answer, which is never stateless.
                no_media_port: _,
            } => progress.is_empty() && step.delay.is_zero() && step.is_deterministic(),
            Self::Respond { .. } => false,
        }
    }

    /// The final response when an INVITE rings for the ring timeout.
    pub fn no_answer(&self) -> Option<&Step> {
        match self {
            Self::Respond { no_answer, .. } => no_answer.as_ref(),
            Self::Drop | Self::Register(_) => None,
        }
    }

    /// The final response when an INVITE's media gets no port pair.
    pub fn no_media_port(&self) -> Option<&Step> {
        match self {
            Self::Respond { no_media_port, .. } => no_media_port.as_ref(),
            Self::Drop | Self::Register(_) => None,
        }
    }
}

#[path = "policy_display.rs"]
mod display;
