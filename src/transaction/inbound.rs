//! Requests arriving at the transaction layer: retransmissions absorbed,
//! ACK and CANCEL matched, in-dialog requests checked against their dialog,
//! initial INVITEs checked against the dialog bounds and session timer, and
//! a transaction opened for the rest.

use std::sync::Arc;

use tokio::time::Instant;
use tracing::info;

use super::deferred::{Deferred, Pending};
use super::dialog::{Dialog, DialogSeed};
use super::handle::{Extras, PrackSeed};
use super::reliable::{EarlyRefusal, PrackMatch};
use super::report::Reporter;
use super::server::TxShared;
use super::session_timer::{Negotiation, SessionTerms, negotiate};
use super::settings::{LayerSettings, ReliableMode};
use super::table::{Completed, Found};
use super::{
    Bound, NewRequest, RAck, Received, ServerTransaction, TransactionKey, TransactionLayer,
    has_sdp, new_tag,
};
use crate::sip::{HeaderName, Request, ResponseTemplate};
use crate::transport::{Flow, ListenerInfo};

/// One request on its way through the layer.
pub(super) struct Incoming<'a> {
    pub(super) request: &'a Request,
    pub(super) key: TransactionKey,
    pub(super) flow: Flow,
    pub(super) listener: &'a ListenerInfo,
    pub(super) settings: &'a Arc<LayerSettings>,
    /// Whatever answers the request (the layer or a rule) reports here.
    pub(super) reporter: Reporter,
}

/// The table is full of transactions in progress.
pub(super) struct Full;

impl TransactionLayer {
    /// Takes a valid request: absorbs what belongs to an existing
    /// transaction or dialog and opens a transaction for the rest.
    /// `reporter` hears of the request unless it is a retransmission (the
    /// original's reporter hears of that), and of everything sent to it.
    pub async fn receive(
        &self,
        request: &Request,
        flow: Flow,
        listener: &ListenerInfo,
        settings: &Arc<LayerSettings>,
        reporter: Reporter,
    ) -> Received {
        let method = request.method();
        if method == "ACK" {
            reporter.received(request);
            self.receive_ack(request, &flow);
            return Received::Handled;
        }
        let key = TransactionKey::of(request);
        // Every arm but the deferred one is boxed: the receive future stays
        // small, so the quick answer's futures above it move few bytes.
        if let Some(existing) = self.core.table().get(key, Instant::now()) {
            Box::pin(self.retransmitted(request, existing, flow, listener, settings)).await;
            return Received::Handled;
        }
        reporter.received(request);
        let incoming = Incoming {
            request,
            key,
            flow,
            listener,
            settings,
            reporter,
        };
        match (method, request.to_tag()) {
            ("CANCEL", _) => Box::pin(self.receive_cancel(incoming)).await,
            ("PRACK", _) => return Box::pin(self.receive_prack(incoming)).await,
            // §12.2.2 / §15.1.2: a BYE outside a dialog matches nothing.
            ("BYE", None) => Box::pin(self.answer(&incoming, 481, None)).await,
            ("INVITE", None) => return Box::pin(self.receive_initial_invite(incoming)).await,
            // Stored only once its rule needs state (`ServerTransaction::
            // store`): a rule without side effects answers statelessly.
            (_, None) => return self.open_deferred(incoming),
            (_, Some(to_tag)) => return Box::pin(self.receive_in_dialog(incoming, to_tag)).await,
        }
        Received::Handled
    }

    /// An initial INVITE: a place for its dialog (503 beyond
    /// `[dialog] max_dialogs`), its size (513 beyond `max_bytes`), its
    /// session timer (422 below Min-SE), then a transaction.
    async fn receive_initial_invite(&self, incoming: Incoming<'_>) -> Received {
        let dialog = &incoming.settings.dialog;
        let Some(slot) = self.core.dialogs.reserve(dialog.max_dialogs) else {
            self.refuse_when_full(&incoming, Bound::Dialogs).await;
            return Received::Handled;
        };
        if let Err(too_large) = DialogSeed::fits(incoming.request, dialog) {
            self.core.bounds.hit(Bound::DialogSize);
            info!(sip.call_id = incoming.request.call_id(), %too_large, "dialog state too large: 513");
            let reason = format!("Message Too Large ({too_large})");
            self.answer_with(&incoming, 513, &reason, b"").await;
            return Received::Handled;
        }
        let Some(session) = self.session_terms(&incoming).await else {
            return Received::Handled;
        };
        let seed = DialogSeed::new(
            incoming.request,
            incoming.flow.clone(),
            incoming.listener,
            slot,
        );
        let extras = Extras {
            seed: Some(seed),
            session,
            ..Extras::default()
        };
        self.open_new(incoming, extras, None, false).await
    }

