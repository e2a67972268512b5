//! The transaction layer (RFC 3261 §17) and dialogs (§12): absorbs
//! retransmissions, matches ACK and CANCEL, answers what the rules never see
//! (481, 200 to BYE and CANCEL, 503 when full), and runs the client
//! transactions of the BYE and MESSAGE requests the responder sends.

mod client;
mod dialog;
mod key;
mod server;
mod table;

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::time::Instant;
use tracing::{info, warn};

pub use client::ClientOutcome;
pub use dialog::{Dialog, DialogSpec};
pub use key::TransactionKey;
pub use server::{ServerTransaction, new_tag};

use crate::sip::{
    Rejected, Request, ResponseParts, ResponseSummary, ResponseTemplate, Timers, reason_phrase,
};
use crate::transport::{Flow, ListenerInfo};
use client::ClientTable;
use dialog::DialogTable;
use server::TxShared;
use table::Table;

/// Under a flood, one "table full" line per second.
static TABLE_FULL_LOG: crate::ratelog::LogLimiter = crate::ratelog::LogLimiter::new(1000);

/// Settings of the transaction layer.
#[derive(Debug, Clone)]
pub struct LayerSettings {
    pub timers: Timers,
    /// Most transactions in progress, and most dialogs, at once.
    pub max_transactions: usize,
    /// `Server: …\r\n`, rendered once.
    pub server_header: Bytes,
    pub user_agent: String,
    /// Answer UDP at the source port even without `;rport`.
    pub force_rport: bool,
}

/// State shared by the layer and its transaction handles.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) timers: Timers,
    pub(crate) server_header: Bytes,
    user_agent: String,
    force_rport: bool,
    max: usize,
    table: Mutex<Table>,
    dialogs: DialogTable,
    clients: ClientTable,
    /// Messages sent again: responses to retransmitted requests, Timer G,
    /// 2xx and Timer E retransmissions.
    pub(crate) retransmissions: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("active", &self.active())
            .field("len", &self.len())
            .finish()
    }
}

