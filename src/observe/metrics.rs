//! Prometheus metrics (prometheus-client): counters fed as things happen,
//! gauges set when `/metrics` is read. Every label is bounded: methods by
//! the standard list, rules by a cap on the response series (rules come
//! and go at run time).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::sip::{Cause, Transport};

mod auth;
mod media;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    transport: &'static str,
}

/// The methods counted under their own name (RFC 3261 and the extensions
/// with a method of their own); any other is `other`, so a peer cannot
/// grow the series without bound.
const METHODS: [&str; 14] = [
    "ACK",
    "BYE",
    "CANCEL",
    "INFO",
    "INVITE",
    "MESSAGE",
    "NOTIFY",
    "OPTIONS",
    "PRACK",
    "PUBLISH",
    "REFER",
    "REGISTER",
    "SUBSCRIBE",
    "UPDATE",
];

/// The label of `method`: itself when standard, else `other`.
fn method_label(method: &str) -> &'static str {
    METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("other")
}

/// Most `responses_total` series; responses of rules past it are counted
/// under `rule="other"`.
pub const MAX_RESPONSE_SERIES: usize = 2048;
/// The rule label past [`MAX_RESPONSE_SERIES`].
pub const OTHER_RULE: &str = "other";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResponseLabels {
    rule: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    kind: &'static str,
    cause: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransportLabels {
    transport: &'static str,
}

/// Every metric the daemon exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    sent: Family<RequestLabels, Counter>,
    responses: Family<ResponseLabels, Counter>,
    /// Series `responses` holds (for its cap).
    response_series: AtomicUsize,
    events: Family<EventLabels, Counter>,
    drops: Family<ReasonLabels, Counter>,
    registrar_expired: Counter,
    parse_errors: Counter,
    reloads: Counter,
    last_reload_success: Gauge,
    /// Set at scrape time from the engine.
    pub transactions: Gauge,
    pub dialogs: Gauge,
    pub retransmissions: Counter,
    connections: Family<TransportLabels, Gauge>,
    bounds: Family<StateLabels, Counter>,
    media: media::MediaMetrics,
    /// Digest authentication (challenges, successes, failures).
    pub auth: auth::AuthMetrics,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("sip_autoresponder");
        let metrics = Self {
            requests: Family::default(),
            sent: Family::default(),
            responses: Family::default(),
            response_series: AtomicUsize::new(0),
            events: Family::default(),
            drops: Family::default(),
            registrar_expired: Counter::default(),
            parse_errors: Counter::default(),
            reloads: Counter::default(),
            last_reload_success: Gauge::default(),
            transactions: Gauge::default(),
            dialogs: Gauge::default(),
            retransmissions: Counter::default(),
            connections: Family::default(),
            bounds: Family::default(),
            media: media::MediaMetrics::default(),
            auth: auth::AuthMetrics::default(),
            registry: Registry::default(),
        };
        registry.register(
            "requests",
            "Requests received (retransmissions and malformed requests aside), by method and transport",
            metrics.requests.clone(),
        );
        registry.register(
            "requests_sent",
            "Requests the daemon sent (BYE, UPDATE, MESSAGE), by method and transport",
            metrics.sent.clone(),
        );
        registry.register(
            "responses",
            "Responses sent, by rule (protocol: the transaction layer's own answers; other: past the series cap) and status",
            metrics.responses.clone(),
        );
        registry.register(
            "events",
            "ServerContext events, by kind and cause",
            metrics.events.clone(),
        );
        registry.register(
            "drops",
            "Messages dropped, by reason",
            metrics.drops.clone(),
        );
        registry.register(
            "registrar_expired",
            "Registrar bindings removed when they expired",
            metrics.registrar_expired.clone(),
        );
        registry.register(
            "parse_errors",
            "Messages that failed to parse or validate",
            metrics.parse_errors.clone(),
        );
        registry.register(
            "reloads",
            "Configuration reloads attempted",
            metrics.reloads.clone(),
        );
        registry.register(
            "last_reload_success",
            "1 if the last reload applied, 0 if it was refused",
            metrics.last_reload_success.clone(),
        );
        registry.register(
            "transactions_in_progress",
            "Server transactions in progress",
            metrics.transactions.clone(),
        );
        registry.register("dialogs", "Dialogs established", metrics.dialogs.clone());
        registry.register(
            "retransmissions",
            "Responses and requests retransmitted",
            metrics.retransmissions.clone(),
        );
        registry.register(
            "connections",
            "Open stream connections, by transport",
            metrics.connections.clone(),
        );
        registry.register(
            "bound_reached",
            "Times a bound of per-peer state was reached (the newest work refused, or the oldest idle entry evicted), by state",
            metrics.bounds.clone(),
        );
        metrics.media.register(&mut registry);
        metrics.auth.register(&mut registry);
        metrics.last_reload_success.set(1);
        Self {
            registry,
            ..metrics
        }
    }

    pub fn request(&self, method: &str, transport: Transport) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method_label(method),
                transport: transport.name(),
            })
            .inc();
    }

    pub fn sent(&self, method: &str, transport: Transport) {
        self.sent
            .get_or_create(&RequestLabels {
                method: method_label(method),
                transport: transport.name(),
            })
            .inc();
    }

    pub fn response(&self, rule: &str, status: u16) {
        let labels = ResponseLabels {
            rule: rule.to_owned(),
            status,
        };
        if let Some(counter) = self.responses.get(&labels) {
            counter.inc();
            return;
        }
        let labels = if self.response_series.fetch_add(1, Ordering::AcqRel) < MAX_RESPONSE_SERIES {
            labels
        } else {
            self.response_series.fetch_sub(1, Ordering::AcqRel);
            ResponseLabels {
                rule: OTHER_RULE.to_owned(),
                status,
            }
        };
        self.responses.get_or_create(&labels).inc();
    }

    /// Drops the response series of `rule` (a rule deleted at run time), so
    /// rules that come and go do not use up the cap.
    pub fn forget_rule(&self, rule: &str) {
        for status in 100..=699 {
            let labels = ResponseLabels {
                rule: rule.to_owned(),
                status,
            };
            if self.responses.remove(&labels) {
                self.response_series.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }

    pub fn event(&self, kind: &'static str, cause: Option<Cause>) {
        self.events
            .get_or_create(&EventLabels {
                kind,
                cause: cause.map_or("", Cause::as_str),
            })
            .inc();
    }

    pub fn drop(&self, reason: &'static str) {
        self.drops.get_or_create(&ReasonLabels { reason }).inc();
    }

    /// The counter of drops for `reason`, for a part that counts on its own.
    pub fn drop_counter(&self, reason: &'static str) -> Counter {
        self.drops.get_or_create(&ReasonLabels { reason }).clone()
    }

    /// A bound of `state` was reached, counted where it happens (the
    /// registrar's, the API rules', the waits': see README, "State a peer
    /// creates").
    pub fn bound_reached(&self, state: &'static str) {
        self.bounds.get_or_create(&StateLabels { state }).inc();
    }

    /// A registrar binding was removed at its expiry.
    pub fn registrar_expired(&self) {
        self.registrar_expired.inc();
    }

    pub fn parse_error(&self) {
        self.parse_errors.inc();
    }

    pub fn reload(&self, applied: bool) {
        self.reloads.inc();
        self.last_reload_success.set(i64::from(applied));
    }

    pub fn set_connections(&self, transport: Transport, open: i64) {
        self.connections
            .get_or_create(&TransportLabels {
                transport: transport.name(),
            })
            .set(open);
    }

    /// Raises the count of times the bound of `state` was reached to
    /// `total` (read from the engine at scrape time).
    pub fn set_bound_reached(&self, state: &'static str, total: u64) {
        let counter = self.bounds.get_or_create(&StateLabels { state });
        let counted = counter.get();
        if total > counted {
            counter.inc_by(total - counted);
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn encode(&self) -> String {
        super::exposition::to_prometheus_text(&self.encode_openmetrics())
    }

    /// The OpenMetrics 1.0 exposition.
    pub fn encode_openmetrics(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_standard_or_other() {
        let metrics = Metrics::new();
        for method in [
            "INVITE",
            "OPTIONS",
            "FOO",
            "invite",
            "X".repeat(8000).as_str(),
        ] {
            metrics.request(method, Transport::Udp);
        }
        let text = metrics.encode();
        let series: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("sip_autoresponder_requests_total{"))
            .collect();
        assert_eq!(series.len(), 3, "{text}");
        assert!(
            text.contains("method=\"other\",transport=\"udp\"} 3"),
            "{text}"
        );
        assert!(
            METHODS.windows(2).all(|w| w[0] < w[1]),
            "sorted, no repeats"
        );
    }

    #[test]
    fn response_series_are_capped_and_forgotten() {
        let metrics = Metrics::new();
        for rule in 0..MAX_RESPONSE_SERIES + 10 {
            metrics.response(&format!("r{rule}"), 200);
        }
        let text = metrics.encode();
        let series = |text: &str| {
            text.lines()
                .filter(|l| l.starts_with("sip_autoresponder_responses_total{"))
                .count()
        };
        assert_eq!(
            series(&text),
            MAX_RESPONSE_SERIES + 1,
            "the cap, then `other`"
        );
        assert!(text.contains("rule=\"other\",status=\"200\"} 10"), "{text}");
        metrics.forget_rule("r0");
        metrics.response("fresh", 200);
        let text = metrics.encode();
        assert!(!text.contains("rule=\"r0\""));
        assert!(text.contains("rule=\"fresh\""), "room was made");
    }
}
