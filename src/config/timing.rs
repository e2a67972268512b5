//! `[timers]` and `[dialog]`: the RFC 3261 timer bases, the ring timeout,
//! and the bounds and lifetime of dialogs (RFC 4028 session timers).

use std::time::Duration;

use super::DialogConfig;
use super::error::Diagnostics;
use super::model::{DialogSection, TimersSection};
use crate::sip::Timers;

pub(super) fn compile_timers(section: &TimersSection, diag: &mut Diagnostics<'_>) -> Timers {
    let (t1, t2, t4) = (
        *section.t1_ms.get_ref(),
        *section.t2_ms.get_ref(),
        *section.t4_ms.get_ref(),
    );
    if t1 == 0 || t1 > 60_000 {
        diag.error(section.t1_ms.span(), "t1_ms must be from 1 to 60000");
    }
    if t2 < t1 || t2 > 600_000 {
        // An unset t2_ms has no place in the file: point at the t1_ms that
        // outgrew its default instead of at line 1.
        let span = section.t2_ms.span();
        let (span, which) = if span.is_empty() {
            (section.t1_ms.span(), format!("t2_ms (unset: {t2})"))
        } else {
            (span, format!("t2_ms ({t2})"))
        };
        diag.error(
            span,
            format!("{which} must be at least t1_ms ({t1}) and at most 600000"),
        );
    }
    if t4 > 600_000 {
        diag.error(section.t4_ms.span(), "t4_ms must be at most 600000");
    }
    Timers {
        t1: Duration::from_millis(t1),
        t2: Duration::from_millis(t2),
        t4: Duration::from_millis(t4),
    }
}

pub(super) fn compile_ring_timeout(
    section: &TimersSection,
    diag: &mut Diagnostics<'_>,
) -> Duration {
    let ms = *section.ring_timeout_ms.get_ref();
    if !(1_000..=3_600_000).contains(&ms) {
        diag.error(
            section.ring_timeout_ms.span(),
            "ring_timeout_ms must be from 1000 to 3600000 (an hour)",
        );
    }
    Duration::from_millis(ms)
}

/// RFC 4028 §4: Min-SE is never below 90 s.
const LOWEST_MIN_SE: u32 = 90;

pub(super) fn compile_dialog(section: &DialogSection, diag: &mut Diagnostics<'_>) -> DialogConfig {
    let max_dialogs = *section.max_dialogs.get_ref();
    if max_dialogs == 0 {
        diag.error(section.max_dialogs.span(), "max_dialogs must be at least 1");
    }
    let max_duration = *section.max_duration_ms.get_ref();
    if !(1_000..=7 * 24 * 3600 * 1000).contains(&max_duration) {
        diag.error(
            section.max_duration_ms.span(),
            "max_duration_ms must be from 1000 to 604800000 (a week)",
        );
    }
    let max_bytes = *section.max_bytes.get_ref();
    if !(256..=65_536).contains(&max_bytes) {
        diag.error(
            section.max_bytes.span(),
            "max_bytes must be from 256 to 65536",
        );
    }
    let min_se = *section.min_se.get_ref();
    if !(LOWEST_MIN_SE..=86_400).contains(&min_se) {
        diag.error(
            section.min_se.span(),
            "min_se must be from 90 (RFC 4028 §4) to 86400 seconds",
        );
    }
    let session_expires = section.session_expires.as_ref().map(|asked| {
        if !(min_se..=86_400).contains(asked.get_ref()) {
            diag.error(
                asked.span(),
                format!("session_expires must be from min_se ({min_se}) to 86400 seconds"),
            );
        }
        *asked.get_ref()
    });
    DialogConfig {
        max_dialogs,
        max_duration: Duration::from_millis(max_duration),
        max_bytes,
        min_se,
        session_expires,
    }
}
