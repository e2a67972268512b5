//! The media engine (a peer of `transport`): RTP and RTCP for answered
//! calls. A call gets one port pair from `[media] port_range` when a step
//! with `media` sends its SDP answer (at 183 for early media, else the
//! 2xx), and a session task that serves it until the call ends — its
//! dialog ends (BYE either way, max duration, session timer, No ACK,
//! shutdown), or the INVITE gets no 2xx, or no RTP comes for
//! `[media] timeout_ms` (then it sends BYE). The engine owns the table of
//! sessions (one per call, bounded by the port pairs) and their totals.
//!
//! What a session does is in `session/`; the wire formats are `rtp.rs`,
//! `rtcp.rs`, `dtmf.rs`; the codecs `codec/`; what the SDP says,
//! `params.rs`.

pub mod codec;
pub mod dtmf;
pub mod params;
pub mod ports;
pub mod rtcp;
pub mod rtp;
pub mod session;
pub mod settings;
mod stats;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::rules::media::MediaPlan;
use crate::transaction::TransactionLayer;
pub use dtmf::Digit;
pub use params::StreamParams;
pub use ports::{Exhausted, Lease, PortPool};
pub use session::{Control, Lifetime, SessionStart, Settled};
pub use settings::{
    DtmfSource, EndReason, MediaReport, MediaSettings, MediaSummary, QuietMedia, RecordHold,
};

/// Changes queued for one session at most (re-INVITEs, INFO digits); more
/// are dropped.
const CONTROL_QUEUE: usize = 16;

/// Totals over every session, for `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    pub packets_sent: AtomicU64,
    pub packets_received: AtomicU64,
    pub sessions_started: AtomicU64,
    /// Calls ended by `[media] timeout_ms`.
    pub timeouts: AtomicU64,
    /// Calls refused because no port pair was free.
    pub ports_exhausted: AtomicU64,
    /// Recordings not made: `[media] max_recordings` reached.
    pub recordings_refused: AtomicU64,
}

/// A call, as media knows it: Call-ID and the caller's tag (the same in
/// its re-INVITEs, UPDATEs and INFOs).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallKey(Box<str>);

impl CallKey {
    pub fn new(call_id: &str, from_tag: &str) -> Self {
        Self(format!("{call_id}\n{from_tag}").into())
    }
}

/// The engine's handle on a running session.
#[derive(Debug)]
struct SessionHandle {
    port: u16,
    control: mpsc::Sender<Control>,
}

/// The sessions, their ports and their totals.
#[derive(Debug)]
pub struct MediaEngine {
    pool: Arc<PortPool>,
    sessions: Mutex<HashMap<CallKey, Arc<SessionHandle>>>,
    counters: Arc<Counters>,
    recordings: AtomicUsize,
    shutdown: CancellationToken,
    layer: TransactionLayer,
    /// `explain`'s dry run: answers name the range's first port, and no
    /// socket is bound, no session runs.
    simulated: bool,
    first_port: u16,
}

impl MediaEngine {
    /// The pool is `settings`' port range for the life of the daemon.
    pub fn new(settings: &MediaSettings, layer: TransactionLayer) -> Self {
        Self {
            pool: PortPool::new(settings.first_port, settings.last_port),
            sessions: Mutex::default(),
            counters: Arc::default(),
            recordings: AtomicUsize::new(0),
            shutdown: CancellationToken::new(),
            layer,
            simulated: false,
            first_port: settings.first_port,
        }
    }

    /// An engine that binds nothing (`explain`'s dry run).
    pub fn simulated(settings: &MediaSettings, layer: TransactionLayer) -> Self {
        Self {
            simulated: true,
            ..Self::new(settings, layer)
        }
    }

    /// In a dry run: the port an answer would name (the range's first).
    pub fn simulated_port(&self) -> Option<u16> {
        self.simulated.then_some(self.first_port)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<CallKey, Arc<SessionHandle>>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The port of the call's running session, if it has one.
    pub fn port_of(&self, key: &CallKey) -> Option<u16> {
        self.lock().get(key).map(|s| s.port)
    }

    /// A port pair on `ip` for a new session, or `Exhausted` (counted).
    pub fn lease(&self, ip: IpAddr, mux: bool) -> Result<Lease, Exhausted> {
        self.pool.lease(ip, mux).inspect_err(|_| {
            self.counters
                .ports_exhausted
                .fetch_add(1, Ordering::Relaxed);
        })
    }

    /// One more recording, unless `max_recordings` were made already.
    pub fn claim_recording(&self, settings: &MediaSettings) -> bool {
        let claimed = self
            .recordings
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < settings.max_recordings).then_some(n + 1)
            })
            .is_ok();
        if !claimed {
            self.counters
                .recordings_refused
                .fetch_add(1, Ordering::Relaxed);
        }
        claimed
    }

    /// Starts the session of `key`; it removes itself when it ends.
    pub fn start(self: &Arc<Self>, key: CallKey, start: SessionStart) {
        let (control, queue) = mpsc::channel(CONTROL_QUEUE);
        let handle = Arc::new(SessionHandle {
            port: start.lease.port,
            control,
        });
        if let Some(old) = self.lock().insert(key.clone(), handle.clone()) {
            // Not expected (the caller reuses a running session); the old
            // one ends when its call does, unreachable by key meanwhile.
            debug!(port = old.port, "media session replaced");
        }
        self.counters
            .sessions_started
            .fetch_add(1, Ordering::Relaxed);
        let engine = self.clone();
        let shutdown = self.shutdown.child_token();
        tokio::spawn(async move {
            let counters = engine.counters.clone();
            session::run(start, counters, queue, shutdown).await;
            let mut sessions = engine.lock();
            if sessions.get(&key).is_some_and(|s| Arc::ptr_eq(s, &handle)) {
                sessions.remove(&key);
            }
        });
    }

    /// Tells the call's session of a new offer/answer; false when it has
    /// none.
    pub fn update(
        &self,
        key: &CallKey,
        params: StreamParams,
        plan: Option<Arc<MediaPlan>>,
    ) -> bool {
        self.send(key, Control::Update(params, plan))
    }

    /// A digit from SIP INFO for the call's session; false when it has
    /// none.
    pub fn info_digit(&self, key: &CallKey, digit: Digit) -> bool {
        self.send(key, Control::InfoDigit(digit))
    }

    fn send(&self, key: &CallKey, control: Control) -> bool {
        let handle = self.lock().get(key).cloned();
        match handle {
            Some(handle) => {
                if handle.control.try_send(control).is_err() {
                    debug!("media session busy: change dropped");
                }
                true
            }
            None => false,
        }
    }

    /// Sessions running.
    pub fn sessions(&self) -> usize {
        self.lock().len()
    }

    /// Port pairs in use, and in all.
    pub fn ports(&self) -> (usize, usize) {
        (self.pool.in_use(), self.pool.capacity())
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The layer sessions end their dialogs through.
    pub fn layer(&self) -> &TransactionLayer {
        &self.layer
    }

    /// Ends every session (the daemon stops).
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }
}
