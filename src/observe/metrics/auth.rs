//! The digest authentication series of `/metrics`: challenges by status
//! and staleness, successes, and failures by reason. Every label comes
//! from a fixed set, so no peer adds a series.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChallengeLabels {
    /// 401 or 407.
    status: u16,
    stale: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    reason: &'static str,
}

/// The authentication counters.
#[derive(Debug, Default)]
pub struct AuthMetrics {
    challenges: Family<ChallengeLabels, Counter>,
    successes: Counter,
    failures: Family<FailureLabels, Counter>,
}

impl AuthMetrics {
    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "auth_challenges",
            "Digest challenges sent (401 or 407), by status and whether the nonce was stale",
            self.challenges.clone(),
        );
        registry.register(
            "auth_successes",
            "Requests whose credentials were accepted",
            self.successes.clone(),
        );
        registry.register(
            "auth_failures",
            "Credentials refused, by reason (wrong_password, unknown_user, malformed, replayed_nonce, stale_nonce, not_owner)",
            self.failures.clone(),
        );
    }

    /// A challenge went out (`status` 401 or 407).
    pub fn challenge(&self, status: u16, stale: bool) {
        let stale = if stale { "true" } else { "false" };
        self.challenges
            .get_or_create(&ChallengeLabels { status, stale })
            .inc();
    }

    pub fn success(&self) {
        self.successes.inc();
    }

    /// Credentials were refused for `reason` (one of `auth::FailReason`'s
    /// names: a fixed set).
    pub fn failure(&self, reason: &'static str) {
        self.failures.get_or_create(&FailureLabels { reason }).inc();
    }
}
