//! Dialogs (RFC 3261 §12), UAS side: what later requests need (tags, route
//! set, remote target, CSeqs, the last SDP answer) and when the dialog must
//! end (hang-up, maximum duration, session timer). Found by Call-ID and
//! tags; owned by the dialog table, which ends each one.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::dialogs::DialogSlot;
use super::report::Reporter;
use super::session_timer::{Refresher, SessionTerms};
use super::settings::{DialogSettings, LayerSettings};
use crate::sip::Request;
use crate::transport::Flow;

/// Call-ID, local tag, remote tag (§12), as a 64-bit hash under a
/// per-process random seed, as transaction keys are: no allocation per
/// dialog, and two dialogs meet by chance with a probability near 2^-64
/// (a peer cannot aim for it; `DialogTable::find` also compares the
/// Call-ID and our tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct DialogKey(u64);

impl DialogKey {
    pub(crate) fn new(call_id: &str, local_tag: &str, remote_tag: &str) -> Self {
        use std::hash::{BuildHasher, Hasher};
        static SEED: std::sync::OnceLock<std::collections::hash_map::RandomState> =
            std::sync::OnceLock::new();
        let mut hasher = SEED
            .get_or_init(std::collections::hash_map::RandomState::new)
            .build_hasher();
        // Each field ended by 0xFF (no byte of UTF-8 text), so no two
        // triples run into the same input.
        for field in [call_id, local_tag, remote_tag] {
            hasher.write(field.as_bytes());
            hasher.write_u8(0xFF);
        }
        Self(hasher.finish())
    }
}

/// What an initial INVITE contributes to the dialog its 2xx creates,
/// taken when its transaction opens (with a reserved place in the table).
#[derive(Debug)]
pub(crate) struct DialogSeed {
    pub(crate) call_id: Box<str>,
    pub(crate) remote_tag: Box<str>,
    /// The To value of the INVITE (our identity, without tag).
    pub(crate) local_header: Box<str>,
    /// The From value of the INVITE (the peer, with its tag).
    pub(crate) remote_header: Box<str>,
    /// Contact of the INVITE (§12.1.1 remote target), else its From URI.
    pub(crate) remote_target: Box<str>,
    /// Record-Route of the INVITE, in order (§12.1.1: a UAS keeps it as is).
    pub(crate) route_set: Box<[Box<str>]>,
    pub(crate) invite_cseq: u32,
    /// The flow the INVITE came from: in-dialog requests go back over it.
    pub(crate) flow: Flow,
    pub(crate) sent_by: Arc<str>,
    /// Our Contact URI (the listener's), for target-refresh requests.
    pub(crate) contact: Arc<str>,
    pub(crate) slot: DialogSlot,
}

/// Most Record-Route entries a dialog keeps: a route set longer than any
/// real path is refused like one too large.
pub(crate) const MAX_ROUTES: usize = 32;

impl DialogSeed {
    /// Whether the dialog of `request` fits `settings`: its bytes (route
    /// set, remote target, From, To, Call-ID) and its route count.
    pub(crate) fn fits(request: &Request, settings: &DialogSettings) -> Result<(), String> {
        let routes = request.record_routes();
        if routes.len() > MAX_ROUTES {
            return Err(format!(
                "{} Record-Route entries, limit {MAX_ROUTES}",
                routes.len()
            ));
        }
        let size = routes.iter().map(String::len).sum::<usize>()
            + request.call_id().len()
            + request.to_value().len()
            + request.from_value().len()
            + request.contact_uri().unwrap_or(request.from_uri()).len();
        if size > settings.max_bytes {
            return Err(format!(
                "dialog state of {size} bytes, limit {}",
                settings.max_bytes
            ));
        }
        Ok(())
    }

