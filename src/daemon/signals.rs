//! Signals become typed controls at the edge: SIGHUP → reload, SIGTERM /
//! SIGINT → shutdown.

use futures_util::StreamExt;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_tokio::Signals;

/// What the operator asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Control {
    Reload,
    Shutdown,
}

/// A stream of controls from process signals.
pub(super) struct Controls {
    signals: Signals,
}

impl Controls {
    pub(super) fn install() -> std::io::Result<Self> {
        Ok(Self {
            signals: Signals::new([SIGHUP, SIGTERM, SIGINT])?,
        })
    }

    /// The next control; `None` if signal delivery ended.
    pub(super) async fn next(&mut self) -> Option<Control> {
        loop {
            match self.signals.next().await? {
                SIGHUP => return Some(Control::Reload),
                SIGTERM | SIGINT => return Some(Control::Shutdown),
                _ => continue,
            }
        }
    }
}
