//! `GET /dialogs` (the live calls) and `DELETE /dialogs/{call_id}` (end
//! them with BYE).

use hyper::StatusCode;
use serde::Serialize;

use super::handlers::{Reply, json_with, no_content, problem};
use super::query;
use crate::transaction::{Dialog, TransactionLayer};

/// One live dialog.
#[derive(Debug, Serialize)]
struct DialogInfo {
    call_id: String,
    local_tag: String,
    /// The peer's tag (From of its INVITE).
    remote_tag: String,
    /// Our identity (To of the INVITE) and the peer's (its From).
    local: String,
    remote: String,
    remote_target: String,
    rule: String,
    scope: Option<String>,
    /// Milliseconds since the 2xx created it.
    age_ms: u64,
    transport: &'static str,
    peer: String,
    /// The media lines (`m=`) of the SDP answer we sent, when there is one.
    media: Vec<String>,
}

impl DialogInfo {
    fn of(dialog: &Dialog) -> Self {
        let remote_tag = dialog
            .remote_header
            .split(';')
            .find_map(|p| p.trim().strip_prefix("tag="))
            .unwrap_or("")
            .to_owned();
        let media = dialog
            .answer()
            .map(|sdp| {
                String::from_utf8_lossy(&sdp)
                    .lines()
                    .filter_map(|line| line.strip_prefix("m="))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Self {
            call_id: dialog.call_id.to_string(),
            local_tag: dialog.local_tag.to_string(),
            remote_tag,
            local: dialog.local_header.to_string(),
            remote: dialog.remote_header.to_string(),
            remote_target: dialog.remote_target.to_string(),
            rule: dialog.rule().to_string(),
            scope: dialog.scope().as_deref().map(str::to_owned),
            age_ms: u64::try_from(dialog.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            transport: dialog.flow.transport.name(),
            peer: dialog.flow.peer.to_string(),
            media,
        }
    }
}

/// `GET /dialogs[?limit=]`: the live dialogs, oldest first.
pub(super) fn list(layer: &TransactionLayer, query: Option<&str>) -> Reply {
    let limit = match query::limit(query) {
        Ok(limit) => limit,
        Err(error) => return problem(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    let dialogs: Vec<DialogInfo> = layer
        .dialog_list(limit)
        .iter()
        .map(|dialog| DialogInfo::of(dialog))
        .collect();
    json_with(StatusCode::OK, &dialogs)
}

/// `DELETE /dialogs/{call_id}`: BYE to every dialog of the call (204), or
/// 404 when there is none.
pub(super) fn end(layer: &TransactionLayer, call_id: &str) -> Reply {
    match layer.end_dialogs(|dialog| &*dialog.call_id == call_id) {
        0 => problem(
            StatusCode::NOT_FOUND,
            &format!("no dialog with Call-ID `{call_id}`"),
        ),
        _ => no_content(),
    }
}
