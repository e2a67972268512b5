//! SDP for `body = { sdp = "answer" }`: answers derived from the offer in
//! the request (RFC 3264), an offer of our own for a late-offer INVITE, and a
//! session version that moves only when a dialog's offer changes.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;

use crate::ratelog::LogLimiter;
use crate::rules::sdp::{self, AnswerContext, Codec, DtlsIdentity, Preference, SdpError};
use crate::sip::Request;

mod refusal;

pub use refusal::OfferRefusal;

/// Floods of unusable offers log one line per second, with a count.
static REFUSAL_LOG: LogLimiter = LogLimiter::new(1000);

/// Sessions remembered (by Call-ID) to keep `o=` stable within a dialog.
const SESSIONS: usize = 10_000;

/// What `body.sdp = "answer"` sends for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdpReply {
    /// The answer to the request's offer.
    Answer,
    /// Our offer: an INVITE without one (late offer).
    Offer,
    /// Nothing: any other request without an offer (an UPDATE refreshing a
    /// session timer, RFC 3311 §5.2); only an INVITE's 2xx may start one.
    Nothing,
}

impl SdpReply {
    pub fn for_request(request: &Request) -> Self {
        match request.session_description() {
            Ok(Some(_)) | Err(_) => Self::Answer,
            Ok(None) => Self::without_offer(request),
        }
    }

    fn without_offer(request: &Request) -> Self {
        if request.method() == "INVITE" {
            Self::Offer
        } else {
            Self::Nothing
        }
    }
}

/// What answers are made with; part of the reloadable snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdpSettings {
    pub codecs: Vec<Codec>,
    /// `c=`/`o=` address instead of the listener's own.
    pub public_address: Option<IpAddr>,
    pub base_port: u16,
    /// `[sdp] prefer`: whose codec order picks.
    pub prefer: Preference,
    /// Reloads that changed the settings: an answer made after one may
    /// differ for the same offer, so it takes a new session version.
    pub generation: u64,
}

impl SdpSettings {
    /// The settings a reload installs: `next`, one generation on when it
    /// answers differently from `self`.
    pub fn successor(&self, next: &Self) -> Self {
        let same = self.codecs == next.codecs
            && self.public_address == next.public_address
            && self.base_port == next.base_port
            && self.prefer == next.prefer;
        Self {
            generation: if same {
                self.generation
            } else {
                self.generation + 1
            },
            ..next.clone()
        }
    }
}

/// Makes the answers, and remembers each dialog's session.
#[derive(Debug)]
pub struct SdpService {
    /// Generated at start-up: its fingerprint goes into WebRTC answers.
    dtls: DtlsIdentity,
    sessions: Mutex<Sessions>,
}

#[derive(Debug, Default)]
struct Sessions {
    by_call: HashMap<String, Session>,
    order: VecDeque<String>,
}

#[derive(Debug, Clone)]
struct Session {
    id: u64,
    version: u64,
    /// Hash of the last offer answered: the same offer keeps the version.
    offer: u64,
    /// The last SDP sent in this call, and the CSeq of the initial INVITE
    /// it was sent for (in its responses, or in the early dialog).
    last: Option<(u32, String)>,
}

impl SdpService {
    pub fn new() -> Result<Self, SdpError> {
        Ok(Self {
            dtls: DtlsIdentity::generate()?,
            sessions: Mutex::new(Sessions::default()),
        })
    }

    /// The SDP [`SdpReply::for_request`] calls for (empty for nothing), or
    /// why the offer gets none. `local` is the listener's address. The
    /// responses to one initial INVITE carry one session description (RFC
    /// 3261 §13.3.1, RFC 6337 §3.1): once SDP went out for it — in a
    /// provisional response, or answering a PRACK or UPDATE of its early
    /// dialog — a later response repeats the last SDP sent.
    pub fn answer(
        &self,
        request: &Request,
        local: IpAddr,
        settings: &SdpSettings,
    ) -> Result<String, OfferRefusal> {
        self.answer_on_port(request, local, settings, None)
    }

