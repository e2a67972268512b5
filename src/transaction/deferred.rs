//! A new out-of-dialog non-INVITE request whose transaction is not made
//! yet: its To-tag is derived from the request, so its rule decides. One
//! without side effects is answered once with nothing kept (a
//! retransmission is answered anew, byte for byte, as Kamailio's sl module
//! does); any other opens its transaction. The quick answer costs no
//! transaction, no template kept and no task.

use std::sync::Arc;

use super::handle::Extras;
use super::report::{Reporter, SentResponse};
use super::settings::LayerSettings;
use super::{ServerTransaction, TransactionKey, TransactionLayer};
use crate::sip::{Cause, Request, ResponseParts, ResponseTemplate};
use crate::transport::Flow;

/// A new request's transaction: opened already, or still to be.
#[derive(Debug)]
pub enum Pending {
    Opened(Box<ServerTransaction>),
    Deferred(Deferred),
}

impl Pending {
    /// The transaction, opened now if it was deferred (not stored: its
    /// user stores it or declares it stateless).
    pub fn open(self, request: &Request) -> ServerTransaction {
        match self {
            Self::Opened(transaction) => *transaction,
            Self::Deferred(deferred) => deferred.open(request),
        }
    }
}

/// What opening or answering a deferred request needs.
#[derive(Debug)]
pub struct Deferred {
    pub(super) layer: TransactionLayer,
    pub(super) key: TransactionKey,
    pub(super) flow: Flow,
    /// The URI the listener puts in Contact.
    pub(super) contact: Arc<str>,
    pub(super) settings: Arc<LayerSettings>,
    pub(super) reporter: Reporter,
}

impl Deferred {
    /// Its transaction, not yet stored.
    pub fn open(self, request: &Request) -> ServerTransaction {
        let tag = self.key.derived_tag();
        self.layer.build_transaction(
            request,
            self.key,
            self.flow,
            &self.contact,
            &self.settings,
            self.reporter,
            Extras::default(),
            tag,
        )
    }

    /// Sends one final response and keeps nothing: the rule has no side
    /// effects, so a retransmission is answered the same way again.
    pub async fn answer_once(
        self,
        request: &Request,
        parts: &ResponseParts<'_>,
    ) -> Result<(), crate::transport::Error> {
        let tag = self.key.derived_tag();
        let mut bytes = Vec::new();
        let copied = (self.flow.peer, tag.as_str(), &*self.contact);
        let server = &self.settings.server_header;
        ResponseTemplate::write_once(request, copied, server, parts, &mut bytes);
        let via = request.top_via();
        let flow = self
            .layer
            .response_flow(self.flow, via.port, via.rport, &self.settings);
        if let Err(error) = flow.send(&bytes).await {
            self.reporter.failed(Cause::ConnectionError);
            return Err(error);
        }
        self.reporter.response(&SentResponse {
            status: parts.status,
            reason: parts.reason,
            bytes: &bytes,
            cause: None,
        });
        Ok(())
    }
}
