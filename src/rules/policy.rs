//! Reply policies: provisional steps, then at most one final step, each a
//! ServerContext verb with its options rendered once at load.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use crate::sip::Verb;

/// One response to send: the verb, its resolved status and reason, extra
/// header lines pre-rendered as `Name: value\r\n`, and the body.
#[derive(Debug, Clone)]
pub struct Step {
    pub verb: Verb,
    pub status: u16,
    pub reason: Box<str>,
    pub extra_headers: Bytes,
    pub content_type: Option<Box<str>>,
    pub body: Bytes,
    /// Wait before sending, counted from the previous step.
    pub delay: Duration,
    /// For a 2xx to INVITE: send BYE this long after it.
    pub hangup_after: Option<Duration>,
}

/// An auto-reply MESSAGE sent after the final response (JsSIP
/// `Message.send(target, body, contentType, {extraHeaders})`).
#[derive(Debug, Clone)]
pub struct AutoMessage {
    pub body: Bytes,
    pub content_type: Box<str>,
    /// Pre-rendered `Name: value\r\n` lines.
    pub extra_headers: Bytes,
    /// Explicit target URI; `None` sends to the From URI over the flow the
    /// request came from.
    pub target: Option<Box<str>>,
    pub delay: Duration,
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
    },
}

impl ReplyPolicy {
    /// The SIP.js default: `reject()` → 480 Temporarily Unavailable.
    pub fn default_fallback() -> Self {
        Self::Respond {
            progress: Vec::new(),
            final_step: Some(Step {
                verb: Verb::Reject,
                status: 480,
                reason: crate::sip::reason_phrase(480).into(),
                extra_headers: Bytes::new(),
                content_type: None,
                body: Bytes::new(),
                delay: Duration::ZERO,
                hangup_after: None,
            }),
            message: None,
        }
    }

    /// Every step in sending order.
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        let (progress, final_step): (&[Step], Option<&Step>) = match self {
            Self::Drop => (&[], None),
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
            Self::Drop => None,
            Self::Respond { message, .. } => message.as_ref(),
        }
    }

    /// Whether the first response goes out at once (no delay before it);
    /// RFC 3261 §17.2.1 wants a 100 Trying otherwise.
    pub fn first_response_is_immediate(&self) -> bool {
        self.steps().next().is_some_and(|s| s.delay.is_zero())
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.delay.is_zero() {
            write!(f, "after {} ms ", self.delay.as_millis())?;
        }
        write!(f, "{} {} {}", self.verb.name(), self.status, self.reason)?;
        let headers = String::from_utf8_lossy(&self.extra_headers);
        let names: Vec<_> = headers.lines().filter(|l| !l.is_empty()).collect();
        if !names.is_empty() {
            write!(f, " [{}]", names.join("; "))?;
        }
        if let Some(hangup) = self.hangup_after {
            write!(f, " (BYE after {} ms)", hangup.as_millis())?;
        }
        if !self.body.is_empty() {
            write!(
                f,
                " with {} body ({} bytes)",
                self.content_type.as_deref().unwrap_or("?"),
                self.body.len()
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for ReplyPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Drop => f.write_str("drop (no response)"),
            Self::Respond {
                final_step: None,
                progress,
                ..
            } if progress.is_empty() => f.write_str("no response"),
            Self::Respond {
                progress,
                final_step,
                message,
            } => {
                let mut parts: Vec<String> = progress.iter().map(ToString::to_string).collect();
                match final_step {
                    Some(step) => parts.push(step.to_string()),
                    None => {
                        parts.push("no final response (rings until the client gives up)".into())
                    }
                }
                if let Some(message) = message {
                    let target = message.target.as_deref().unwrap_or("the sender");
                    parts.push(format!(
                        "after {} ms send MESSAGE to {target} ({}, {} bytes)",
                        message.delay.as_millis(),
                        message.content_type,
                        message.body.len()
                    ));
                }
                f.write_str(&parts.join(", then "))
            }
        }
    }
}
