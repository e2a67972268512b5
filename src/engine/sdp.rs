//! SDP for `body = { sdp = "answer" }`: answers derived from the offer in
//! the request (RFC 3264), an offer of our own for a late-offer INVITE, and a
//! session version that moves only when a dialog's offer changes.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tracing::warn;

use crate::rules::sdp::{self, AnswerContext, Codec, DtlsIdentity, SdpError};
use crate::sip::Request;

/// Sessions remembered (by Call-ID) to keep `o=` stable within a dialog.
const SESSIONS: usize = 10_000;

/// What answers are made with; a reload replaces it.
#[derive(Debug, Clone)]
pub struct SdpSettings {
    pub codecs: Vec<Codec>,
    /// `c=`/`o=` address instead of the listener's own.
    pub public_address: Option<IpAddr>,
    pub base_port: u16,
}

/// Makes the answers, and remembers each dialog's session.
#[derive(Debug)]
pub struct SdpService {
    settings: ArcSwap<SdpSettings>,
    /// Generated at start-up: its fingerprint goes into WebRTC answers.
    dtls: DtlsIdentity,
    sessions: Mutex<Sessions>,
}

#[derive(Debug, Default)]
struct Sessions {
    by_call: HashMap<String, Session>,
    order: VecDeque<String>,
}

#[derive(Debug, Clone, Copy)]
struct Session {
    id: u64,
    version: u64,
    /// Hash of the last offer answered: the same offer keeps the version.
    offer: u64,
}

impl SdpService {
    pub fn new(settings: SdpSettings) -> Result<Self, SdpError> {
        Ok(Self {
            settings: ArcSwap::from_pointee(settings),
            dtls: DtlsIdentity::generate()?,
            sessions: Mutex::new(Sessions::default()),
        })
    }

    /// Applies a reload: answers made from now on use `settings`.
    pub fn reconfigure(&self, settings: SdpSettings) {
        self.settings.store(Arc::new(settings));
    }

    /// The answer to the offer in `request` — or, for an INVITE without
    /// one (late offer), our offer. Any other request without an offer (an
    /// UPDATE refreshing a session timer, RFC 3311 §5.2) gets no SDP: only
    /// an INVITE's 2xx may start an offer. `local` is the listener's address.
    pub fn answer(&self, request: &Request, local: IpAddr) -> String {
        let offer = String::from_utf8_lossy(request.body());
        let late_offer = offer.trim().is_empty();
        if late_offer && request.method() != "INVITE" {
            return String::new();
        }
        let settings = self.settings.load();
        let (id, version) = self.session(request.call_id(), &offer);
        let ctx = AnswerContext {
            address: settings.public_address.unwrap_or(local),
            session_id: id,
            session_version: version,
            base_port: settings.base_port,
            codecs: &settings.codecs,
            dtls: &self.dtls,
        };
        if late_offer {
            return sdp::offer(&ctx);
        }
        match sdp::answer(&offer, &ctx) {
            Ok(answer) => answer,
            Err(error) => {
                warn!(call_id = request.call_id(), %error, "no SDP answer: the offer is unusable");
                String::new()
            }
        }
    }

    /// Checks the SDP answer an ACK carries (after our late offer).
    pub fn check_ack_answer(&self, request: &Request) {
        if request.body().is_empty() {
            return;
        }
        if let Err(error) = sdp::accept_answer(&String::from_utf8_lossy(request.body())) {
            warn!(call_id = request.call_id(), %error, "the SDP answer in the ACK is unusable");
        }
    }

    /// `o=` session id and version for this Call-ID: a new offer in the same
    /// dialog increments the version (RFC 3264 §8).
    fn session(&self, call_id: &str, offer: &str) -> (u64, u64) {
        let digest = fingerprint(offer);
        let mut sessions = self
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
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
        let session = Session {
            id: fastrand::u64(1..1 << 53),
            version: 1,
            offer: digest,
        };
        sessions.by_call.insert(call_id.to_owned(), session);
        sessions.order.push_back(call_id.to_owned());
        (session.id, session.version)
    }
}

fn fingerprint(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}
