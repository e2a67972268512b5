//! The admin HTTP listener: request journal, metrics, health. (The routes
//! are being written; until then the listener accepts nothing.)

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::observe::Observer;
use crate::sip::Transport;

/// What the admin routes read.
#[derive(Debug)]
pub struct AdminState {
    pub observer: Arc<Observer>,
    pub engine: Arc<Engine>,
    pub token: Option<String>,
    /// Open connections per stream listener.
    pub connections: Vec<(Transport, Arc<AtomicUsize>)>,
}

/// Serves the admin routes on `listener` until `cancel` fires.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AdminState>,
    cancel: CancellationToken,
) {
    let _ = (listener, state);
    cancel.cancelled().await;
}
