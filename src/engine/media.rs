//! A step's media, for the policy runner: the port its SDP answer names
//! (the call's running session's, else a new pair), the refusal when no
//! pair is free, the session started — or told of the new offer/answer —
//! once the response went, and digits that arrive in SIP INFO.

use tracing::info;

use super::runner::Job;
use super::sdp::SdpReply;
use crate::context::{ContextError, ReplyOptions};
use crate::media::{CallKey, Exhausted, Lease, Lifetime, RecordHold, SessionStart, StreamParams};
use crate::rules::media::Media;
use crate::rules::{Body, Step};
use crate::sip::{HeaderName, Verb};

/// The port a step's answer names.
pub(super) enum MediaPort {
    /// No media here.
    None,
    /// The call's running session.
    Running(u16),
    /// A new pair for a session to start with this response (the call's
    /// journal record held open for it).
    New(Lease, RecordHold),
    /// `explain`'s dry run: the port a live daemon would likely take.
    Simulated(u16),
}

impl MediaPort {
    pub(super) fn number(&self) -> Option<u16> {
        match self {
            Self::None => None,
            Self::Running(port) => Some(*port),
            Self::New(lease, _) => Some(lease.port),
            Self::Simulated(port) => Some(*port),
        }
    }
}

impl Job {
    fn media_key(&self) -> CallKey {
        CallKey::new(
            self.request.call_id(),
            self.request.from_tag().unwrap_or_default(),
        )
    }

    /// The request's SDP offer (its body, or its SDP part when multipart).
    fn offer(&self) -> &[u8] {
        self.request
            .session_description()
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// The port for `step`'s SDP answer: any answer in a call with a
    /// session names its port; an INVITE step with `media` takes a new
    /// pair. `Exhausted` when it wants one and none is free.
    pub(super) fn media_port(&self, step: &Step) -> Result<MediaPort, Exhausted> {
        let answers = matches!(step.body, Body::SdpAnswer)
            && SdpReply::for_request(&self.request) == SdpReply::Answer;
        if !answers {
            return Ok(MediaPort::None);
        }
        let media = &self.services.media;
        if let Some(port) = media.port_of(&self.media_key()) {
            return Ok(MediaPort::Running(port));
        }
        if !matches!(step.media, Some(Media::Plan(_))) || self.request.method() != "INVITE" {
            return Ok(MediaPort::None);
        }
        if let Some(port) = media.simulated_port() {
            return Ok(MediaPort::Simulated(port));
        }
        // RFC 5761: with rtcp-mux offered (and so answered) no RTCP port.
        let mux = memchr::memmem::find(self.offer(), b"a=rtcp-mux").is_some();
        let lease = media.lease(self.source.local.ip(), mux)?;
        Ok(MediaPort::New(
            lease,
            RecordHold::new(self.context.media_report()),
        ))
    }

    /// After `step`'s response (with `answer`) went: the new session, or
    /// the running one told of the new offer/answer and the step's plan.
    pub(super) fn media_sent(&self, step: &Step, port: MediaPort, answer: &[u8]) {
        let offer = String::from_utf8_lossy(self.offer());
        let answer = String::from_utf8_lossy(answer);
        let plan = match &step.media {
            Some(Media::Plan(plan)) => Some(plan.clone()),
            _ => None,
        };
        match port {
            MediaPort::None | MediaPort::Simulated(_) => {}
            MediaPort::Running(port) => {
                if let Some(params) = StreamParams::of(&offer, &answer, port) {
                    self.services.media.update(&self.media_key(), params, plan);
                }
            }
            MediaPort::New(lease, reporter) => {
                let Some(plan) = plan else { return };
                let Some(params) = StreamParams::of(&offer, &answer, lease.port) else {
                    info!(
                        sip.call_id = self.request.call_id(),
                        "no plain RTP audio stream in the offer: no media served"
                    );
                    return;
                };
                let record = plan.record.as_ref().and_then(|spec| {
                    if !self.services.media.claim_recording(&self.snapshot.media) {
                        // Once a second at most: every call past the bound.
                        crate::warn_limited!(
                            sip.call_id = self.request.call_id(),
                            "not recorded: [media] max_recordings reached"
                        );
                        return None;
                    }
                    Some(spec.path(&spec.file.render(&self.vars())))
                });
                let start = SessionStart {
                    lease,
                    params,
                    plan,
                    lifetime: Lifetime::Early(Box::pin(self.context.settled())),
                    reporter,
                    signalling: self.source.peer.ip(),
                    verified_transport: self.source.transport.is_reliable(),
                    record,
                    settings: self.snapshot.media.clone(),
                    layer: self.services.layer.clone(),
                    cname: format!("{:016x}@sip-autoresponder", fastrand::u64(..)),
                    call_id: self.request.call_id().into(),
                };
                self.services.media.start(self.media_key(), start);
            }
        }
    }

    /// No port pair is free: the policy's `no_media_port`, else 503 with
    /// Retry-After, as the INVITE's final response.
    pub(super) async fn refuse_media(&mut self) -> Result<(), ContextError> {
        // Once a second at most: a flood of INVITEs meets this bound.
        crate::warn_limited!(
            sip.call_id = self.request.call_id(),
            "no RTP port pair free in [media] port_range: call refused"
        );
        let policy = self.selected.policy.clone();
        let (status, reason, headers) = match policy.no_media_port() {
            Some(step) => {
                let Ok(rendered) = step.render(&self.vars(), || {
                    Ok::<_, std::convert::Infallible>(String::new())
                });
                (
                    step.status,
                    rendered.reason.into_owned(),
                    rendered.extra_headers.into_owned(),
                )
            }
            None => (
                503,
                crate::sip::reason_phrase(503).to_owned(),
                b"Retry-After: 5\r\n".to_vec(),
            ),
        };
        let options = ReplyOptions {
            status: Some(status),
            reason: Some(&reason),
            extra_headers: &headers,
            ..ReplyOptions::default()
        };
        self.context.respond(Verb::Reject, options).await
    }

    /// SIP INFO with a digit (application/dtmf-relay, application/dtmf):
    /// the call's session gets it (and reports it with the call); without
    /// one, this request's reporter records it.
    pub(super) fn info_dtmf(&self) {
        let content_type = self
            .request
            .header_values(HeaderName::ContentType)
            .next()
            .unwrap_or("");
        let body = String::from_utf8_lossy(self.request.body());
        let Some(digit) = crate::media::dtmf::info_digit(content_type, &body) else {
            return;
        };
        if !self.services.media.info_digit(&self.media_key(), digit) {
            self.context
                .media_report()
                .dtmf(digit, crate::media::DtmfSource::Info);
        }
    }
}
