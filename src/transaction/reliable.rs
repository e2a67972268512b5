//! Reliable provisional responses (RFC 3262), UAS side: the RSeq numbers of
//! one INVITE's early dialog, the response awaiting PRACK, and matching a
//! PRACK's RAck against it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::dialog::DialogKey;
use super::key::Prehashed;
use crate::sip::Request;

/// The reliable provisional responses of one INVITE.
#[derive(Debug)]
pub(crate) struct Reliable {
    key: DialogKey,
    invite_cseq: u32,
    state: Mutex<State>,
    /// Woken by each PRACK that acknowledges the pending response.
    prack: Notify,
    /// Fired when a final response was sent: the early dialog is over
    /// (PRACKs for what is outstanding are still answered).
    finished: CancellationToken,
}

#[derive(Debug)]
struct State {
    next_rseq: u32,
    pending: Option<Pending>,
    exchange: Exchange,
    /// Highest CSeq of the peer's requests in the early dialog (§12.2.2).
    remote_cseq: u32,
}

/// Where the early dialog's offer/answer stands (RFC 3262 §5, RFC 3311).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exchange {
    /// No offer yet (an INVITE without SDP, before our offer).
    NotStarted,
    /// The INVITE's offer awaits our answer.
    TheirOfferOpen,
    /// Our offer in a reliable provisional response awaits the PRACK's answer.
    OurOfferOpen,
    /// An exchange is complete: SDP from the peer is a new offer.
    Complete,
}

/// What a matching PRACK calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PrackMatch {
    /// 200, without a body (no SDP, or the answer to our offer).
    Acknowledged,
    /// 200 with the SDP answer to the offer the PRACK carries (§5).
    NewOffer,
}

/// Why a request in the early dialog is refused before the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EarlyRefusal {
    /// §12.2.2: a CSeq not above the last one: 500.
    OldCSeq,
    /// RFC 3311 §5.2: an offer while ours awaits its answer: 491.
    OurOfferOpen,
    /// RFC 3311 §5.2: an offer while theirs awaits our answer: 500 with
    /// Retry-After.
    TheirOfferOpen,
}

/// The reliable provisional response awaiting its PRACK.
#[derive(Debug, Clone, Copy)]
struct Pending {
    rseq: u32,
    with_sdp: bool,
}

/// What a PRACK's RAck refers to (§7.2: `response-num CSeq-num Method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RAck<'a> {
    pub rseq: u32,
    pub cseq: u32,
    pub method: &'a str,
}

impl<'a> RAck<'a> {
    /// The RAck of a PRACK, if it has a valid one.
    pub fn of(request: &'a Request) -> Option<Self> {
        request
            .message()
            .header_fields()
            .find(|(_, raw_name, _)| raw_name.eq_ignore_ascii_case("RAck"))
            .and_then(|(_, _, value)| Self::parse(value))
    }

    pub fn parse(value: &'a str) -> Option<Self> {
        let mut parts = value.split_ascii_whitespace();
        let rack = Self {
            rseq: parts.next()?.parse().ok()?,
            cseq: parts.next()?.parse().ok()?,
            method: parts.next()?,
        };
        // §7.1: an RSeq is 1 to 2^31 - 1.
        let in_range = (1..1 << 31).contains(&rack.rseq);
        (in_range && parts.next().is_none()).then_some(rack)
    }
}