    /// A request carrying a To-tag: in a dialog we know (old CSeq 500, BYE
    /// 200, INVITE/UPDATE with session timer checks, others to the rules),
    /// an UPDATE in an early dialog (RFC 3311 §5.2), else 481.
    async fn receive_in_dialog(&self, incoming: Incoming<'_>, to_tag: &str) -> Received {
        let request = incoming.request;
        let from_tag = request.from_tag().unwrap_or("");
        let Some(dialog) = self.core.dialogs.find(request.call_id(), to_tag, from_tag) else {
            return self.receive_early(incoming, to_tag).await;
        };
        // It names our dialog's tag: its source receives what we send.
        incoming.flow.trust_peer();
        // §12.2.2: a request older than one already seen.
        if !dialog.accept_remote_cseq(request.cseq()) {
            info!(sip.call_id = request.call_id(), sip.cseq = request.cseq(), peer = %incoming.flow.peer, "in-dialog request with an old CSeq");
            self.answer(&incoming, 500, None).await;
            return Received::Handled;
        }
        match request.method() {
            "BYE" => {
                self.core.dialogs.remove(&dialog);
                info!(sip.call_id = request.call_id(), rule = &*dialog.rule(), peer = %incoming.flow.peer, "dialog ended by BYE");
                self.answer(&incoming, 200, None).await;
                Received::Handled
            }
            "INVITE" | "UPDATE" => {
                let Some(session) = self.session_terms(&incoming).await else {
                    return Received::Handled;
                };
                let extras = Extras {
                    dialog: Some(dialog.clone()),
                    session,
                    ..Extras::default()
                };
                self.open_new(incoming, extras, Some(dialog), false).await
            }
            _ => {
                let extras = Extras {
                    dialog: Some(dialog.clone()),
                    ..Extras::default()
                };
                self.open_new(incoming, extras, Some(dialog), false).await
            }
        }
    }

    /// An UPDATE in an early dialog with reliable provisional responses
    /// goes to the rules unless its CSeq is old or its offer collides with
    /// an open one; any other request for an unknown dialog gets 481.
    async fn receive_early(&self, incoming: Incoming<'_>, to_tag: &str) -> Received {
        let request = incoming.request;
        let checked = (request.method() == "UPDATE")
            .then(|| {
                self.core.reliable.early_request(
                    request.call_id(),
                    to_tag,
                    request.from_tag().unwrap_or(""),
                    request.cseq(),
                    has_sdp(request),
                )
            })
            .flatten();
        match checked {
            None => self.answer(&incoming, 481, None).await,
            Some(Err(refusal)) => {
                let (status, extra_headers) = match refusal {
                    EarlyRefusal::OldCSeq => (500, &b""[..]),
                    EarlyRefusal::OurOfferOpen => (491, &b""[..]),
                    EarlyRefusal::TheirOfferOpen => (500, &b"Retry-After: 3\r\n"[..]),
                };
                let reason = crate::sip::reason_phrase(status);
                self.answer_with(&incoming, status, reason, extra_headers)
                    .await;
            }
            Some(Ok(())) => return self.open_new(incoming, Extras::default(), None, true).await,
        }
        Received::Handled
    }

    /// RFC 4028 §9 for an INVITE or UPDATE; `None` when it was refused
    /// with 422.
    async fn session_terms(&self, incoming: &Incoming<'_>) -> Option<Option<SessionTerms>> {
        match negotiate(incoming.request, &incoming.settings.dialog) {
            Negotiation::None => Some(None),
            Negotiation::Grant(terms) => Some(Some(terms)),
            Negotiation::TooBrief { min_se } => {
                let extra = format!("Min-SE: {min_se}\r\n");
                let reason = crate::sip::reason_phrase(422);
                self.answer_with(incoming, 422, reason, extra.as_bytes())
                    .await;
                None
            }
        }
    }

