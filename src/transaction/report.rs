//! How the layer tells the transaction user what happened: every response
//! a transaction sends (whoever decided it), failures that are not a
//! response, and how a dialog ended. The engine implements [`Report`]; the
//! layer never logs events itself.

use std::fmt;
use std::sync::Arc;

use crate::sip::Cause;

use super::ClientOutcome;

/// Receives what one transaction (and the dialog it creates) did.
pub trait Report: Send + Sync + fmt::Debug {
    /// The rule that answers (the dialog keeps it for its later requests).
    fn rule(&self) -> Arc<str>;

    /// A response went out for the first time. `cause` is set when the
    /// layer sent it for a reason of its own (487 after CANCEL, the ring
    /// timeout's final response): then it is reported as `failed` with that
    /// cause rather than as the verb's event.
    fn response(&self, status: u16, reason: &str, cause: Option<Cause>);

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
    fn response(&self, _: u16, _: &str, _: Option<Cause>) {}
    fn failed(&self, _: Cause) {}
    fn bye_sent(&self, _: &str, _: &ClientOutcome) {}
}

/// A shared reporter.
pub type Reporter = Arc<dyn Report>;

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