    /// [`Self::answer`], with the media engine's port for the stream it
    /// serves (the other streams are declined).
    pub fn answer_on_port(
        &self,
        request: &Request,
        local: IpAddr,
        settings: &SdpSettings,
        media_port: Option<u16>,
    ) -> Result<String, OfferRefusal> {
        let refused = |refusal: OfferRefusal| {
            crate::limited!(
                REFUSAL_LOG,
                info!(sip.call_id = request.call_id(), sip.method = request.method(), %refusal, sip.status = refusal.status(), "offer refused")
            );
            refusal
        };
        let offer = request
            .session_description()
            .map_err(|e| refused(e.into()))?;
        let reply = match offer {
            Some(_) => SdpReply::Answer,
            None => SdpReply::without_offer(request),
        };
        if reply == SdpReply::Nothing {
            return Ok(String::new());
        }
        let initial_invite = request.method() == "INVITE" && request.to_tag().is_none();
        if initial_invite && let Some(sent) = self.sent_for(request.call_id(), request.cseq()) {
            return Ok(sent);
        }
        let offer = offer.unwrap_or_default();
        let sdp = self
            .make(request, offer, reply, local, settings, media_port)
            .map_err(refused)?;
        let invite_cseq = initial_invite.then(|| request.cseq());
        self.remember(request.call_id(), invite_cseq, &sdp);
        Ok(sdp)
    }

    fn make(
        &self,
        request: &Request,
        offer: &[u8],
        reply: SdpReply,
        local: IpAddr,
        settings: &SdpSettings,
        media_port: Option<u16>,
    ) -> Result<String, OfferRefusal> {
        let offer = String::from_utf8_lossy(offer);
        let (id, version) = self.session(request.call_id(), &offer, settings.generation);
        let ctx = AnswerContext {
            address: settings.public_address.unwrap_or(local),
            session_id: id,
            session_version: version,
            base_port: settings.base_port,
            codecs: &settings.codecs,
            dtls: &self.dtls,
            prefer: settings.prefer,
        };
        if reply == SdpReply::Offer {
            return Ok(sdp::offer(&ctx));
        }
        let answer =
            sdp::negotiate_serving(&offer, &ctx, media_port).map_err(OfferRefusal::of_sdp_error)?;
        // RFC 3261 §13.3.1.3: an offer none of whose streams can be taken
        // gets 488, not a 2xx whose answer rejects them all.
        if answer.offered > 0 && answer.accepted == 0 {
            return Err(OfferRefusal::NoCommonMedia {
                media_known: answer.media_known,
            });
        }
        Ok(answer.sdp)
    }

    /// The SDP last sent for the initial INVITE numbered `invite_cseq`.
    fn sent_for(&self, call_id: &str, invite_cseq: u32) -> Option<String> {
        let sessions = self.lock_sessions();
        let (cseq, sdp) = sessions.by_call.get(call_id)?.last.as_ref()?;
        (*cseq == invite_cseq).then(|| sdp.clone())
    }

    /// Records `sdp` as the last sent in the call; `invite_cseq` names the
    /// initial INVITE it answers (kept from before for an early PRACK or
    /// UPDATE).
    fn remember(&self, call_id: &str, invite_cseq: Option<u32>, sdp: &str) {
        let mut sessions = self.lock_sessions();
        let Some(session) = sessions.by_call.get_mut(call_id) else {
            return;
        };
        let cseq = match (invite_cseq, &session.last) {
            (Some(cseq), _) => cseq,
            (None, Some((cseq, _))) => *cseq,
            // A re-offer outside an initial INVITE's early dialog.
            (None, None) => return,
        };
        session.last = Some((cseq, sdp.to_owned()));
    }

    fn lock_sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Checks the SDP answer an ACK carries (after our late offer).
    pub fn check_ack_answer(&self, request: &Request) {
        let Ok(Some(answer)) = request.session_description() else {
            return;
        };
        if let Err(error) = sdp::accept_answer(&String::from_utf8_lossy(answer)) {
            crate::warn_limited!(sip.call_id = request.call_id(), %error, "the SDP answer in the ACK is unusable");
        }
    }

    /// `o=` session id and version for this Call-ID: a new offer in the same
    /// dialog, or new settings since the last answer, increment the version
    /// (RFC 3264 §8).
    fn session(&self, call_id: &str, offer: &str, generation: u64) -> (u64, u64) {
        let digest = fingerprint(offer, generation);
        let mut sessions = self.lock_sessions();
        if let Some(session) = sessions.by_call.get_mut(call_id) {
            if session.offer != digest {
                session.version += 1;
                session.offer = digest;
            }
            return (session.id, session.version);
        }
        if sessions.order.len() >= SESSIONS
            && let Some(oldest) = sessions.order.pop_front()
        {
            sessions.by_call.remove(&oldest);
        }
        let id = fastrand::u64(1..1 << 53);
        let session = Session {
            id,
            version: 1,
            offer: digest,
            last: None,
        };
        sessions.by_call.insert(call_id.to_owned(), session);
        sessions.order.push_back(call_id.to_owned());
        (id, 1)
    }
}

fn fingerprint(offer: &str, generation: u64) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    offer.hash(&mut hasher);
    generation.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests;
