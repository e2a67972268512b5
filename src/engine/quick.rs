//! The quick answer: a new out-of-dialog non-INVITE request whose rule has
//! no side effects (one immediate final step that renders the same for the
//! same request) is answered inline, with no transaction, context or job.
//! What it sends is what the general path would send, byte for byte.

use super::Engine;
use super::runner::{step_options, vars_of};
use crate::context::EventReporter;
use crate::rules::{Body, ReplyPolicy, Selected, Step};
use crate::sip::Request;
use crate::transaction::Deferred;
use crate::transport::Flow;

/// The step that answers `request` quickly, if its rule allows it.
pub(super) fn quick_step<'a>(selected: &'a Selected, request: &Request) -> Option<&'a Step> {
    // INFO may carry digits for a call's media; that is a side effect.
    if !selected.stateless || request.method() == "INFO" {
        return None;
    }
    match &*selected.policy {
        ReplyPolicy::Respond {
            final_step: Some(step),
            ..
        } if !matches!(step.body, Body::SdpAnswer) && step.media.is_none() => Some(step),
        _ => None,
    }
}

impl Engine {
    /// Renders `step` for `request` and sends it through `deferred`.
    pub(super) async fn answer_quickly(
        &self,
        deferred: Deferred,
        step: &Step,
        selected: &Selected,
        reporter: &EventReporter,
        (request, source): (&Request, &Flow),
    ) {
        reporter.choose(selected.rule.clone());
        let vars = vars_of(request, source, selected);
        // A quick step has no SDP answer to make (`quick_step`).
        let Ok(rendered) = step.render(&vars, || Err(())) else {
            return;
        };
        let options = step_options(step, &rendered);
        let parts = match crate::context::parts(step.verb, &options) {
            Ok(parts) => parts,
            Err(error) => {
                return crate::warn_limited!(%error, sip.status = step.status, "response not sent");
            }
        };
        if let Err(error) = deferred.answer_once(request, &parts).await {
            crate::warn_limited!(%error, sip.status = step.status, "response not sent");
        }
    }
}
