//! Dialogs (RFC 3261 §12): created by a 2xx to INVITE, found by Call-ID and
//! tags, ended by BYE (either side).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::transport::Flow;

/// Call-ID, local tag, remote tag (§12).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct DialogKey(String);

impl DialogKey {
    pub(crate) fn new(call_id: &str, local_tag: &str, remote_tag: &str) -> Self {
        Self(format!("{call_id}|{local_tag}|{remote_tag}"))
    }
}

/// The UAS side of one dialog.
#[derive(Debug)]
pub struct Dialog {
    pub(crate) key: DialogKey,
    pub call_id: Box<str>,
    pub local_tag: Box<str>,
    /// The To value of the INVITE (our identity, without tag).
    pub local_header: Box<str>,
    /// The From value of the INVITE (the peer, with its tag).
    pub remote_header: Box<str>,
    /// Contact of the INVITE (§12.1.1 remote target).
    pub remote_target: Box<str>,
    /// Record-Route of the INVITE, in order (§12.1.1 route set for a UAS).
    pub route_set: Vec<String>,
    /// CSeq of the INVITE that created the dialog.
    pub invite_cseq: u32,
    /// The flow the INVITE came from: in-dialog requests go back over it.
    pub flow: Flow,
    /// `host:port` for the Via of requests we send.
    pub sent_by: Box<str>,
    /// The rule that answered the INVITE.
    pub rule: Arc<str>,
    local_cseq: AtomicU32,
    /// The highest CSeq the peer has used in the dialog (§12.2.2).
    remote_cseq: AtomicU32,
    /// The SDP we answered with, echoed to re-INVITE/UPDATE offers.
    answer: Mutex<Option<Bytes>>,
    pub(crate) ack: Notify,
    pub(crate) ended: CancellationToken,
}

/// What a dialog is created from.
#[derive(Debug)]
pub struct DialogSpec {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
    pub local_header: String,
    pub remote_header: String,
    pub remote_target: String,
    pub route_set: Vec<String>,
    pub invite_cseq: u32,
    pub flow: Flow,
    pub sent_by: String,
    pub rule: Arc<str>,
    pub answer: Option<Bytes>,
}

impl Dialog {
    pub(crate) fn new(spec: DialogSpec) -> Self {
        Self {
            key: DialogKey::new(&spec.call_id, &spec.local_tag, &spec.remote_tag),
            call_id: spec.call_id.into(),
            local_tag: spec.local_tag.into(),
            local_header: spec.local_header.into(),
            remote_header: spec.remote_header.into(),
            remote_target: spec.remote_target.into(),
            route_set: spec.route_set,
            invite_cseq: spec.invite_cseq,
            flow: spec.flow,
            sent_by: spec.sent_by.into(),
            rule: spec.rule,
            local_cseq: AtomicU32::new(0),
            remote_cseq: AtomicU32::new(spec.invite_cseq),
            answer: Mutex::new(spec.answer),
            ack: Notify::new(),
            ended: CancellationToken::new(),
        }
    }

    /// Records the CSeq of an in-dialog request from the peer; false when
    /// it is lower than one already seen, which §12.2.2 answers with 500
    /// (the peer's requests must be in order; an old one is out of place).
    pub(crate) fn accept_remote_cseq(&self, cseq: u32) -> bool {
        self.remote_cseq.fetch_max(cseq, Ordering::Relaxed) <= cseq
    }

    /// The next local CSeq (§12.2.1.1: one higher than the previous).
    pub fn next_cseq(&self) -> u32 {
        self.local_cseq.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Resolves when the ACK for the 2xx arrives.
    pub async fn acked(&self) {
        self.ack.notified().await;
    }

    /// Resolves when the dialog ends (BYE received or sent).
    pub async fn ended(&self) {
        self.ended.cancelled().await;
    }

    pub fn is_ended(&self) -> bool {
        self.ended.is_cancelled()
    }

    /// The last SDP answer sent in this dialog.
    pub fn answer(&self) -> Option<Bytes> {
        self.answer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Request-URI and Route set for a request in the dialog (§12.2.1.1):
    /// loose routing keeps the remote target; a strict first route becomes
    /// the Request-URI and the remote target goes last.
    pub fn request_target(&self) -> (String, Vec<String>) {
        match self.route_set.first() {
            None => (self.remote_target.to_string(), Vec::new()),
            Some(first) if first.contains(";lr") => {
                (self.remote_target.to_string(), self.route_set.clone())
            }
            Some(first) => {
                let uri = first
                    .trim()
                    .trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap_or(first)
                    .to_owned();
                let mut routes: Vec<String> = self.route_set[1..].to_vec();
                routes.push(format!("<{}>", self.remote_target));
                (uri, routes)
            }
        }
    }
}

/// The live dialogs.
#[derive(Debug, Default)]
pub(crate) struct DialogTable {
    dialogs: Mutex<HashMap<DialogKey, Arc<Dialog>>>,
}

impl DialogTable {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<DialogKey, Arc<Dialog>>> {
        self.dialogs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn insert(&self, dialog: Arc<Dialog>) {
        if let Some(old) = self.lock().insert(dialog.key.clone(), dialog) {
            old.ended.cancel();
        }
    }

    pub(crate) fn find(
        &self,
        call_id: &str,
        local_tag: &str,
        remote_tag: &str,
    ) -> Option<Arc<Dialog>> {
        self.lock()
            .get(&DialogKey::new(call_id, local_tag, remote_tag))
            .cloned()
    }

    pub(crate) fn remove(&self, dialog: &Dialog) {
        let mut dialogs = self.lock();
        if dialogs
            .get(&dialog.key)
            .is_some_and(|d| std::ptr::eq(Arc::as_ptr(d), dialog))
        {
            dialogs.remove(&dialog.key);
        }
        dialog.ended.cancel();
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}
