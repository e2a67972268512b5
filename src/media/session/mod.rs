//! One call's media: a task that owns the call's port pair and runs until
//! the call ends (its dialog ends, the INVITE gets no 2xx, the media
//! timeout, a digit rule hangs up, shutdown). It receives the peer's RTP
//! and RTCP, echoes or generates our stream at the ptime, detects and
//! sends digits, records, reports RTCP at the usual interval and BYE at
//! the end (RFC 3550 §6), and reports what it saw when it ends.

mod handlers;
mod outbound;
mod peer;
mod record;

use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::Counters;
use super::dtmf::{Detector, Digit};
use super::params::StreamParams;
use super::ports::Lease;
use super::rtcp::ReportBlock;
use super::settings::{EndReason, MediaSettings, RecordHold};
use super::stats::ReceiveStats;
use crate::rules::media::MediaPlan;
use crate::transaction::{Dialog, TransactionLayer};
use outbound::Outbound;
use peer::Peer;
use record::Recorder;

/// A future resolving to the dialog a 2xx created, or `None`.
pub type Settled = Pin<Box<dyn Future<Output = Option<Arc<Dialog>>> + Send>>;

/// What a session lives as long as.
pub enum Lifetime {
    /// Early media: until the INVITE's transaction settles.
    Early(Settled),
    Dialog(Arc<Dialog>, Pin<Box<dyn Future<Output = ()> + Send>>),
}

impl Lifetime {
    pub fn dialog(dialog: Arc<Dialog>) -> Self {
        let watched = dialog.clone();
        Self::Dialog(dialog, Box::pin(async move { watched.ended().await }))
    }

    /// The next change: answered (a dialog), or over.
    async fn next(&mut self) -> Result<Arc<Dialog>, EndReason> {
        match self {
            Self::Early(settled) => match settled.as_mut().await {
                Some(dialog) => {
                    *self = Self::dialog(dialog.clone());
                    Ok(dialog)
                }
                None => {
                    // Never polled again: the session ends.
                    *self = Self::Early(Box::pin(std::future::pending()));
                    Err(EndReason::NotAnswered)
                }
            },
            Self::Dialog(_, ended) => {
                ended.as_mut().await;
                Err(EndReason::DialogEnded)
            }
        }
    }

    fn current(&self) -> Option<&Arc<Dialog>> {
        match self {
            Self::Dialog(dialog, _) => Some(dialog),
            Self::Early(_) => None,
        }
    }
}

/// A change the engine asks of a running session.
#[derive(Debug)]
pub enum Control {
    /// A new offer/answer (re-INVITE, UPDATE, the 2xx after early media),
    /// with the step's media plan when it names one.
    Update(StreamParams, Option<Arc<MediaPlan>>),
    /// A digit from SIP INFO.
    InfoDigit(Digit),
}

/// Everything a session starts with.
pub struct SessionStart {
    pub lease: Lease,
    pub params: StreamParams,
    pub plan: Arc<MediaPlan>,
    pub lifetime: Lifetime,
    /// Where it reports; holds the call's journal record until it ends.
    pub reporter: RecordHold,
    /// Where SIP came from: media from that address is the peer's.
    pub signalling: IpAddr,
    /// The SIP transport proved the peer receives (TCP, TLS, WebSocket).
    pub verified_transport: bool,
    /// Where to record, when the plan records (already counted).
    pub record: Option<PathBuf>,
    pub settings: Arc<MediaSettings>,
    pub layer: TransactionLayer,
    pub cname: String,
    /// For the session's own log lines.
    pub call_id: Box<str>,
}

/// A running session's state (the task's own).
struct Session {
    /// The port pair (RTP, and RTCP unless multiplexed).
    lease: Lease,
    params: StreamParams,
    plan: Arc<MediaPlan>,
    lifetime: Lifetime,
    reporter: RecordHold,
    verified_transport: bool,
    settings: Arc<MediaSettings>,
    layer: TransactionLayer,
    cname: String,
    call_id: Box<str>,
    counters: Arc<Counters>,
    out: Outbound,
    stats: ReceiveStats,
    detector: Detector,
    /// Digits received since the last `on_dtmf` match.
    typed: String,
    peer: Peer,
    rtcp_peer: Peer,
    recorder: Option<Recorder>,
    remote_report: Option<ReportBlock>,
    /// The peer's last SR: NTP middle bits, and when it came.
    last_sr: Option<(u32, Instant)>,
    rtcp_received: u64,
    started: Instant,
    /// When the next RTCP report is due.
    next_report: Instant,
    /// The media timeout counts from here (answer, last packet, unhold).
    heard_at: Instant,
    answered: bool,
    /// Counted into the engine's totals up to here.
    flushed: (u64, u64),
}

