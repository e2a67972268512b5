//! SDP for `body = { sdp = "answer" }`: answers derived from the offer in
//! the request (RFC 3264), an offer of our own for a late-offer INVITE, and a
//! session version that moves only when a dialog's offer changes.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tracing::warn;

use crate::rules::sdp::{self, AnswerContext, Codec, DtlsIdentity, SdpError};
use crate::sip::Request;

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
        if !request.body().trim_ascii().is_empty() {
            Self::Answer
        } else if request.method() == "INVITE" {
            Self::Offer
        } else {
            Self::Nothing
        }
    }
}

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
    /// Reloads so far: an answer made after one may differ for the same
    /// offer, so it takes a new session version.
    generation: AtomicU64,
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
            generation: AtomicU64::new(0),
            dtls: DtlsIdentity::generate()?,
            sessions: Mutex::new(Sessions::default()),
        })
    }

    /// Applies a reload: answers made from now on use `settings`.
    pub fn reconfigure(&self, settings: SdpSettings) {
        self.settings.store(Arc::new(settings));
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    /// The SDP [`SdpReply::for_request`] calls for (empty for nothing).
    /// `local` is the listener's address.
    pub fn answer(&self, request: &Request, local: IpAddr) -> String {
        let reply = SdpReply::for_request(request);
        if reply == SdpReply::Nothing {
            return String::new();
        }
        let offer = String::from_utf8_lossy(request.body());
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
        if reply == SdpReply::Offer {
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
    /// dialog, or new settings since the last answer, increment the version
    /// (RFC 3264 §8).
    fn session(&self, call_id: &str, offer: &str) -> (u64, u64) {
        let digest = fingerprint(offer, self.generation.load(Ordering::Relaxed));
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

fn fingerprint(offer: &str, generation: u64) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    offer.hash(&mut hasher);
    generation.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::{Limits, parse_datagram};

    const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0 8\r\n";

    fn request(method: &str, body: &str) -> Request {
        let text = format!(
            "{method} sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-1\r\n\
             Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n\
             Call-ID: sdp-unit\r\nCSeq: 1 {method}\r\nContent-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let message = parse_datagram(text.as_bytes(), &Limits::default()).expect("parses");
        Request::validate(message).expect("valid")
    }

    fn settings(codec: &str) -> SdpSettings {
        SdpSettings {
            codecs: vec![format!("audio/{codec}/8000").parse().expect("codec")],
            public_address: None,
            base_port: 40_000,
        }
    }

    fn origin_version(sdp: &str) -> u64 {
        let origin = sdp.lines().find(|l| l.starts_with("o=")).expect("o=");
        origin
            .split(' ')
            .nth(2)
            .expect("version")
            .parse()
            .expect("number")
    }

    #[test]
    fn what_each_request_gets() {
        assert_eq!(
            SdpReply::for_request(&request("INVITE", OFFER)),
            SdpReply::Answer
        );
        assert_eq!(
            SdpReply::for_request(&request("UPDATE", OFFER)),
            SdpReply::Answer
        );
        assert_eq!(
            SdpReply::for_request(&request("INVITE", "")),
            SdpReply::Offer
        );
        assert_eq!(
            SdpReply::for_request(&request("UPDATE", "")),
            SdpReply::Nothing
        );
        assert_eq!(
            SdpReply::for_request(&request("PRACK", " \r\n")),
            SdpReply::Nothing
        );
    }

    #[test]
    fn new_settings_move_the_session_version_for_the_same_offer() {
        let service = SdpService::new(settings("PCMU")).expect("service");
        let local = IpAddr::from([127, 0, 0, 1]);
        let offer = request("INVITE", OFFER);
        let first = service.answer(&offer, local);
        assert_eq!(
            origin_version(&service.answer(&offer, local)),
            origin_version(&first)
        );
        service.reconfigure(settings("PCMA"));
        let after = service.answer(&offer, local);
        assert!(after.contains("m=audio 40000 RTP/AVP 8\r\n"), "{after}");
        assert_eq!(origin_version(&after), origin_version(&first) + 1);
        assert!(service.answer(&request("UPDATE", ""), local).is_empty());
    }
}
