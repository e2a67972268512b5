//! SDP for `body = { sdp = "answer" }`: answers derived from the offer in
//! the request (RFC 3264), an offer of our own for a late-offer INVITE, and a
//! session version that moves only when a dialog's offer changes.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;

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

/// What answers are made with; part of the reloadable snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdpSettings {
    pub codecs: Vec<Codec>,
    /// `c=`/`o=` address instead of the listener's own.
    pub public_address: Option<IpAddr>,
    pub base_port: u16,
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
            && self.base_port == next.base_port;
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

    /// The SDP [`SdpReply::for_request`] calls for (empty for nothing).
    /// `local` is the listener's address. The responses to one initial
    /// INVITE carry one session description (RFC 3261 §13.3.1, RFC 6337
    /// §3.1): once SDP went out for it — in a provisional response, or
    /// answering a PRACK or UPDATE of its early dialog — a later response
    /// repeats the last SDP sent.
    pub fn answer(&self, request: &Request, local: IpAddr, settings: &SdpSettings) -> String {
        let reply = SdpReply::for_request(request);
        if reply == SdpReply::Nothing {
            return String::new();
        }
        let initial_invite = request.method() == "INVITE" && request.to_tag().is_none();
        if initial_invite && let Some(sent) = self.sent_for(request.call_id(), request.cseq()) {
            return sent;
        }
        let sdp = self.make(request, reply, local, settings);
        if !sdp.is_empty() {
            let invite_cseq = initial_invite.then(|| request.cseq());
            self.remember(request.call_id(), invite_cseq, &sdp);
        }
        sdp
    }

    fn make(
        &self,
        request: &Request,
        reply: SdpReply,
        local: IpAddr,
        settings: &SdpSettings,
    ) -> String {
        let offer = String::from_utf8_lossy(request.body());
        let (id, version) = self.session(request.call_id(), &offer, settings.generation);
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
                crate::warn_limited!(sip.call_id = request.call_id(), %error, "no SDP answer: the offer is unusable");
                String::new()
            }
        }
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
        if request.body().is_empty() {
            return;
        }
        if let Err(error) = sdp::accept_answer(&String::from_utf8_lossy(request.body())) {
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
            generation: 0,
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
        let service = SdpService::new().expect("service");
        let local = IpAddr::from([127, 0, 0, 1]);
        let update = request("UPDATE", OFFER);
        let pcmu = settings("PCMU");
        let first = service.answer(&update, local, &pcmu);
        assert_eq!(
            origin_version(&service.answer(&update, local, &pcmu)),
            origin_version(&first)
        );
        let same = pcmu.successor(&settings("PCMU"));
        assert_eq!(
            origin_version(&service.answer(&update, local, &same)),
            origin_version(&first),
            "a reload that changes nothing keeps the version"
        );
        let pcma = same.successor(&settings("PCMA"));
        let after = service.answer(&update, local, &pcma);
        assert!(after.contains("m=audio 40000 RTP/AVP 8\r\n"), "{after}");
        assert_eq!(origin_version(&after), origin_version(&first) + 1);
        assert!(
            service
                .answer(&request("UPDATE", ""), local, &pcma)
                .is_empty()
        );
    }

    /// The responses to one initial INVITE repeat the last SDP sent for it,
    /// also when a PRACK or UPDATE of its early dialog changed it, and a
    /// reload in between changes nothing.
    #[test]
    fn an_initial_invite_gets_the_last_sdp_sent_for_it() {
        let service = SdpService::new().expect("service");
        let local = IpAddr::from([127, 0, 0, 1]);
        let invite = request("INVITE", OFFER);
        let pcmu = settings("PCMU");
        let early = service.answer(&invite, local, &pcmu);
        let pcma = pcmu.successor(&settings("PCMA"));
        assert_eq!(service.answer(&invite, local, &pcma), early);
        let second_offer = OFFER.replace("5000", "5002");
        let reoffer = service.answer(&request("UPDATE", &second_offer), local, &pcma);
        assert_eq!(origin_version(&reoffer), origin_version(&early) + 1);
        assert_eq!(
            service.answer(&invite, local, &pcma),
            reoffer,
            "the 2xx repeats it"
        );
    }
}
