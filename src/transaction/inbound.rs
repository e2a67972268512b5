//! Requests arriving at the transaction layer: retransmissions absorbed,
//! ACK and CANCEL matched, in-dialog requests checked, the answers the layer
//! gives itself (481, 200 to BYE and CANCEL, 503, 400), and new transactions
//! opened for the rest.

use std::sync::Arc;

use tokio::time::Instant;
use tracing::{info, warn};

use super::reliable::{EarlyRefusal, PrackMatch};
use super::server::TxShared;
use super::{
    NewRequest, RAck, Received, ServerTransaction, TransactionKey, TransactionLayer, has_sdp,
    new_tag,
};
use crate::sip::{
    Rejected, Request, ResponseParts, ResponseSummary, ResponseTemplate, reason_phrase,
};
use crate::transport::{Flow, ListenerInfo};

/// Under a flood, one "table full" line per second.
static TABLE_FULL_LOG: crate::ratelog::LogLimiter = crate::ratelog::LogLimiter::new(1000);

impl TransactionLayer {
    /// Takes a valid request: absorbs what belongs to an existing
    /// transaction or dialog and opens a transaction for the rest.
    pub async fn receive(
        &self,
        request: &Request,
        flow: Flow,
        listener: &ListenerInfo,
    ) -> Received {
        let method = request.method();
        if method == "ACK" {
            self.receive_ack(request);
            return Received::Handled;
        }
        let key = TransactionKey::of(request);
        let existing = self.core.table().get(&key, Instant::now());
        if let Some(existing) = existing {
            self.core.count_retransmission();
            existing.retransmit().await;
            return Received::Handled;
        }
        if method == "CANCEL" {
            self.receive_cancel(request, key, flow, listener).await;
            return Received::Handled;
        }
        if method == "PRACK" {
            return self.receive_prack(request, key, flow, listener).await;
        }
        let mut early_dialog = false;
        let dialog = match request.to_tag() {
            None => None,
            Some(to_tag) => match self.core.dialogs.find(
                request.call_id(),
                to_tag,
                request.from_tag().unwrap_or(""),
            ) {
                // RFC 3311 §5.2: an UPDATE in an early dialog (one with
                // reliable provisional responses) goes to the rules, unless
                // its CSeq is old or its offer collides with an open one.
                None if method == "UPDATE"
                    && let Some(checked) = self.core.reliable.early_request(
                        request.call_id(),
                        to_tag,
                        request.from_tag().unwrap_or(""),
                        request.cseq(),
                        has_sdp(request),
                    ) =>
                {
                    if let Err(refusal) = checked {
                        let (status, extra_headers) = match refusal {
                            EarlyRefusal::OldCSeq => (500, &b""[..]),
                            EarlyRefusal::OurOfferOpen => (491, &b""[..]),
                            EarlyRefusal::TheirOfferOpen => (500, &b"Retry-After: 3\r\n"[..]),
                        };
                        let transaction =
                            self.open_or_stateless(request, key, flow, listener, None);
                        send_answer(transaction, request, status, extra_headers).await;
                        return Received::Handled;
                    }
                    early_dialog = true;
                    None
                }
                // §12.2.2: a request for a dialog we do not know.
                None => {
                    self.answer(request, key, flow, listener, 481, None).await;
                    return Received::Handled;
                }
                // §12.2.2: a request older than one already seen.
                Some(dialog) if !dialog.accept_remote_cseq(request.cseq()) => {
                    info!(sip.call_id = request.call_id(), sip.cseq = request.cseq(), peer = %flow.peer, "in-dialog request with an old CSeq");
                    self.answer(request, key, flow, listener, 500, None).await;
                    return Received::Handled;
                }
                Some(dialog) if method == "BYE" => {
                    self.core.dialogs.remove(&dialog);
                    info!(sip.call_id = request.call_id(), rule = &*dialog.rule, peer = %flow.peer, "dialog ended by BYE");
                    self.answer(request, key, flow, listener, 200, None).await;
                    return Received::Handled;
                }
                Some(dialog) => Some(dialog),
            },
        };
        if method == "BYE" && dialog.is_none() {
            self.answer(request, key, flow, listener, 481, None).await;
            return Received::Handled;
        }
        let full =
            method == "INVITE" && dialog.is_none() && self.core.dialogs.len() >= self.core.max();
        match self.open(request, key, flow.clone(), listener, None, full) {
            Some(transaction) => Received::New(Box::new(NewRequest {
                transaction,
                dialog,
                early_dialog,
            })),
            None => {
                self.refuse_when_full(request, flow, listener).await;
                Received::Handled
            }
        }
    }