    pub(crate) fn new(
        request: &Request,
        flow: Flow,
        listener: &crate::transport::ListenerInfo,
        slot: DialogSlot,
    ) -> Self {
        Self {
            call_id: request.call_id().into(),
            remote_tag: request.from_tag().unwrap_or_default().into(),
            local_header: request.to_value().into(),
            remote_header: request.from_value().into(),
            remote_target: request.contact_uri().unwrap_or(request.from_uri()).into(),
            route_set: request
                .record_routes()
                .into_iter()
                .map(String::into_boxed_str)
                .collect(),
            invite_cseq: request.cseq(),
            flow,
            sent_by: listener.sent_by.clone(),
            contact: listener.contact.clone(),
            slot,
        }
    }
}

/// Why the layer ends a dialog with BYE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByeReason {
    /// No ACK for the 2xx within 64·T1 (§13.3.1.4).
    NoAck,
    /// The rule's `hangup_after_ms` passed.
    Hangup,
    /// `[dialog] max_duration_ms` passed.
    MaxDuration,
    /// The session interval passed without a refresh (RFC 4028 §10), or
    /// our own refresh failed.
    SessionExpired,
    /// The admin API ended it (`DELETE /dialogs/…`, `POST /reset/dialogs`,
    /// `DELETE /scopes/…`).
    Admin,
    /// No RTP from the peer for `[media] timeout_ms`.
    RtpTimeout,
}

impl ByeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoAck => "no ACK",
            Self::Hangup => "hangup_after_ms",
            Self::MaxDuration => "max_duration_ms",
            Self::SessionExpired => "session timer",
            Self::Admin => "admin API",
            Self::RtpTimeout => "RTP timeout",
        }
    }
}

/// What the dialog clock must do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    Bye(ByeReason),
    /// We are the refresher (RFC 4028): send UPDATE.
    Refresh,
}

#[derive(Debug)]
struct Deadlines {
    hangup_at: Option<Instant>,
    expires_at: Instant,
    session: Option<SessionTerms>,
    /// When the session was last refreshed.
    refreshed_at: Instant,
    /// An UPDATE refresh of ours is under way.
    refreshing: bool,
    /// The earliest entry the clock holds for this dialog.
    pub(crate) scheduled: Option<Instant>,
}

/// The UAS side of one dialog.
#[derive(Debug)]
pub struct Dialog {
    pub(crate) key: DialogKey,
    pub call_id: Box<str>,
    pub local_tag: Box<str>,
    pub local_header: Box<str>,
    pub remote_header: Box<str>,
    pub remote_target: Box<str>,
    pub route_set: Box<[Box<str>]>,
    pub flow: Flow,
    pub sent_by: Arc<str>,
    pub(crate) contact: Arc<str>,
    /// When the 2xx created it.
    pub started: Instant,
    /// The settings the dialog started with.
    pub(crate) settings: Arc<LayerSettings>,
    pub(crate) reporter: Reporter,
    /// CSeq of the INVITE that created the dialog.
    invite_cseq: u32,
    local_cseq: AtomicU32,
    /// The highest CSeq the peer has used in the dialog (§12.2.2).
    remote_cseq: AtomicU32,
    /// The highest INVITE CSeq whose 2xx was acknowledged (0: none yet:
    /// the peer has not shown it receives).
    acked_cseq: AtomicU32,
    ack: Notify,
    /// The SDP we answered with, echoed to re-INVITE/UPDATE offers.
    answer: Option<Bytes>,
    deadlines: Mutex<Deadlines>,
    pub(crate) ended: CancellationToken,
    _slot: DialogSlot,
}

/// The parts of a dialog that are not in its seed.
pub(crate) struct DialogStart {
    pub(crate) local_tag: Box<str>,
    /// Names the rule and scope of the dialog.
    pub(crate) reporter: Reporter,
    pub(crate) settings: Arc<LayerSettings>,
    pub(crate) answer: Option<Bytes>,
    pub(crate) session: Option<SessionTerms>,
    /// The highest CSeq seen in the early dialog (RFC 3262 PRACK, RFC 3311
    /// UPDATE), carried into the confirmed one (§12.2.2).
    pub(crate) early_cseq: u32,
}

