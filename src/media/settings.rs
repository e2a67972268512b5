//! `[media]` as the engine uses it, and the reports a session makes (the
//! engine implements [`MediaReport`]; the media layer never logs events
//! itself).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::dtmf::Digit;
use super::rtcp::ReportBlock;

/// `[media]`: the port range, the media timeout, RTCP's interval and the
/// bounds of recordings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSettings {
    /// Even first port, odd last port.
    pub first_port: u16,
    pub last_port: u16,
    /// No RTP for this long on an answered call ends it (`None`: never).
    pub timeout: Option<Duration>,
    /// RTCP report interval (RFC 3550 §6.2: 5 s), randomised ±50 %.
    pub rtcp_interval: Duration,
    /// Bytes of audio one recording may hold.
    pub max_recording_bytes: u64,
    /// Recordings one run of the daemon may write.
    pub max_recordings: usize,
}

impl Default for MediaSettings {
    fn default() -> Self {
        Self {
            first_port: 40_000,
            last_port: 40_999,
            timeout: Some(Duration::from_secs(60)),
            rtcp_interval: Duration::from_secs(5),
            max_recording_bytes: 16 * 1024 * 1024,
            max_recordings: 1000,
        }
    }
}

/// Where a digit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfSource {
    /// RFC 4733 telephone-event in the RTP stream.
    Rtp,
    /// SIP INFO (application/dtmf-relay or application/dtmf).
    Info,
}

impl DtmfSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rtp => "rfc4733",
            Self::Info => "info",
        }
    }
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// Its dialog ended (BYE either way, max duration, session timer, …).
    DialogEnded,
    /// The INVITE got no 2xx (early media only: CANCEL, reject, timeout).
    NotAnswered,
    /// No RTP for `[media] timeout_ms`: we sent BYE.
    RtpTimeout,
    /// A digit rule hung up.
    Hangup,
    /// The daemon stopped.
    Shutdown,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DialogEnded => "dialog ended",
            Self::NotAnswered => "not answered",
            Self::RtpTimeout => "RTP timeout",
            Self::Hangup => "hung up on DTMF",
            Self::Shutdown => "shutdown",
        }
    }
}

/// What one session did, reported when it ends.
#[derive(Debug, Clone)]
pub struct MediaSummary<'a> {
    pub port: u16,
    pub codec: &'a str,
    pub mode: &'static str,
    pub reason: EndReason,
    pub duration: Duration,
    pub packets_sent: u64,
    pub packets_received: u64,
    /// Of the peer's stream, by our count (RFC 3550 §A.3).
    pub lost: i64,
    pub jitter_ms: f64,
    /// The last reception report the peer sent about our stream.
    pub remote: Option<ReportBlock>,
    pub remote_jitter_ms: Option<f64>,
    pub rtcp_received: u64,
    pub recording: Option<(&'a Path, u64)>,
}

/// Receives what a session saw.
pub trait MediaReport: Send + Sync + std::fmt::Debug {
    /// The call has media: what records it (the journal) waits for its end.
    fn hold_record(&self);
    /// The media ended, or never started.
    fn release_record(&self);
    fn dtmf(&self, digit: Digit, source: DtmfSource);
    fn media_ended(&self, summary: &MediaSummary<'_>);
}

/// Reports nothing (no admin listener, events below the log level).
#[derive(Debug)]
pub struct QuietMedia;

impl MediaReport for QuietMedia {
    fn hold_record(&self) {}
    fn release_record(&self) {}
    fn dtmf(&self, _: Digit, _: DtmfSource) {}
    fn media_ended(&self, _: &MediaSummary<'_>) {}
}

/// Holds the call's record open from before the response that starts its
/// media until the session ends — or, when no session starts, until it is
/// dropped.
#[derive(Debug)]
pub struct RecordHold(Arc<dyn MediaReport>);

impl RecordHold {
    pub fn new(reporter: Arc<dyn MediaReport>) -> Self {
        reporter.hold_record();
        Self(reporter)
    }
}

impl std::ops::Deref for RecordHold {
    type Target = dyn MediaReport;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl Drop for RecordHold {
    fn drop(&mut self) {
        self.0.release_record();
    }
}
