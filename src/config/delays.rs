//! The waits of a policy: each `delay_ms` (fixed or a range) and their sum
//! before the final response stay within `[timers] ring_timeout_ms`, and
//! the `no_answer` step sent when that timeout passes.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::model::{DelaySection, StepSection};
use super::policy::PolicyCompiler;
use crate::rules::{Delay, Step};
use crate::sip::Verb;

/// What a policy may do: the delays no wait may exceed (a wait beyond them
/// would never end in the response it waits for), and whether its media
/// may name files.
#[derive(Debug, Clone, Copy)]
pub(super) struct PolicyLimits {
    /// Whether `play` and `record` may name files on the daemon's host:
    /// for the config file's rules, not for rules given through the admin
    /// API (whoever may post a rule could otherwise read any WAV file the
    /// daemon can, or write recordings into any directory it can).
    pub(super) media_files: bool,
    /// `[timers] ring_timeout_ms`: the delays before a final response add
    /// up to at most this (the layer answers an INVITE by then).
    pub(super) ring_timeout: Duration,
    /// `[dialog] max_duration_ms`: the longest hang-up.
    pub(super) max_duration: Duration,
}

impl PolicyCompiler<'_, '_> {
    /// The delays before the final response add up to at most the ring
    /// timeout: past it the layer has answered the INVITE itself.
    pub(super) fn check_total_delay(
        &mut self,
        progress: &[Step],
        final_step: Option<&Step>,
        anchor: &Range<usize>,
    ) {
        let total: Duration = progress
            .iter()
            .chain(final_step)
            .map(|step| step.delay.longest())
            .sum();
        let limit = self.limits.ring_timeout;
        if total > limit {
            self.diag.error(
                anchor.clone(),
                format!(
                    "the delays of this policy add up to {} ms, more than [timers] ring_timeout_ms ({} ms): the responder answers an INVITE by then",
                    total.as_millis(),
                    limit.as_millis()
                ),
            );
        }
    }

    /// `no_answer`: a reject step (300-699) without delay or body.
    pub(super) fn no_answer(&mut self, section: &Spanned<StepSection>) -> Option<Step> {
        let step = section.get_ref();
        if step.body.is_some()
            || step.hangup_after_ms.is_some()
            || step.media.is_some()
            || !step.on_dtmf.is_empty()
            || !matches!(step.delay_ms, DelaySection::Fixed(0))
        {
            self.diag.error(
                section.span(),
                "no_answer is sent when ringing times out: it takes status, reason and extra_headers only",
            );
            return None;
        }
        self.step(Verb::Reject, step, &section.span())
    }

    pub(super) fn delay(&mut self, delay: DelaySection, anchor: &Range<usize>) -> Delay {
        let longest = match delay {
            DelaySection::Fixed(ms) | DelaySection::Range { max: ms, .. } => ms,
        };
        let limit = self.limits.ring_timeout;
        if Duration::from_millis(longest) > limit {
            self.diag.error(
                anchor.clone(),
                format!(
                    "delay_ms {longest} is above [timers] ring_timeout_ms ({} ms)",
                    limit.as_millis()
                ),
            );
            return Delay::ZERO;
        }
        match delay {
            DelaySection::Fixed(ms) => Delay::Fixed(Duration::from_millis(ms)),
            DelaySection::Range { min, max } if min > max => {
                self.diag.error(
                    anchor.clone(),
                    format!("delay_ms range {{ min = {min}, max = {max} }} has min above max"),
                );
                Delay::ZERO
            }
            DelaySection::Range { min, max } if min == max => {
                Delay::Fixed(Duration::from_millis(min))
            }
            DelaySection::Range { min, max } => Delay::Range {
                min: Duration::from_millis(min),
                max: Duration::from_millis(max),
            },
        }
    }
}