    /// Opens a transaction for the rules, or answers 503 when the table is
    /// full.
    async fn open_new(
        &self,
        incoming: Incoming<'_>,
        extras: Extras,
        dialog: Option<Arc<Dialog>>,
        early_dialog: bool,
    ) -> Received {
        match self.open(&incoming, extras, None) {
            Ok(transaction) => Received::New(Box::new(NewRequest {
                transaction: Pending::Opened(Box::new(transaction)),
                dialog,
                early_dialog,
            })),
            Err(Full) => {
                self.refuse_when_full(&incoming, Bound::Transactions).await;
                Received::Handled
            }
        }
    }

    /// An out-of-dialog non-INVITE request for the rules, not yet in the
    /// table: its rule decides whether it gets a transaction
    /// ([`Deferred`]).
    fn open_deferred(&self, incoming: Incoming<'_>) -> Received {
        let deferred = Deferred {
            layer: self.clone(),
            key: incoming.key,
            flow: incoming.flow,
            contact: incoming.listener.contact.clone(),
            settings: incoming.settings.clone(),
            reporter: incoming.reporter,
        };
        Received::New(Box::new(NewRequest {
            transaction: Pending::Deferred(deferred),
            dialog: None,
            early_dialog: false,
        }))
    }

    /// A retransmitted request (§17.2.1, §17.2.2): a live transaction sends
    /// its last response again; a completed one what it kept (nothing, its
    /// bytes, or its status written again for this request).
    async fn retransmitted(
        &self,
        request: &Request,
        existing: Found,
        flow: Flow,
        listener: &ListenerInfo,
        settings: &Arc<LayerSettings>,
    ) {
        let resent = match existing {
            Found::Live(transaction) => transaction.retransmit().await,
            Found::Done(Completed::Absorb, _) => false,
            Found::Done(Completed::Resend(bytes), _) => {
                let via = request.top_via();
                let flow = self.response_flow(flow, via.port, via.rport, settings);
                let _ = flow.send(&bytes).await;
                true
            }
            Found::Done(Completed::Regenerate(status), _) => {
                self.answer_statelessly(request, flow, listener, settings, status, "")
                    .await;
                true
            }
        };
        if resent {
            self.core.count_retransmission();
        }
    }

    /// RFC 3262 §3: a PRACK acknowledging the reliable provisional response
    /// that awaits it gets 200; any other PRACK 481 (400 without a RAck).
    /// One carrying a new offer goes back to the engine for its answer (§5).
    async fn receive_prack(&self, incoming: Incoming<'_>) -> Received {
        let request = incoming.request;
        let with_sdp = has_sdp(request);
        // One that may carry an offer gets its transaction before its RAck
        // is matched: when the table is full, a 503 leaves the state as is.
        let opened = if with_sdp {
            match self.open(&incoming, Extras::default(), None) {
                Ok(transaction) => Some(transaction),
                Err(Full) => {
                    self.refuse_when_full(&incoming, Bound::Transactions).await;
                    return Received::Handled;
                }
            }
        } else {
            None
        };
        let matched = match (RAck::of(request), request.to_tag()) {
            (None, _) => Err(400),
            (Some(rack), Some(to_tag)) => self
                .core
                .reliable
                .prack(
                    request.call_id(),
                    to_tag,
                    request.from_tag().unwrap_or(""),
                    &rack,
                    request.cseq(),
                    with_sdp,
                )
                .ok_or(481),
            (Some(_), None) => Err(481),
        };
        let (status, opened) = match (matched, opened) {
            (Ok(PrackMatch::NewOffer), Some(transaction)) => {
                incoming.flow.trust_peer();
                return Received::PrackOffer(Box::new(transaction));
            }
            (Ok(_), opened) => {
                // It names our RSeq: its source receives what we send.
                incoming.flow.trust_peer();
                (200, opened)
            }
            (Err(status), opened) => (status, opened),
        };
        match opened {
            Some(transaction) => {
                super::answers::send_answer(transaction, request, status, b"").await
            }
            None => self.answer(&incoming, status, None).await,
        }
        Received::Handled
    }