/// Runs a session until it ends; the lease is released when it returns.
pub(super) async fn run(
    start: SessionStart,
    counters: Arc<Counters>,
    control: mpsc::Receiver<Control>,
    shutdown: CancellationToken,
) -> EndReason {
    let SessionStart {
        lease,
        params,
        plan,
        lifetime,
        reporter,
        signalling,
        verified_transport,
        record,
        settings,
        layer,
        cname,
        call_id,
    } = start;
    let mut out = Outbound::new();
    out.set_sender(&plan.send, &params);
    if let Some(digits) = &plan.dtmf {
        out.queue_digits(digits);
    }
    let recorder = record.and_then(|path| {
        let codec = params.codec?;
        Recorder::create(path.clone(), codec, settings.max_recording_bytes)
            .map_err(|error| crate::warn_limited!(sip.call_id = &*call_id, path = %path.display(), %error, "cannot record"))
            .ok()
    });
    let now = Instant::now();
    let answered = lifetime.current().is_some();
    let session_settings = settings.clone();
    let mut session = Session {
        lease,
        peer: Peer::new(params.remote_rtp, signalling),
        rtcp_peer: Peer::new(params.remote_rtcp, signalling),
        params,
        plan,
        lifetime,
        reporter,
        verified_transport,
        settings,
        layer,
        cname,
        call_id,
        counters,
        out,
        stats: ReceiveStats::default(),
        detector: Detector::default(),
        typed: String::new(),
        recorder,
        remote_report: None,
        last_sr: None,
        rtcp_received: 0,
        started: now,
        // §6.2: the first report after half an interval.
        next_report: now + settings_interval(&session_settings) / 2,
        heard_at: now,
        answered,
        flushed: (0, 0),
    };
    let reason = session.serve(control, shutdown).await;
    session.finish(reason).await;
    reason
}

impl Session {
    async fn serve(
        &mut self,
        mut control: mpsc::Receiver<Control>,
        shutdown: CancellationToken,
    ) -> EndReason {
        let mut packet = vec![0u8; 2048];
        let mut rtcp_packet = vec![0u8; 1500];
        let mut send_buf = Vec::with_capacity(1500);
        let shutdown = shutdown.cancelled();
        tokio::pin!(shutdown);
        let mut pace = self.pace();
        let first = match self.settings.timeout {
            Some(timeout) => self.next_report.min(self.heard_at + timeout),
            None => self.next_report,
        };
        let housekeeping = tokio::time::sleep_until(first);
        tokio::pin!(housekeeping);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => return EndReason::Shutdown,
                next = self.lifetime.next() => match next {
                    Ok(_) => self.answered_now(),
                    Err(reason) => return reason,
                },
                Some(message) = control.recv() => {
                    let ptime = self.params.ptime_ms;
                    if let Some(reason) = self.control(message) {
                        return reason;
                    }
                    if ptime != self.params.ptime_ms {
                        pace = self.pace();
                    }
                }
                received = self.lease.rtp.recv_from(&mut packet) => {
                    if let Ok((len, from)) = received
                        && let Some(reason) = self.on_rtp(&mut packet, len, from).await
                    {
                        return reason;
                    }
                }
                received = recv_optional(self.lease.rtcp.as_ref(), &mut rtcp_packet) => {
                    if let Ok((len, from)) = received {
                        self.on_rtcp(&rtcp_packet[..len], from);
                    }
                }
                _ = pace.tick(), if self.out.paced() => self.send_tick(&mut send_buf).await,
                () = &mut housekeeping => {
                    match self.housekeep(&mut send_buf).await {
                        Ok(next) => housekeeping.as_mut().reset(next),
                        Err(reason) => return reason,
                    }
                }
            }
        }
    }

    /// The ptime clock of generated packets.
    fn pace(&self) -> tokio::time::Interval {
        let period = std::time::Duration::from_millis(u64::from(self.params.ptime_ms));
        let mut pace = tokio::time::interval(period);
        pace.set_missed_tick_behavior(MissedTickBehavior::Burst);
        pace
    }

    fn answered_now(&mut self) {
        self.answered = true;
        self.heard_at = Instant::now();
    }

    /// Where our packets may go to the peer's SDP address: it showed it
    /// receives (ACKed our 2xx, or a stream transport).
    fn verified(&self) -> bool {
        self.verified_transport
            || self
                .lifetime
                .current()
                .is_some_and(|dialog| dialog.acknowledged())
    }

    fn dialog(&self) -> Option<Arc<Dialog>> {
        self.lifetime.current().cloned()
    }
}

fn settings_interval(settings: &MediaSettings) -> std::time::Duration {
    settings.rtcp_interval.mul_f64(0.5 + fastrand::f64())
}

async fn recv_optional(
    socket: Option<&UdpSocket>,
    buf: &mut [u8],
) -> std::io::Result<(usize, std::net::SocketAddr)> {
    match socket {
        Some(socket) => socket.recv_from(buf).await,
        None => std::future::pending().await,
    }
}