impl Core {
    pub(crate) fn count_retransmission(&self) {
        self.retransmissions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn table(&self) -> MutexGuard<'_, Table> {
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What the layer made of a received request.
#[derive(Debug)]
pub enum Received {
    /// A new request for the rules; answer it through the transaction.
    New(Box<NewRequest>),
    /// Fully handled here (retransmission, ACK, CANCEL, BYE, 481, 503).
    Handled,
}

/// A new request and, for in-dialog requests, its dialog.
#[derive(Debug)]
pub struct NewRequest {
    pub transaction: ServerTransaction,
    pub dialog: Option<Arc<Dialog>>,
}

/// The transaction layer; cheap to clone.
#[derive(Debug, Clone)]
pub struct TransactionLayer {
    core: Arc<Core>,
}

impl TransactionLayer {
    pub fn new(settings: LayerSettings) -> Self {
        Self {
            core: Arc::new(Core {
                timers: settings.timers,
                server_header: settings.server_header,
                user_agent: settings.user_agent,
                force_rport: settings.force_rport,
                max: settings.max_transactions,
                table: Mutex::new(Table::new(settings.max_transactions)),
                dialogs: DialogTable::default(),
                clients: ClientTable::default(),
                retransmissions: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    pub fn timers(&self) -> Timers {
        self.core.timers
    }

    pub fn user_agent(&self) -> &str {
        &self.core.user_agent
    }

    /// Expires lingering transactions even when no traffic arrives (so
    /// memory settles after a burst); runs until `cancel` fires.
    pub async fn maintain(&self, cancel: tokio_util::sync::CancellationToken) {
        let mut ticks = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = ticks.tick() => self.core.table().maintain(Instant::now()),
            }
        }
    }

    /// Transactions in progress (not counting completed ones lingering for
    /// retransmissions).
    pub fn transactions_in_progress(&self) -> usize {
        self.core.table().active()
    }

    pub fn dialogs(&self) -> usize {
        self.core.dialogs.len()
    }

    /// Messages retransmitted so far.
    pub fn retransmissions(&self) -> u64 {
        self.core
            .retransmissions
            .load(std::sync::atomic::Ordering::Relaxed)
    }

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
        let dialog = match request.to_tag() {
            None => None,
            Some(to_tag) => match self.core.dialogs.find(
                request.call_id(),
                to_tag,
                request.from_tag().unwrap_or(""),
            ) {
                // §12.2.2: a request for a dialog we do not know.
                None => {
                    self.answer(request, key, flow, listener, 481, None).await;
                    return Received::Handled;
                }
                Some(dialog) if method == "BYE" => {
                    self.core.dialogs.remove(&dialog);
                    info!(call_id = request.call_id(), rule = &*dialog.rule, peer = %flow.peer, "dialog ended by BYE");
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
            method == "INVITE" && dialog.is_none() && self.core.dialogs.len() >= self.core.max;
        match self.open(request, key, flow.clone(), listener, None, full) {
            Some(transaction) => Received::New(Box::new(NewRequest {
                transaction,
                dialog,
            })),
            None => {
                self.refuse_when_full(request, flow, listener).await;
                Received::Handled
            }
        }
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
        flow.send(&crate::sip::minimal_response(
            status,
            reason,
            &self.core.server_header,
        ))
        .await
    }

    /// Creates the dialog of an INVITE answered with a 2xx.
    pub fn create_dialog(&self, spec: DialogSpec) -> Arc<Dialog> {
        let dialog = Arc::new(Dialog::new(spec));
        self.core.dialogs.insert(dialog.clone());
        dialog
    }

    /// §13.3.1.4: retransmits the 2xx (T1 doubling to T2) until the ACK
    /// arrives, for at most 64·T1. Returns whether the ACK arrived.
    pub async fn await_ack_for_2xx(&self, dialog: &Dialog, response: &Bytes, flow: &Flow) -> bool {
        let timers = self.core.timers;
        let deadline = Instant::now() + timers.timeout();
        let mut interval = timers.t1;
        loop {
            let wait = (Instant::now() + interval).min(deadline);
            tokio::select! {
                () = dialog.acked() => return true,
                () = dialog.ended() => return true,
                () = tokio::time::sleep_until(wait) => {}
            }
            if Instant::now() >= deadline {
                return false;
            }
            self.core.count_retransmission();
            if let Err(error) = flow.send(response).await {
                warn!(%error, call_id = &*dialog.call_id, "2xx retransmission failed");
            }
            interval = timers.backoff(interval);
        }
    }

    /// Sends BYE in the dialog (§15.1.1) and ends it; returns the outcome.
    pub async fn send_bye(&self, dialog: &Dialog) -> ClientOutcome {
        self.core.dialogs.remove(dialog);
        let (request_uri, routes) = dialog.request_target();
        let branch = format!("{}{}", crate::sip::MAGIC_COOKIE, new_tag());
        let request = crate::sip::OutgoingRequest {
            method: "BYE",
            request_uri: &request_uri,
            transport: dialog.flow.transport,
            sent_by: &dialog.sent_by,
            branch: &branch,
            from: &dialog.local_header,
            from_tag: &dialog.local_tag,
            to: &dialog.remote_header,
            call_id: &dialog.call_id,
            cseq: dialog.next_cseq(),
            routes: &routes,
            user_agent: &self.core.user_agent,
            extra_headers: b"",
            content_type: None,
            body: b"",
        };
        self.send_request(&dialog.flow, &request).await
    }

    /// Sends an out-of-dialog non-INVITE request through a client
    /// transaction (Timers E and F).
    pub async fn send_request(
        &self,
        flow: &Flow,
        request: &crate::sip::OutgoingRequest<'_>,
    ) -> ClientOutcome {
        let mut buf = Vec::with_capacity(512);
        request.write(&mut buf);
        self.core
            .clients
            .run(
                self.core.timers,
                flow,
                Bytes::from(buf),
                request.branch.to_owned(),
                request.method,
                &self.core.retransmissions,
            )
            .await
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
                .timers
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
        let peer = flow.peer;
        let mut transaction =
            match self.open(request, key, flow.clone(), listener, to_tag.clone(), false) {
                Some(transaction) => transaction,
                None => self.stateless(request, flow, listener, to_tag),
            };
        let parts = ResponseParts {
            status,
            reason: reason_phrase(status),
            ..ResponseParts::default()
        };
        info!(method = request.method(), call_id = request.call_id(), status, %peer, "answered by the transaction layer");
        if let Err(error) = transaction.respond(&parts).await {
            warn!(%error, status, "response not sent");
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
            warn!(method = request.method(), call_id = request.call_id(), peer = %flow.peer, limit = self.core.max, "transaction table full: 503")
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
        let destination =
            crate::sip::udp_response_destination(flow.peer, via_port, rport, self.core.force_rport);
        flow.to_peer(destination)
    }
}
