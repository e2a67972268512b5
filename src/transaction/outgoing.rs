//! Requests the layer sends: BYE to end a dialog (no ACK, hang-up, maximum
//! duration, session timer, shutdown), UPDATE to refresh a session we are
//! the refresher of (RFC 4028 §10), and out-of-dialog requests for the
//! engine (the auto-reply MESSAGE).

use std::sync::Arc;

use bytes::Bytes;
use tokio::time::Instant;
use tracing::info;

use super::dialog::{ByeReason, Dialog, Due};
use super::report::{Behalf, SentLog};
use super::settings::LayerSettings;
use super::{ClientOutcome, Core, TransactionLayer, new_tag};
use crate::sip::{Cause, MAGIC_COOKIE, OutgoingRequest};
use crate::transport::Flow;

impl ByeReason {
    /// The `failed` cause the dialog's end is reported with, if any (a
    /// missing ACK is reported when the 2xx gives up).
    fn cause(self) -> Option<Cause> {
        match self {
            Self::NoAck | Self::Hangup | Self::Admin => None,
            Self::MaxDuration => Some(Cause::Expires),
            Self::SessionExpired => Some(Cause::SessionTimer),
            Self::RtpTimeout => Some(Cause::RtpTimeout),
        }
    }

    /// RFC 3326: why the BYE is sent, when it is not the rule's own hang-up.
    fn reason_header(self) -> &'static [u8] {
        match self {
            Self::NoAck => b"Reason: SIP;cause=408;text=\"No ACK\"\r\n",
            Self::Hangup | Self::Admin => b"",
            Self::MaxDuration => b"Reason: SIP;cause=200;text=\"Maximum Duration\"\r\n",
            Self::SessionExpired => b"Reason: SIP;cause=408;text=\"Session Timer Expired\"\r\n",
            Self::RtpTimeout => b"Reason: SIP;cause=408;text=\"RTP Timeout\"\r\n",
        }
    }
}

impl Core {
    /// The dialog clock found `dialog` due.
    pub(crate) fn dialog_due(self: &Arc<Self>, dialog: Arc<Dialog>, due: Due) {
        match due {
            Due::Bye(reason) => self.end_dialog(dialog, reason),
            Due::Refresh => {
                dialog.start_refresh();
                self.dialogs.schedule(&dialog);
                let core = self.clone();
                tokio::spawn(async move { core.refresh(dialog).await });
            }
        }
    }

    /// Ends `dialog` and sends its BYE (in the background).
    pub(crate) fn end_dialog(self: &Arc<Self>, dialog: Arc<Dialog>, reason: ByeReason) {
        self.dialogs.remove(&dialog);
        if let Some(cause) = reason.cause() {
            dialog.reporter.failed(cause);
        }
        self.spawn_bye(dialog, Some(reason));
    }

    /// Sends BYE in an ended dialog; `None`: the responder shuts down.
    pub(crate) fn spawn_bye(self: &Arc<Self>, dialog: Arc<Dialog>, reason: Option<ByeReason>) {
        let core = self.clone();
        tokio::spawn(async move {
            let extra = reason.map_or(
                &b"Reason: SIP;cause=503;text=\"Shutting Down\"\r\n"[..],
                ByeReason::reason_header,
            );
            let outcome = core.send_in_dialog(&dialog, "BYE", extra, true).await;
            let why = reason.map_or("shutdown", ByeReason::as_str);
            dialog.reporter.bye_sent(why, &outcome);
        });
    }

    /// RFC 4028 §10: we are the refresher; an UPDATE with the session's
    /// terms refreshes it, and a failed one ends the dialog (BYE).
    async fn refresh(self: &Arc<Self>, dialog: Arc<Dialog>) {
        let Some(terms) = dialog.session() else {
            return;
        };
        let extra = format!(
            "Contact: <{}>\r\nSupported: timer\r\n{}",
            dialog.contact,
            terms.header_lines().replace("Require: timer\r\n", "")
        );
        let outcome = self
            .send_in_dialog(&dialog, "UPDATE", extra.as_bytes(), false)
            .await;
        if dialog.is_ended() {
            return;
        }
        match outcome {
            ClientOutcome::Final(200..=299) => {
                dialog.refreshed(Some(terms), Instant::now());
                self.dialogs.schedule(&dialog);
            }
            other => {
                info!(sip.call_id = &*dialog.call_id, outcome = ?other, "session refresh failed: BYE");
                self.end_dialog(dialog, ByeReason::SessionExpired);
            }
        }
    }