    /// ACK for a non-2xx goes to its INVITE transaction (§17.2.1); ACK for a
    /// 2xx goes to the dialog (§13.3.1.4). Others are absorbed silently.
    /// Either way the ACK names our To-tag: its source receives what we
    /// send (RFC 3261 §26.3.2.4).
    fn receive_ack(&self, request: &Request, flow: &Flow) {
        let key = TransactionKey::of(request);
        let transaction = self.core.table().live(key, Instant::now());
        if transaction.is_some_and(|t| t.final_status().is_some_and(|s| s >= 300) && t.ack()) {
            flow.trust_peer();
            return;
        }
        if let Some(to_tag) = request.to_tag()
            && let Some(dialog) =
                self.core
                    .dialogs
                    .find(request.call_id(), to_tag, request.from_tag().unwrap_or(""))
        {
            flow.trust_peer();
            dialog.acknowledge(request.cseq());
            // A hang-up waits for this ACK (§15).
            self.core.dialogs.schedule(&dialog);
        }
    }

    /// §9.2: 200 to the CANCEL and, if the INVITE has no final response yet,
    /// 487 to the INVITE; 481 when there is no matching INVITE.
    async fn receive_cancel(&self, incoming: Incoming<'_>) {
        let invite = self
            .core
            .table()
            .get(TransactionKey::invite_of(incoming.request), Instant::now());
        // The 200 to CANCEL carries the INVITE's To-tag (§9.2).
        match invite {
            Some(Found::Live(invite)) if invite.is_invite => {
                let to_tag = invite.to_tag().map(str::to_owned);
                self.answer(&incoming, 200, to_tag).await;
                invite.cancel().await;
            }
            // After the final response: 200, and nothing else happens.
            Some(Found::Done(_, Some(tag))) => {
                self.answer(&incoming, 200, Some(tag.as_str().to_owned()))
                    .await;
            }
            _ => self.answer(&incoming, 481, None).await,
        }
    }

    /// Opens a transaction for `incoming`; `Err(Full)` when the table is.
    pub(super) fn open(
        &self,
        incoming: &Incoming<'_>,
        extras: Extras,
        to_tag: Option<String>,
    ) -> Result<ServerTransaction, Full> {
        let tag = to_tag.unwrap_or_else(new_tag);
        let mut transaction = self.build(incoming, extras, tag);
        transaction.store().map_err(|_| Full)?;
        Ok(transaction)
    }

    /// A transaction for `incoming`, not yet stored.
    fn build(&self, incoming: &Incoming<'_>, extras: Extras, tag: String) -> ServerTransaction {
        self.build_transaction(
            incoming.request,
            incoming.key,
            incoming.flow.clone(),
            &incoming.listener.contact,
            incoming.settings,
            incoming.reporter.clone(),
            extras,
            tag,
        )
    }

    /// A transaction for `request` from `flow`, not yet stored; `contact`
    /// is the listener's Contact URI, `tag` the To-tag it adds.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn build_transaction(
        &self,
        request: &Request,
        key: TransactionKey,
        flow: Flow,
        contact: &str,
        settings: &Arc<LayerSettings>,
        reporter: Reporter,
        mut extras: Extras,
        tag: String,
    ) -> ServerTransaction {
        let template = ResponseTemplate::for_request(request, flow.peer, &tag, contact);
        let invite = request.method() == "INVITE";
        if invite && sends_reliably(request, settings.reliable) {
            extras.prack = Some(PrackSeed {
                call_id: request.call_id().into(),
                local_tag: request.to_tag().unwrap_or(&tag).into(),
                remote_tag: request.from_tag().unwrap_or_default().into(),
                offer: has_sdp(request),
            });
        }
        let via = request.top_via();
        let flow = self.response_flow(flow, via.port, via.rport, settings);
        let shared = Arc::new(TxShared::new(
            flow,
            invite,
            request.cseq(),
            Arc::new(template),
            settings.clone(),
        ));
        shared.set_reporter(reporter);
        if let Some(dialog) = &extras.dialog
            && invite
        {
            shared.lock().dialog = Some(dialog.clone());
        }
        ServerTransaction::new(self.core.clone(), Some(key), shared, extras)
    }
}

/// Whether this INVITE's provisional responses go reliably (RFC 3262): when
/// the client requires 100rel (or supports it, if the config says so).
pub fn sends_reliably(request: &Request, mode: ReliableMode) -> bool {
    let has_100rel = |name| {
        request
            .header_values(name)
            .flat_map(|v| v.split(','))
            .any(|tag| tag.trim().eq_ignore_ascii_case("100rel"))
    };
    match mode {
        ReliableMode::Never => false,
        ReliableMode::Required => has_100rel(HeaderName::Require),
        ReliableMode::Supported => {
            has_100rel(HeaderName::Require) || has_100rel(HeaderName::Supported)
        }
    }
}
