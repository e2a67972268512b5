//! ServerContext events (progress, accepted, rejected, failed): the one place
//! that turns them into structured log records.

use std::net::SocketAddr;

use tracing::info;

use crate::sip::{Cause, Transport};

/// What an event is about.
#[derive(Debug, Clone, Copy)]
pub struct EventContext<'a> {
    /// Counts the event in the metrics when the admin listener is on.
    pub observer: Option<&'a crate::observe::Observer>,
    pub rule: &'a str,
    pub method: &'a str,
    pub call_id: &'a str,
    pub peer: SocketAddr,
    pub transport: Transport,
}

/// Whether event lines are logged at all (the level allows info here).
pub fn enabled() -> bool {
    tracing::enabled!(tracing::Level::INFO)
}

/// Emits the events for one response sent: `progress` (1xx), `accepted`
/// (2xx), or `rejected` followed by `failed` (300–699), as SIP.js does.
pub fn response_sent(ctx: &EventContext<'_>, status: u16) {
    match status {
        100..=199 => emit(ctx, "progress", Some(status), None),
        200..=299 => emit(ctx, "accepted", Some(status), None),
        _ => {
            let cause = Cause::of_status(status);
            emit(ctx, "rejected", Some(status), cause);
            emit(ctx, "failed", Some(status), cause);
        }
    }
}

/// Emits `failed` for a failure that is not a response (no ACK, CANCEL,
/// transport error, …).
pub fn failed(ctx: &EventContext<'_>, cause: Cause) {
    emit(ctx, "failed", None, Some(cause));
}

fn emit(ctx: &EventContext<'_>, event: &'static str, status: Option<u16>, cause: Option<Cause>) {
    if let Some(observer) = ctx.observer {
        observer.event(event, cause);
    }
    // Dotted names become SIP_METHOD, SIP_CALL_ID, SIP_STATUS in the journal.
    info!(
        event,
        rule = ctx.rule,
        sip.method = ctx.method,
        sip.call_id = ctx.call_id,
        sip.status = status,
        cause = cause.map(Cause::as_str),
        peer = %ctx.peer,
        transport = ctx.transport.name(),
        "{event}"
    );
}

/// Emits an auto-reply MESSAGE event (JsSIP `Message`: sending, succeeded,
/// failed with a cause).
pub fn message(
    rule: &str,
    call_id: &str,
    target: &str,
    event: &'static str,
    status: Option<u16>,
    cause: Option<Cause>,
) {
    info!(
        event,
        rule,
        sip.method = "MESSAGE",
        sip.call_id = call_id,
        sip.target = target,
        sip.status = status,
        cause = cause.map(Cause::as_str),
        "message {event}"
    );
}

/// Emits `dtmf`: a digit received in a call (RFC 4733 or SIP INFO).
pub fn dtmf(ctx: &EventContext<'_>, digit: char, duration_ms: u32, source: &'static str) {
    info!(
        event = "dtmf",
        rule = ctx.rule,
        sip.call_id = ctx.call_id,
        digit = %digit,
        duration_ms,
        source,
        peer = %ctx.peer,
        "dtmf {digit}"
    );
}

/// Emits `media ended`: a call's media statistics at its end.
pub fn media_ended(ctx: &EventContext<'_>, summary: &crate::media::MediaSummary<'_>) {
    let remote = summary.remote.as_ref();
    info!(
        event = "media_ended",
        rule = ctx.rule,
        sip.call_id = ctx.call_id,
        port = summary.port,
        codec = summary.codec,
        mode = summary.mode,
        reason = summary.reason.as_str(),
        duration_ms = summary.duration.as_millis() as u64,
        packets_sent = summary.packets_sent,
        packets_received = summary.packets_received,
        lost = summary.lost,
        jitter_ms = summary.jitter_ms,
        rtcp_received = summary.rtcp_received,
        remote_fraction_lost = remote.map(|r| f64::from(r.fraction_lost) / 256.0),
        remote_lost = remote.map(|r| r.cumulative_lost),
        remote_jitter_ms = summary.remote_jitter_ms,
        recording = summary.recording.map(|(path, _)| path.display().to_string()),
        peer = %ctx.peer,
        "media ended"
    );
}