impl Dialog {
    pub(crate) fn new(seed: DialogSeed, start: DialogStart, now: Instant) -> Self {
        let max_duration = start.settings.dialog.max_duration;
        Self {
            key: DialogKey::new(&seed.call_id, &start.local_tag, &seed.remote_tag),
            call_id: seed.call_id,
            local_tag: start.local_tag,
            local_header: seed.local_header,
            remote_header: seed.remote_header,
            remote_target: seed.remote_target,
            route_set: seed.route_set,
            flow: seed.flow,
            sent_by: seed.sent_by,
            contact: seed.contact,
            started: now,
            settings: start.settings,
            reporter: start.reporter,
            invite_cseq: seed.invite_cseq,
            local_cseq: AtomicU32::new(0),
            remote_cseq: AtomicU32::new(seed.invite_cseq.max(start.early_cseq)),
            acked_cseq: AtomicU32::new(0),
            ack: Notify::new(),
            answer: start.answer,
            deadlines: Mutex::new(Deadlines {
                hangup_at: None,
                expires_at: now + max_duration,
                session: start.session,
                refreshed_at: now,
                refreshing: false,
                scheduled: None,
            }),
            ended: CancellationToken::new(),
            _slot: seed.slot,
        }
    }

    /// Records the CSeq of an in-dialog request from the peer; false when
    /// it is lower than one already seen, which §12.2.2 answers with 500.
    pub(crate) fn accept_remote_cseq(&self, cseq: u32) -> bool {
        self.remote_cseq.fetch_max(cseq, Ordering::Relaxed) <= cseq
    }

