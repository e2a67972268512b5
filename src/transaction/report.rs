//! How the layer tells the transaction user what happened: each request it
//! takes as new and each retransmission it absorbs, every response a
//! transaction sends (whoever decided it), failures that are not a
//! response, how a dialog ended, and every request the layer itself sends
//! with its outcome. The engine implements [`Report`] and [`SentLog`]; the
//! layer never logs events itself.

use std::fmt;
use std::sync::Arc;

use crate::sip::{Cause, Request};
use crate::transport::Flow;

use super::ClientOutcome;

/// A response as it went out.
#[derive(Debug, Clone, Copy)]
pub struct SentResponse<'a> {
    pub status: u16,
    pub reason: &'a str,
    /// The response as sent (status line, headers, body).
    pub bytes: &'a [u8],
    /// Set when the layer sent it for a reason of its own (487 after
    /// CANCEL, the ring timeout's final response): it is then reported as
    /// `failed` with that cause rather than as the verb's event.
    pub cause: Option<Cause>,
}

/// Receives what one request's transaction (and the dialog it creates) did.
pub trait Report: Send + Sync + fmt::Debug {
    /// The rule that answers (the dialog keeps it for its later requests).
    fn rule(&self) -> Arc<str>;

    /// The test the request belongs to, if any (the dialog keeps it).
    fn scope(&self) -> Option<Arc<str>> {
        None
    }

    /// The layer takes `request` as new (not a retransmission): whoever
    /// answers it, the layer or a rule, answers through this reporter.
    fn received(&self, _request: &Request) {}

    /// A retransmission of the request arrived and was absorbed.
    fn retransmission(&self) {}

    /// A response went out for the first time.
    fn response(&self, sent: &SentResponse<'_>);

    /// The transaction failed without a response of its own (No ACK,
    /// Connection Error).
    fn failed(&self, cause: Cause);

    /// The layer sent BYE to end the dialog, `why` (no ACK, hang-up,
    /// maximum duration, session timer), with its outcome.
    fn bye_sent(&self, why: &str, outcome: &ClientOutcome);
}

/// Reports nothing (answers the layer gives before any rule is chosen).
#[derive(Debug, Default)]
pub struct Silent;

impl Report for Silent {
    fn rule(&self) -> Arc<str> {
        "protocol".into()
    }
    fn response(&self, _: &SentResponse<'_>) {}
    fn failed(&self, _: Cause) {}
    fn bye_sent(&self, _: &str, _: &ClientOutcome) {}
}

/// A shared reporter.
pub type Reporter = Arc<dyn Report>;

/// Receives every request the layer sends of its own (BYE, UPDATE, and the
/// engine's MESSAGE through [`super::TransactionLayer::send_request`]).
pub trait SentLog: Send + Sync + fmt::Debug {
    /// `request` went to `flow`'s peer, on behalf of `rule` (and `scope`);
    /// the id returned names it in [`SentLog::outcome`].
    fn sent(&self, request: &[u8], flow: &Flow, rule: &str, scope: Option<&str>) -> u64;

    /// How the request `id` ended.
    fn outcome(&self, id: u64, outcome: &ClientOutcome);
}

/// On whose behalf the layer sends a request: the rule and scope of the
/// dialog or request it belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Behalf<'a> {
    pub rule: &'a str,
    pub scope: Option<&'a str>,
}

/// Why a transaction can no longer be answered by its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// A CANCEL arrived: the layer sent 487 (RFC 3261 §9.2).
    Canceled,
    /// It rang for `[timers] ring_timeout_ms`: the layer sent its final
    /// response.
    NoAnswer,
    /// A reliable provisional response went 64·T1 without PRACK: the layer
    /// sent 500 (RFC 3262 §3).
    NoPrack,
    /// A final response was already sent.
    Final(u16),
    /// The response could not be sent (the connection is gone).
    Transport,
}

impl fmt::Display for Ended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Canceled => f.write_str("cancelled (487 sent)"),
            Self::NoAnswer => f.write_str("unanswered for the ring timeout (final response sent)"),
            Self::NoPrack => f.write_str("no PRACK for a reliable provisional response (500 sent)"),
            Self::Final(status) => write!(f, "a final response ({status}) was already sent"),
            Self::Transport => f.write_str("the transport failed"),
        }
    }
}
