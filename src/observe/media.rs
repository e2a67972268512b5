//! What a call's media adds to the journal and the metrics: each digit
//! received (`dtmf`) and the media's end with its statistics
//! (`media_ended`), as events of the call's INVITE record, whose line in
//! the journal file waits for the media's end.

use serde_json::json;

use super::Observer;
use super::record::now_ms;
use crate::media::{Digit, DtmfSource, MediaSummary};

impl Observer {
    /// The call of record `id` has media: its record is complete when the
    /// media ends.
    pub fn media_hold(&self, id: u64) {
        self.journal.hold_for_media(id);
    }

    /// The media of record `id`'s call ended (or never started).
    pub fn media_release(&self, id: u64) {
        self.journal.release_media(id);
    }

    /// A digit received in the call of record `id` (counted even when the
    /// request was not journalled).
    pub fn dtmf(&self, id: Option<u64>, digit: Digit, source: DtmfSource) {
        self.metrics.dtmf(source.as_str());
        if let Some(id) = id {
            let event = json!({
                "type": "dtmf",
                "digit": digit.digit.to_string(),
                "duration_ms": digit.duration_ms,
                "source": source.as_str(),
                "time_ms": now_ms(),
            });
            self.journal.add_media(id, event);
        }
    }

    /// The end of the media of record `id`'s call, with what it saw.
    pub fn media_ended(&self, id: u64, summary: &MediaSummary<'_>) {
        let remote = summary.remote.map(|report| {
            json!({
                "fraction_lost": f64::from(report.fraction_lost) / 256.0,
                "cumulative_lost": report.cumulative_lost,
                "jitter_ms": summary.remote_jitter_ms,
            })
        });
        let recording = summary
            .recording
            .map(|(path, bytes)| json!({ "path": path.display().to_string(), "bytes": bytes }));
        let event = json!({
            "type": "media_ended",
            "port": summary.port,
            "codec": summary.codec,
            "mode": summary.mode,
            "reason": summary.reason.as_str(),
            "duration_ms": u64::try_from(summary.duration.as_millis()).unwrap_or(u64::MAX),
            "packets_sent": summary.packets_sent,
            "packets_received": summary.packets_received,
            "lost": summary.lost,
            "jitter_ms": summary.jitter_ms,
            "rtcp_received": summary.rtcp_received,
            "remote_report": remote,
            "recording": recording,
            "time_ms": now_ms(),
        });
        self.journal.add_media(id, event);
    }
}