    /// RFC 3262 §3: a PRACK acknowledging the reliable provisional response
    /// that awaits it gets 200; any other PRACK 481 (400 without a RAck).
    /// One carrying a new offer goes back to the engine for its answer (§5).
    async fn receive_prack(
        &self,
        request: &Request,
        key: TransactionKey,
        flow: Flow,
        listener: &ListenerInfo,
    ) -> Received {
        let with_sdp = has_sdp(request);
        // One that may carry an offer gets its transaction before its RAck
        // is matched: when the table is full, a 503 leaves the state as is.
        let opened = if with_sdp {
            match self.open(request, key.clone(), flow.clone(), listener, None, false) {
                Some(transaction) => Some(transaction),
                None => {
                    self.refuse_when_full(request, flow, listener).await;
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
                return Received::PrackOffer(Box::new(transaction));
            }
            (Ok(_), opened) => (200, opened),
            (Err(status), opened) => (status, opened),
        };
        match opened {
            Some(transaction) => send_answer(transaction, request, status, b"").await,
            None => {
                self.answer(request, key, flow, listener, status, None)
                    .await;
            }
        }
        Received::Handled
    }

    /// Delivers a response to the client transaction it belongs to.
    pub fn receive_response(&self, response: &ResponseSummary) -> bool {
        self.core.clients.deliver(response)
    }

    /// Answers a request that failed validation (400/505), statelessly.
    pub async fn answer_rejected(
        &self,
        rejected: &Rejected,
        flow: Flow,
        status: u16,
        reason: &str,
    ) -> Result<(), crate::transport::Error> {
        let Some(via) = rejected.top_via() else {
            return Ok(());
        };
        let Some(template) = ResponseTemplate::for_rejected(rejected, flow.peer, &new_tag()) else {
            return Ok(());
        };
        let flow = self.response_flow(flow, via.port, via.rport);
        let shared = Arc::new(TxShared::new(flow, false, None));
        let mut transaction = ServerTransaction::new(self.core.clone(), None, shared, template);
        transaction
            .respond(&ResponseParts {
                status,
                reason,
                ..ResponseParts::default()
            })
            .await
    }

    /// A bare response on a connection when nothing could be copied from
    /// the input (RFC 7118 §5.1: a WebSocket message that is no SIP message).
    pub async fn answer_minimal(
        &self,
        flow: &Flow,
        status: u16,
        reason: &str,
    ) -> Result<(), crate::transport::Error> {
        let response =
            crate::sip::minimal_response(status, reason, &self.core.settings().server_header);
        flow.send(&response).await
    }

    /// ACK for a non-2xx goes to its INVITE transaction (§17.2.1); ACK for a
    /// 2xx goes to the dialog (§13.3.1.4). Others are absorbed silently.
    fn receive_ack(&self, request: &Request) {
        let key = TransactionKey::of(request);
        let mut table = self.core.table();
        let now = Instant::now();
        if let Some(transaction) = table.get(&key, now)
            && transaction.final_status().is_some_and(|s| s >= 300)
        {
            // Confirmed: the slot is freed now and lingers for Timer I to
            // absorb retransmitted ACKs.
            let linger = self
                .core
                .timers()
                .timer_i(transaction.flow.transport.is_reliable());
            table.complete(&key, linger, now);
            drop(table);
            transaction.ack.notify_one();
            return;
        }
        drop(table);
        if let Some(to_tag) = request.to_tag()
            && let Some(dialog) =
                self.core
                    .dialogs
                    .find(request.call_id(), to_tag, request.from_tag().unwrap_or(""))
        {
            dialog.ack.notify_one();
        }
    }

    /// §9.2: 200 to the CANCEL and, if the INVITE has no final response yet,
    /// the INVITE is cancelled (its TU sends 487); 481 when there is no
    /// matching INVITE.
    async fn receive_cancel(
        &self,
        request: &Request,
        key: TransactionKey,
        flow: Flow,
        listener: &ListenerInfo,
    ) {
        let invite = self
            .core
            .table()
            .get(&TransactionKey::invite_of(request), Instant::now());
        let Some(invite) = invite.filter(|t| t.is_invite) else {
            self.answer(request, key, flow, listener, 481, None).await;
            return;
        };
        // The 200 to CANCEL carries the INVITE's To-tag (§9.2).
        self.answer(request, key, flow, listener, 200, invite.to_tag.clone())
            .await;
        if invite.final_status().is_none() {
            invite.cancel.cancel();
        }
    }

    /// Opens a transaction for `request`; `None` when the table is full.
    fn open(
        &self,
        request: &Request,
        key: TransactionKey,
        flow: Flow,
        listener: &ListenerInfo,
        to_tag: Option<String>,
        refuse: bool,
    ) -> Option<ServerTransaction> {
        let tag = to_tag.unwrap_or_else(new_tag);
        let template = ResponseTemplate::for_request(request, flow.peer, &tag, &listener.contact);
        let via = request.top_via();
        let flow = self.response_flow(flow, via.port, via.rport);
        let shared = Arc::new(TxShared::new(
            flow,
            request.method() == "INVITE",
            template.to_tag().map(str::to_owned),
        ));
        if refuse
            || self
                .core
                .table()
                .insert(key.clone(), shared.clone(), Instant::now())
                .is_err()
        {
            return None;
        }
        Some(ServerTransaction::new(
            self.core.clone(),
            Some(key),
            shared,
            template,
        ))
    }

    /// Sends a final response the layer decides itself, in a transaction of
    /// its own so retransmissions get it again. When the table is full the
    /// answer goes out statelessly: CANCEL and BYE free resources and must
    /// never be refused for lack of them.
    async fn answer(
        &self,
        request: &Request,
        key: TransactionKey,
        flow: Flow,
        listener: &ListenerInfo,
        status: u16,
        to_tag: Option<String>,
    ) {
        let transaction = self.open_or_stateless(request, key, flow, listener, to_tag);
        send_answer(transaction, request, status, b"").await;
    }

    /// A transaction of its own for a response the layer decides, or a
    /// stateless one when the table is full.
    fn open_or_stateless(
        &self,
        request: &Request,
        key: TransactionKey,
        flow: Flow,
        listener: &ListenerInfo,
        to_tag: Option<String>,
    ) -> ServerTransaction {
        match self.open(request, key, flow.clone(), listener, to_tag.clone(), false) {
            Some(transaction) => transaction,
            None => self.stateless(request, flow, listener, to_tag),
        }
    }

    /// A transaction that is not stored: its response is sent once.
    fn stateless(
        &self,
        request: &Request,
        flow: Flow,
        listener: &ListenerInfo,
        to_tag: Option<String>,
    ) -> ServerTransaction {
        let tag = to_tag.unwrap_or_else(new_tag);
        let template = ResponseTemplate::for_request(request, flow.peer, &tag, &listener.contact);
        let via = request.top_via();
        let flow = self.response_flow(flow, via.port, via.rport);
        let shared = Arc::new(TxShared::new(flow, false, None));
        ServerTransaction::new(self.core.clone(), None, shared, template)
    }

    /// Answers `request` once, keeping no state (rate limiting, overload).
    pub async fn answer_statelessly(
        &self,
        request: &Request,
        flow: Flow,
        listener: &ListenerInfo,
        status: u16,
        extra_headers: &str,
    ) {
        let mut transaction = self.stateless(request, flow, listener, None);
        let parts = ResponseParts {
            status,
            reason: reason_phrase(status),
            extra_headers: extra_headers.as_bytes(),
            ..ResponseParts::default()
        };
        let _ = transaction.respond(&parts).await;
    }

    /// 503 with Retry-After when the table is full; nothing is stored.
    async fn refuse_when_full(&self, request: &Request, flow: Flow, listener: &ListenerInfo) {
        crate::limited!(
            TABLE_FULL_LOG,
            warn!(sip.method = request.method(), sip.call_id = request.call_id(), peer = %flow.peer, limit = self.core.max(), "transaction table full: 503")
        );
        let mut transaction = self.stateless(request, flow, listener, None);
        let parts = ResponseParts {
            status: 503,
            reason: reason_phrase(503),
            extra_headers: b"Retry-After: 5\r\n",
            ..ResponseParts::default()
        };
        let _ = transaction.respond(&parts).await;
    }

    /// RFC 3261 §18.2.2: streams answer on their connection; UDP per RFC 3581.
    fn response_flow(&self, flow: Flow, via_port: Option<u16>, rport: bool) -> Flow {
        if flow.transport.is_reliable() {
            return flow;
        }
        let destination = crate::sip::udp_response_destination(
            flow.peer,
            via_port,
            rport,
            self.core.settings().force_rport,
        );
        flow.to_peer(destination)
    }
}

/// Sends a response the transaction layer decided (logged at info).
async fn send_answer(
    mut transaction: ServerTransaction,
    request: &Request,
    status: u16,
    extra_headers: &[u8],
) {
    let parts = ResponseParts {
        status,
        reason: reason_phrase(status),
        extra_headers,
        ..ResponseParts::default()
    };
    info!(sip.method = request.method(), sip.call_id = request.call_id(), sip.status = status, peer = %transaction.peer(), "answered by the transaction layer");
    if let Err(error) = transaction.respond(&parts).await {
        warn!(%error, sip.status = status, "response not sent");
    }
}
