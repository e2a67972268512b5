//! The answers the layer gives itself (481, 200 to BYE and CANCEL, 503,
//! 513, 422, 400 to a malformed request), in a transaction of their own
//! when the table has room, else statelessly; and where responses go
//! (RFC 3261 §18.2.2, RFC 3581).

use std::sync::Arc;

use tracing::info;

use super::handle::Extras;
use super::inbound::Incoming;
use super::server::TxShared;
use super::settings::LayerSettings;
use super::{Bound, ServerTransaction, TransactionLayer, new_tag};
use crate::sip::{Rejected, Request, ResponseParts, ResponseTemplate, reason_phrase};
use crate::transport::{Flow, ListenerInfo};

/// Under a flood, one "table full" line per second.
static TABLE_FULL_LOG: crate::ratelog::LogLimiter = crate::ratelog::LogLimiter::new(1000);

impl TransactionLayer {
    /// Sends a final response the layer decides itself, in a transaction of
    /// its own so retransmissions get it again. When the table is full the
    /// answer goes out statelessly: CANCEL and BYE free resources and must
    /// never be refused for lack of them.
    pub(super) async fn answer(
        &self,
        incoming: &Incoming<'_>,
        status: u16,
        to_tag: Option<String>,
    ) {
        let transaction = self.open_or_stateless(incoming, to_tag);
        send_answer(transaction, incoming.request, status, b"").await;
    }

    /// Like [`Self::answer`], with a reason phrase and header lines.
    pub(super) async fn answer_with(
        &self,
        incoming: &Incoming<'_>,
        status: u16,
        reason: &str,
        extra_headers: &[u8],
    ) {
        let mut transaction = self.open_or_stateless(incoming, None);
        let parts = ResponseParts {
            status,
            reason,
            extra_headers,
            ..ResponseParts::default()
        };
        info!(sip.method = incoming.request.method(), sip.call_id = incoming.request.call_id(), sip.status = status, peer = %transaction.peer(), "answered by the transaction layer");
        if let Err(error) = transaction.respond(&parts).await {
            crate::warn_limited!(%error, sip.status = status, "response not sent");
        }
    }

    fn open_or_stateless(
        &self,
        incoming: &Incoming<'_>,
        to_tag: Option<String>,
    ) -> ServerTransaction {
        match self.open(incoming, Extras::default(), to_tag.clone()) {
            Ok(transaction) => transaction,
            Err(_) => {
                let transaction = self.stateless(
                    incoming.request,
                    incoming.flow.clone(),
                    incoming.listener,
                    incoming.settings,
                    to_tag,
                );
                transaction.set_reporter(incoming.reporter.clone());
                transaction
            }
        }
    }

    /// A transaction that is not stored: its response is sent once.
    fn stateless(
        &self,
        request: &Request,
        flow: Flow,
        listener: &ListenerInfo,
        settings: &Arc<LayerSettings>,
        to_tag: Option<String>,
    ) -> ServerTransaction {
        let tag = to_tag.unwrap_or_else(new_tag);
        let template = ResponseTemplate::for_request(request, flow.peer, &tag, &listener.contact);
        let via = request.top_via();
        let flow = self.response_flow(flow, via.port, via.rport, settings);
        let shared = Arc::new(TxShared::new(
            flow,
            false,
            request.cseq(),
            Arc::new(template),
            settings.clone(),
        ));
        ServerTransaction::new(self.core.clone(), None, shared, Extras::default())
    }

    /// Answers `request` once, keeping no state (rate limiting, overload).
    pub async fn answer_statelessly(
        &self,
        request: &Request,
        flow: Flow,
        listener: &ListenerInfo,
        settings: &Arc<LayerSettings>,
        status: u16,
        extra_headers: &str,
    ) {
        let transaction = self.stateless(request, flow, listener, settings, None);
        send_stateless(transaction, status, extra_headers).await;
    }

    /// 503 with Retry-After when a table is full; nothing is stored.
    pub(super) async fn refuse_when_full(&self, incoming: &Incoming<'_>, bound: Bound) {
        self.core.bounds.hit(bound);
        let what = match bound {
            Bound::Dialogs => "dialog table full",
            _ => "transaction table full",
        };
        let request = incoming.request;
        crate::limited!(
            TABLE_FULL_LOG,
            warn!(sip.method = request.method(), sip.call_id = request.call_id(), peer = %incoming.flow.peer, limit = incoming.settings.max_transactions, "{what}: 503")
        );
        let transaction = self.stateless(
            request,
            incoming.flow.clone(),
            incoming.listener,
            incoming.settings,
            None,
        );
        transaction.set_reporter(incoming.reporter.clone());
        send_stateless(transaction, 503, "Retry-After: 5\r\n").await;
    }

    /// Answers a request that failed validation (400/505), statelessly;
    /// returns the response sent (`None`: it could not be routed).
    pub async fn answer_rejected(
        &self,
        rejected: &Rejected,
        flow: Flow,
        settings: &Arc<LayerSettings>,
        status: u16,
        reason: &str,
    ) -> Result<Option<Vec<u8>>, crate::transport::Error> {
        let Some(via) = rejected.top_via() else {
            return Ok(None);
        };
        let Some(template) = ResponseTemplate::for_rejected(rejected, flow.peer, &new_tag()) else {
            return Ok(None);
        };
        let flow = self.response_flow(flow, via.port, via.rport, settings);
        let parts = ResponseParts {
            status,
            reason,
            ..ResponseParts::default()
        };
        let mut buf = Vec::with_capacity(512);
        template.write(&mut buf, &settings.server_header, &parts);
        flow.send(&buf).await?;
        Ok(Some(buf))
    }

    /// A bare response on a connection when nothing could be copied from
    /// the input (RFC 7118 §5.1: a WebSocket message that is no SIP
    /// message); returns the response sent.
    pub async fn answer_minimal(
        &self,
        flow: &Flow,
        settings: &LayerSettings,
        status: u16,
        reason: &str,
    ) -> Result<Vec<u8>, crate::transport::Error> {
        let response = crate::sip::minimal_response(status, reason, &settings.server_header);
        flow.send(&response).await?;
        Ok(response)
    }

    /// RFC 3261 §18.2.2: streams answer on their connection; UDP per RFC 3581.
    pub(super) fn response_flow(
        &self,
        flow: Flow,
        via_port: Option<u16>,
        rport: bool,
        settings: &LayerSettings,
    ) -> Flow {
        if flow.transport.is_reliable() {
            return flow;
        }
        let destination =
            crate::sip::udp_response_destination(flow.peer, via_port, rport, settings.force_rport);
        flow.to_peer(destination)
    }
}

/// Sends `status` once through a transaction that is not stored.
async fn send_stateless(mut transaction: ServerTransaction, status: u16, extra_headers: &str) {
    let parts = ResponseParts {
        status,
        reason: reason_phrase(status),
        extra_headers: extra_headers.as_bytes(),
        ..ResponseParts::default()
    };
    let _ = transaction.respond(&parts).await;
}

/// Sends a response the transaction layer decided (logged at info).
pub(super) async fn send_answer(
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
        crate::warn_limited!(%error, sip.status = status, "response not sent");
    }
}