    /// A request in `dialog` (§12.2.1.1): route set, remote target, next
    /// CSeq, over the flow the dialog came from.
    async fn send_in_dialog(
        &self,
        dialog: &Dialog,
        method: &str,
        extra_headers: &[u8],
        must_go: bool,
    ) -> ClientOutcome {
        let (request_uri, routes) = dialog.request_target();
        let flow = dialog.request_flow();
        let branch = format!("{MAGIC_COOKIE}{}", new_tag());
        let request = OutgoingRequest {
            method,
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
            user_agent: &dialog.settings.user_agent,
            extra_headers,
            content_type: None,
            body: b"",
        };
        let (rule, scope) = (dialog.rule(), dialog.scope());
        let behalf = Behalf {
            rule: &rule,
            scope: scope.as_deref(),
        };
        self.send(&dialog.settings, &flow, &request, behalf, must_go)
            .await
    }

    async fn send(
        &self,
        settings: &LayerSettings,
        flow: &Flow,
        request: &OutgoingRequest<'_>,
        behalf: Behalf<'_>,
        must_go: bool,
    ) -> ClientOutcome {
        let mut buf = Vec::with_capacity(512);
        request.write(&mut buf);
        let id = (request.branch, request.method);
        let logged = self
            .sent_log
            .get()
            .map(|log| (log, log.sent(&buf, flow, behalf.rule, behalf.scope)));
        let outcome = self
            .run_client(settings, flow, Bytes::from(buf), id, must_go)
            .await;
        if let Some((log, id)) = logged {
            log.outcome(id, &outcome);
        }
        outcome
    }
}

impl TransactionLayer {
    /// Ends `dialog` with BYE for `reason` (the media engine's RTP timeout
    /// and digit hang-up); nothing when it already ended.
    pub fn end_dialog(&self, dialog: &Arc<Dialog>, reason: ByeReason) {
        if !dialog.is_ended() {
            self.core.end_dialog(dialog.clone(), reason);
        }
    }

    /// Sends an out-of-dialog non-INVITE request through a client
    /// transaction (Timers E and F); not at all when as many are under way
    /// as transactions may run.
    pub async fn send_request(
        &self,
        settings: &LayerSettings,
        flow: &Flow,
        request: &OutgoingRequest<'_>,
        behalf: Behalf<'_>,
    ) -> ClientOutcome {
        self.core.send(settings, flow, request, behalf, false).await
    }

    /// Every request the layer sends is reported to `log` from now on.
    pub fn set_sent_log(&self, log: Arc<dyn SentLog>) {
        let _ = self.core.sent_log.set(log);
    }

    /// The live dialogs (at most `limit`), oldest first.
    pub fn dialog_list(&self, limit: usize) -> Vec<Arc<Dialog>> {
        let mut dialogs = self.core.dialogs.list();
        dialogs.sort_by_key(|dialog| dialog.started);
        dialogs.truncate(limit);
        dialogs
    }

    /// Ends every dialog `which` picks with BYE (the admin API); returns
    /// how many.
    pub fn end_dialogs(&self, which: impl Fn(&Dialog) -> bool) -> usize {
        let chosen: Vec<_> = self
            .core
            .dialogs
            .list()
            .into_iter()
            .filter(|dialog| which(dialog))
            .collect();
        for dialog in &chosen {
            self.core.end_dialog(dialog.clone(), ByeReason::Admin);
        }
        chosen.len()
    }

    /// Delivers a response to the client transaction it belongs to; one
    /// that matches our branch shows its source receives what we send.
    pub fn receive_response(&self, response: &crate::sip::ResponseSummary, flow: &Flow) -> bool {
        let delivered = self.core.clients.deliver(response);
        if delivered {
            flow.trust_peer();
        }
        delivered
    }
}
