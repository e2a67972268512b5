//! Dispatch: an incoming message → validation → the transaction layer →
//! protocol checks → the rule set → a ServerContext running the chosen
//! policy. Everything reloadable arrives as one [`Snapshot`], loaded once
//! per message.

mod auth;
mod auto_reply;
mod dispatch;
mod handler;
mod media;
pub mod protocol;
mod quick;
mod ratelimit;
pub mod registrar;
mod runner;
pub mod sdp;
mod snapshot;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use arc_swap::ArcSwap;

use crate::observe::Observer;
use crate::sip::Limits;
use crate::transaction::TransactionLayer;
use registrar::Registrar;
use sdp::SdpService;
pub use snapshot::Snapshot;

/// Settings the engine itself applies to every message.
#[derive(Debug, Clone, Default)]
pub struct EngineSettings {
    pub limits: Limits,
    /// When set, other methods get 405 with Allow.
    pub allowed_methods: Option<Vec<String>>,
    /// Per-source request rate limit.
    pub rate_limit: Option<crate::config::RateLimit>,
    /// What an unverified UDP source may be sent.
    pub unverified_udp: crate::transport::Allowance,
    /// Where a request's scope is read from.
    pub scope: crate::rules::ScopeSource,
}

/// The request dispatcher shared by every listener.
#[derive(Debug)]
pub struct Engine {
    current: ArcSwap<Snapshot>,
    transactions: TransactionLayer,
    registrar: Arc<Registrar>,
    sdp: Arc<SdpService>,
    /// RTP for answered calls.
    media: Arc<crate::media::MediaEngine>,
    /// Policies still running (delays, auto-replies).
    jobs: Arc<AtomicUsize>,
    /// Set on shutdown: new requests get 503, work in flight finishes.
    draining: AtomicBool,
    /// The journal and metrics, when the admin listener is on.
    observer: Option<Arc<Observer>>,
    limiter: ratelimit::SourceLimiter,
    /// The credit of every UDP source (no amplification toward spoofed ones).
    guard: Arc<crate::transport::SourceGuard>,
    /// Sequence keys evicted by rule sets a reload replaced.
    retired_evictions: std::sync::atomic::AtomicU64,
    /// The nonce secret and nonce counts (kept across reloads).
    auth: crate::auth::AuthService,
}

/// Counts a running job until dropped.
pub(super) struct JobGuard(Arc<AtomicUsize>);

impl Clone for JobGuard {
    fn clone(&self) -> Self {
        Self::new(&self.0)
    }
}

impl JobGuard {
    fn new(jobs: &Arc<AtomicUsize>) -> Self {
        jobs.fetch_add(1, Ordering::AcqRel);
        Self(jobs.clone())
    }
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Engine {
    pub fn new(snapshot: Snapshot, sdp: SdpService) -> Self {
        let transactions = TransactionLayer::new();
        let media = crate::media::MediaEngine::new(&snapshot.media, transactions.clone());
        Self {
            current: ArcSwap::from_pointee(snapshot),
            media: Arc::new(media),
            transactions,
            registrar: Arc::new(Registrar::default()),
            sdp: Arc::new(sdp),
            jobs: Arc::new(AtomicUsize::new(0)),
            draining: AtomicBool::new(false),
            observer: None,
            limiter: ratelimit::SourceLimiter::default(),
            guard: Arc::default(),
            retired_evictions: std::sync::atomic::AtomicU64::new(0),
            auth: crate::auth::AuthService::default(),
        }
    }

    /// Media that binds nothing and runs nothing (`explain`'s dry run).
    pub fn with_simulated_media(mut self) -> Self {
        let settings = self.current.load().media.clone();
        self.media = Arc::new(crate::media::MediaEngine::simulated(
            &settings,
            self.transactions.clone(),
        ));
        self
    }

    /// Feeds `observer` (journal and metrics) from now on, the requests
    /// the transaction layer sends included.
    pub fn with_observer(mut self, observer: Option<Arc<Observer>>) -> Self {
        self.registrar.observed_by(observer.as_ref());
        if let Some(observer) = &observer {
            self.transactions.set_sent_log(observer.clone());
        }
        self.observer = observer;
        self
    }

    pub fn observer(&self) -> Option<&Arc<Observer>> {
        self.observer.as_ref()
    }

    /// Stops taking new requests (they get 503 with Retry-After); requests
    /// of transactions and dialogs already in flight are still served.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Whether anything is still in flight: running policies, transactions
    /// in progress or requests we sent.
    pub fn is_idle(&self) -> bool {
        self.jobs.load(Ordering::Acquire) == 0
            && !self.transactions.is_busy()
            && self.transactions.client_transactions() == 0
    }

    /// Installs a new snapshot; what is in flight keeps its own. SDP
    /// answers made from now on take a new session version when the SDP
    /// settings changed (RFC 3264 §8).
    pub fn replace(&self, mut snapshot: Snapshot) {
        let current = self.current.load();
        snapshot.sdp = Arc::new(current.sdp.successor(&snapshot.sdp));
        self.retire(&current.rules, &snapshot.rules);
        self.current.store(Arc::new(snapshot));
    }

    /// Installs `rules` with the current settings (a rule change at run
    /// time): one swap, so a request sees the old set or the new one.
    /// The caller serialises changes (see `lab`).
    pub fn replace_rules(&self, rules: Arc<crate::rules::RuleSet>) {
        let current = self.current.load_full();
        self.retire(&current.rules, &rules);
        self.current.store(Arc::new(Snapshot {
            rules,
            ..(*current).clone()
        }));
    }

    /// Keeps the eviction counts of the rules `next` drops.
    fn retire(&self, current: &crate::rules::RuleSet, next: &crate::rules::RuleSet) {
        self.retired_evictions.fetch_add(
            current.sequence_keys_evicted_leaving(next),
            Ordering::Relaxed,
        );
    }

    /// Sequence keys evicted to make room so far (`[rule.sequence]`
    /// `max_keys`), across reloads.
    pub fn sequence_keys_evicted(&self) -> u64 {
        self.retired_evictions.load(Ordering::Relaxed)
            + self.current.load().rules.sequence_keys_evicted()
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    pub fn transactions(&self) -> &TransactionLayer {
        &self.transactions
    }

    pub fn sdp(&self) -> &SdpService {
        &self.sdp
    }

    pub fn media(&self) -> &Arc<crate::media::MediaEngine> {
        &self.media
    }

    /// Messages not sent to unverified UDP sources for want of credit.
    pub fn udp_withheld(&self) -> u64 {
        self.guard.withheld()
    }

    pub fn registrar(&self) -> &Registrar {
        &self.registrar
    }

    /// Nonces whose counts were forgotten at their bound
    /// (`auth::MAX_NONCES`).
    pub fn nonces_forgotten(&self) -> u64 {
        self.auth.nonces_forgotten()
    }
}
