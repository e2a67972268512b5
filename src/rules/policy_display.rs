//! How policies and steps read in `check` and `explain`: the verb, status
//! and reason, delays, headers, the body and the media of each step.

use std::fmt;

use super::{Body, Media, ReplyPolicy, Step};

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.delay.is_zero() {
            write!(f, "after {} ", self.delay)?;
        }
        write!(
            f,
            "{} {} {}",
            self.verb.name(),
            self.status,
            self.reason.raw()
        )?;
        if !self.extra_headers.is_empty() {
            write!(f, " [{}]", self.extra_headers.names().join("; "))?;
        }
        if let Some(hangup) = self.hangup_after {
            write!(f, " (BYE after {} ms)", hangup.as_millis())?;
        }
        match &self.media {
            Some(Media::Plan(plan)) => write!(f, " [media: {plan}]")?,
            Some(Media::Off) => f.write_str(" [media: none]")?,
            None => {}
        }
        match &self.body {
            Body::None => Ok(()),
            Body::SdpAnswer => f.write_str(" with an SDP answer to the offer"),
            Body::Text(text) => write!(
                f,
                " with {} body ({} bytes{})",
                self.content_type.as_deref().unwrap_or("?"),
                text.raw().len(),
                if text.is_static() { "" } else { ", templated" }
            ),
        }
    }
}

impl fmt::Display for ReplyPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Drop => f.write_str("drop (no response)"),
            Self::Register(register) => write!(
                f,
                "registrar: 200 echoing Contacts, expiry clamped to {}-{} s (default {} s), 423 below {} s, \
                 at most {} contacts per address-of-record ({} beyond)",
                register.min_expires,
                register.max_expires,
                register.default_expires,
                register.min_expires,
                register.max_contacts,
                if register.replace_oldest {
                    "the oldest replaced"
                } else {
                    "503"
                }
            ),
            Self::Respond {
                final_step: None,
                progress,
                ..
            } if progress.is_empty() => f.write_str("no response"),
            Self::Respond {
                progress,
                final_step,
                message,
                no_answer,
                ..
            } => {
                let mut parts: Vec<String> = progress.iter().map(ToString::to_string).collect();
                match final_step {
                    Some(step) => parts.push(step.to_string()),
                    None => parts.push(
                        "no final response (rings until the client cancels or the ring timeout)"
                            .into(),
                    ),
                }
                if let Some(step) = no_answer {
                    parts.push(format!("after the ring timeout {step}"));
                }
                if let Some(message) = message {
                    let target = message.target.as_deref().unwrap_or("the sender");
                    parts.push(format!(
                        "after {} ms send MESSAGE to {target} ({}, {} bytes)",
                        message.delay.as_millis(),
                        message.content_type,
                        message.body.raw().len()
                    ));
                }
                f.write_str(&parts.join(", then "))
            }
        }
    }
}
