//! The media engine's metrics: digits received by source, RTP packets by
//! direction, sessions and port pairs in use (read from the engine's
//! totals at scrape time), and its bounds reached.

use std::sync::atomic::Ordering::Relaxed;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::Metrics;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabels {
    direction: &'static str,
}

/// The families; labels take two values each.
#[derive(Debug, Default)]
pub(super) struct MediaMetrics {
    dtmf: Family<SourceLabels, Counter>,
    rtp_packets: Family<DirectionLabels, Counter>,
    sessions: Gauge,
    ports: Gauge,
}

impl MediaMetrics {
    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "dtmf_digits",
            "DTMF digits received, by source (rfc4733, info)",
            self.dtmf.clone(),
        );
        registry.register(
            "rtp_packets",
            "RTP packets of media sessions, by direction (sent, received)",
            self.rtp_packets.clone(),
        );
        registry.register(
            "media_sessions",
            "Media sessions running",
            self.sessions.clone(),
        );
        registry.register(
            "media_ports_in_use",
            "RTP port pairs of [media] port_range in use",
            self.ports.clone(),
        );
    }
}

impl Metrics {
    pub fn dtmf(&self, source: &'static str) {
        self.media
            .dtmf
            .get_or_create(&SourceLabels { source })
            .inc();
    }

    /// Reads the media engine's gauges and totals (at scrape time).
    pub fn set_media(&self, media: &crate::media::MediaEngine) {
        self.media
            .sessions
            .set(i64::try_from(media.sessions()).unwrap_or(i64::MAX));
        self.media
            .ports
            .set(i64::try_from(media.ports().0).unwrap_or(i64::MAX));
        let counters = media.counters();
        for (direction, total) in [
            ("sent", counters.packets_sent.load(Relaxed)),
            ("received", counters.packets_received.load(Relaxed)),
        ] {
            let counter = self
                .media
                .rtp_packets
                .get_or_create(&DirectionLabels { direction });
            let counted = counter.get();
            if total > counted {
                counter.inc_by(total - counted);
            }
        }
        self.set_bound_reached("media_ports", counters.ports_exhausted.load(Relaxed));
        self.set_bound_reached("recordings", counters.recordings_refused.load(Relaxed));
    }
}