/// The header lines of a reliable provisional response (§7.1: `Require:
/// 100rel` and its `RSeq`), then the rule's own lines less what would
/// contradict them: a second RSeq (single-valued) and a 100rel already
/// required. A rule's `Require: 100rel, timer` keeps `timer`.
pub fn reliable_header_lines(rseq: impl std::fmt::Display, rule_lines: &[u8]) -> Vec<u8> {
    let mut out = format!("Require: 100rel\r\nRSeq: {rseq}\r\n").into_bytes();
    for line in rule_lines.split_inclusive(|&b| b == b'\n') {
        let Some((name, value)) = std::str::from_utf8(line)
            .ok()
            .and_then(|text| text.split_once(':'))
        else {
            out.extend_from_slice(line);
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("RSeq") {
            continue;
        }
        if name.eq_ignore_ascii_case("Require") {
            let others: Vec<&str> = value
                .split(',')
                .map(str::trim)
                .filter(|tag| !tag.is_empty() && !tag.eq_ignore_ascii_case("100rel"))
                .collect();
            if !others.is_empty() {
                out.extend_from_slice(format!("{name}: {}\r\n", others.join(", ")).as_bytes());
            }
            continue;
        }
        out.extend_from_slice(line);
    }
    out
}

impl Reliable {
    fn new(key: DialogKey, invite_cseq: u32, invite_offer: bool) -> Self {
        Self {
            key,
            invite_cseq,
            // §3: the first RSeq is random (below 2^31 - 1, the limit, with
            // room to count up), so numbers do not repeat across restarts.
            state: Mutex::new(State {
                next_rseq: fastrand::u32(1..1 << 30),
                pending: None,
                exchange: if invite_offer {
                    Exchange::TheirOfferOpen
                } else {
                    Exchange::NotStarted
                },
                remote_cseq: invite_cseq,
            }),
            prack: Notify::new(),
            finished: CancellationToken::new(),
        }
    }

    /// Numbers the next reliable provisional response and marks it as
    /// awaiting PRACK. The caller waits for [`Self::acknowledged`] first:
    /// one reliable provisional response is outstanding at a time.
    pub(crate) fn next_rseq(&self, with_sdp: bool) -> u32 {
        let mut state = self.lock();
        debug_assert!(state.pending.is_none(), "one outstanding at a time");
        let rseq = state.next_rseq;
        state.next_rseq = rseq.wrapping_add(1);
        state.pending = Some(Pending { rseq, with_sdp });
        if with_sdp {
            state.exchange = match state.exchange {
                Exchange::TheirOfferOpen => Exchange::Complete,
                Exchange::NotStarted => Exchange::OurOfferOpen,
                open_or_done => open_or_done,
            };
        }
        rseq
    }

    /// Whether a response awaits PRACK.
    pub(crate) fn is_pending(&self) -> bool {
        self.lock().pending.is_some()
    }

    /// Whether the response awaiting PRACK carried SDP: then a 2xx must
    /// wait for the PRACK (§3).
    pub(crate) fn pending_with_sdp(&self) -> bool {
        self.lock().pending.is_some_and(|p| p.with_sdp)
    }

    /// Whether the response numbered `rseq` still awaits its PRACK.
    pub(crate) fn awaits(&self, rseq: u32) -> bool {
        self.lock().pending.is_some_and(|p| p.rseq == rseq)
    }

    /// Resolves once no response awaits PRACK.
    pub(crate) async fn acknowledged(&self) {
        self.until(|reliable| !reliable.is_pending()).await;
    }

    async fn until(&self, done: impl Fn(&Self) -> bool) {
        loop {
            let notified = self.prack.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if done(self) {
                return;
            }
            notified.await;
        }
    }

    /// The final response went: the early dialog is over.
    pub(crate) fn finish(&self) {
        self.finished.cancel();
    }

    /// The highest CSeq the peer used in the early dialog (§12.2.2: the
    /// confirmed dialog starts from it).
    pub(crate) fn remote_cseq(&self) -> u32 {
        self.lock().remote_cseq
    }

    /// A non-PRACK request in the early dialog (an UPDATE): refused when
    /// its CSeq is old or its offer collides with an open one; otherwise
    /// its CSeq is remembered.
    fn early_request(&self, cseq: u32, with_offer: bool) -> Result<(), EarlyRefusal> {
        let mut state = self.lock();
        if cseq <= state.remote_cseq {
            return Err(EarlyRefusal::OldCSeq);
        }
        match (with_offer, state.exchange) {
            (true, Exchange::OurOfferOpen) => return Err(EarlyRefusal::OurOfferOpen),
            (true, Exchange::TheirOfferOpen) => return Err(EarlyRefusal::TheirOfferOpen),
            // The rules answer it: the exchange is complete after.
            (true, _) => state.exchange = Exchange::Complete,
            (false, _) => {}
        }
        state.remote_cseq = cseq;
        Ok(())
    }

    /// A PRACK for this INVITE (CSeq `cseq`), with or without SDP: a match
    /// when it acknowledges the pending response (§3: anything else gets
    /// 481).
    fn prack(&self, rack: &RAck<'_>, cseq: u32, with_sdp: bool) -> Option<PrackMatch> {
        let mut state = self.lock();
        let matches = state.pending.is_some_and(|p| p.rseq == rack.rseq)
            && rack.cseq == self.invite_cseq
            && rack.method == "INVITE";
        if !matches {
            return None;
        }
        state.pending = None;
        state.remote_cseq = state.remote_cseq.max(cseq);
        // §5: SDP in a PRACK answers our open offer, or after a complete
        // exchange is a new offer; otherwise it has no place and is ignored.
        let outcome = match (with_sdp, state.exchange) {
            (true, Exchange::OurOfferOpen) => {
                state.exchange = Exchange::Complete;
                PrackMatch::Acknowledged
            }
            (true, Exchange::Complete) => PrackMatch::NewOffer,
            _ => PrackMatch::Acknowledged,
        };
        drop(state);
        self.prack.notify_waiters();
        Some(outcome)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The INVITEs that send reliable provisional responses, by early dialog.
#[derive(Debug, Default)]
pub(crate) struct ReliableTable {
    map: Mutex<HashMap<DialogKey, Arc<Reliable>, Prehashed>>,
}

impl ReliableTable {
    pub(crate) fn register(
        &self,
        call_id: &str,
        local_tag: &str,
        remote_tag: &str,
        invite_cseq: u32,
        invite_offer: bool,
    ) -> Arc<Reliable> {
        let key = DialogKey::new(call_id, local_tag, remote_tag);
        let reliable = Arc::new(Reliable::new(key, invite_cseq, invite_offer));
        self.lock().insert(key, reliable.clone());
        reliable
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    pub(crate) fn remove(&self, reliable: &Reliable) {
        let mut map = self.lock();
        if map
            .get(&reliable.key)
            .is_some_and(|r| std::ptr::eq(r.as_ref(), reliable))
        {
            map.remove(&reliable.key);
        }
    }

    /// A request (an UPDATE) in the early dialog named, when one is under
    /// way (a reliable provisional response was sent in it, and no final
    /// response yet): `None` when there is none, else whether it may go to
    /// the rules.
    pub(crate) fn early_request(
        &self,
        call_id: &str,
        local_tag: &str,
        remote_tag: &str,
        cseq: u32,
        with_offer: bool,
    ) -> Option<Result<(), EarlyRefusal>> {
        let key = DialogKey::new(call_id, local_tag, remote_tag);
        let found = self.lock().get(&key).cloned();
        found
            .filter(|reliable| !reliable.finished.is_cancelled())
            .map(|reliable| reliable.early_request(cseq, with_offer))
    }

    /// Matches a PRACK against the pending response of the early dialog it
    /// names.
    pub(crate) fn prack(
        &self,
        call_id: &str,
        local_tag: &str,
        remote_tag: &str,
        rack: &RAck<'_>,
        cseq: u32,
        with_sdp: bool,
    ) -> Option<PrackMatch> {
        let key = DialogKey::new(call_id, local_tag, remote_tag);
        let found = self.lock().get(&key).cloned();
        found.and_then(|reliable| reliable.prack(rack, cseq, with_sdp))
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<DialogKey, Arc<Reliable>, Prehashed>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
#[path = "reliable_tests.rs"]
mod tests;