    /// The next local CSeq (§12.2.1.1: one higher than the previous).
    pub fn next_cseq(&self) -> u32 {
        self.local_cseq.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The ACK for the 2xx to the INVITE numbered `cseq` arrived.
    pub(crate) fn acknowledge(&self, cseq: u32) {
        self.acked_cseq.fetch_max(cseq, Ordering::AcqRel);
        self.ack.notify_waiters();
    }

    /// The flow requests of ours in the dialog take: the peer ACKed our 2xx,
    /// so it is not metered as an unverified UDP source.
    pub(crate) fn request_flow(&self) -> Flow {
        if self.acked_cseq.load(Ordering::Acquire) > 0 {
            self.flow.clone().unmetered()
        } else {
            self.flow.clone()
        }
    }

    /// Resolves once the 2xx to the INVITE numbered `cseq` is acknowledged.
    pub(crate) async fn acked(&self, cseq: u32) {
        loop {
            let notified = self.ack.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.acked_cseq.load(Ordering::Acquire) >= cseq {
                return;
            }
            notified.await;
        }
    }

    /// Resolves when the dialog ends (BYE received or sent).
    pub async fn ended(&self) {
        self.ended.cancelled().await;
    }

    pub fn is_ended(&self) -> bool {
        self.ended.is_cancelled()
    }

    /// Whether the peer acknowledged a 2xx of ours (so it receives what we
    /// send to it: media may go to its SDP address).
    pub fn acknowledged(&self) -> bool {
        self.acked_cseq.load(Ordering::Acquire) > 0
    }

    /// The last SDP answer sent in this dialog.
    pub fn answer(&self) -> Option<Bytes> {
        self.answer.clone()
    }

    /// The rule that answered the INVITE (its reporter's: the dialog keeps
    /// no copy).
    pub fn rule(&self) -> Arc<str> {
        self.reporter.rule()
    }

    /// The test the INVITE belonged to, if any.
    pub fn scope(&self) -> Option<Arc<str>> {
        self.reporter.scope()
    }

    /// Request-URI and Route set for a request in the dialog (§12.2.1.1):
    /// loose routing keeps the remote target; a strict first route becomes
    /// the Request-URI and the remote target goes last.
    pub fn request_target(&self) -> (String, Vec<String>) {
        let routes = || self.route_set.iter().map(|r| r.to_string());
        match self.route_set.first() {
            None => (self.remote_target.to_string(), Vec::new()),
            Some(first) if first.contains(";lr") => {
                (self.remote_target.to_string(), routes().collect())
            }
            Some(first) => {
                let uri = first
                    .trim()
                    .trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap_or(first)
                    .to_owned();
                let mut rest: Vec<String> = routes().skip(1).collect();
                rest.push(format!("<{}>", self.remote_target));
                (uri, rest)
            }
        }
    }

    fn deadlines(&self) -> MutexGuard<'_, Deadlines> {
        self.deadlines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Ends the dialog with BYE `after` from now (the rule's hang-up).
    pub(crate) fn set_hangup(&self, after: Duration, now: Instant) {
        self.deadlines().hangup_at = Some(now + after);
    }

    /// A refresh was accepted (RFC 4028 §10): the session interval counts
    /// again from now, with the terms just agreed (none: timer off).
    pub(crate) fn refreshed(&self, session: Option<SessionTerms>, now: Instant) {
        let mut deadlines = self.deadlines();
        deadlines.session = session;
        deadlines.refreshed_at = now;
        deadlines.refreshing = false;
    }

    /// Our own refresh is under way (no second one until it ends).
    pub(crate) fn start_refresh(&self) {
        self.deadlines().refreshing = true;
    }

    /// The session terms now in force.
    pub(crate) fn session(&self) -> Option<SessionTerms> {
        self.deadlines().session
    }

    /// The next instant the dialog clock must act, and what it must do.
    pub(crate) fn next_due(&self) -> (Instant, Due) {
        let deadlines = self.deadlines();
        let mut next = (deadlines.expires_at, Due::Bye(ByeReason::MaxDuration));
        // §15: no BYE of ours before the ACK of the 2xx (a missing ACK ends
        // the dialog by itself); the ACK reschedules.
        let acked = self.acked_cseq.load(Ordering::Acquire) >= self.invite_cseq;
        if let Some(at) = deadlines.hangup_at.filter(|_| acked)
            && at < next.0
        {
            next = (at, Due::Bye(ByeReason::Hangup));
        }
        if let Some(session) = deadlines.session {
            let interval = Duration::from_secs(session.interval.into());
            let due = match session.refresher {
                // §10: the side that does not refresh ends the session a
                // little before it expires: min(32 s, interval / 3).
                Refresher::Uac => (
                    deadlines.refreshed_at + interval - (interval / 3).min(Duration::from_secs(32)),
                    Due::Bye(ByeReason::SessionExpired),
                ),
                Refresher::Uas if deadlines.refreshing => (
                    deadlines.refreshed_at + interval,
                    Due::Bye(ByeReason::SessionExpired),
                ),
                // §10: the refresher refreshes at half the interval.
                Refresher::Uas => (deadlines.refreshed_at + interval / 2, Due::Refresh),
            };
            if due.0 < next.0 {
                next = due;
            }
        }
        next
    }

    /// Records that the clock holds an entry for `at`; false when it
    /// already holds an earlier one (then no new entry is needed).
    pub(crate) fn schedule_at(&self, at: Instant) -> bool {
        let mut deadlines = self.deadlines();
        match deadlines.scheduled {
            Some(scheduled) if scheduled <= at => false,
            _ => {
                deadlines.scheduled = Some(at);
                true
            }
        }
    }

    /// The clock popped an entry for `at`: true when it is the live one
    /// (an entry superseded by an earlier one is stale and ignored).
    pub(crate) fn take_schedule(&self, at: Instant) -> bool {
        let mut deadlines = self.deadlines();
        if deadlines.scheduled == Some(at) {
            deadlines.scheduled = None;
            return true;
        }
        false
    }
}
#[cfg(test)]
mod size_tests {
    /// With its two reference counts an `Arc<Dialog>` fits the allocator's
    /// 512-byte class: one byte more and every open call takes 640 (issue
    /// 14: 80,000 open calls within 150 MB).
    #[test]
    fn a_dialog_fits_512_bytes() {
        let counts = 2 * std::mem::size_of::<usize>();
        assert!(std::mem::size_of::<super::Dialog>() + counts <= 512);
    }
}
