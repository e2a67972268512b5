//! SIGHUP: read and validate the file again; when it is valid, swap the rule
//! set and the settings and apply listener changes (unchanged listeners are
//! not touched); when it is not, keep running on the old config and log
//! every error. Only `[admin]` waits for a restart.

use std::path::Path;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::listeners::{RunningListener, bind_listener};
use super::{engine_settings, layer_settings, sdp_settings};
use crate::config::{Config, LoadError, ServerSettings};
use crate::engine::Engine;
use crate::sip::Transport;

/// What a reload changed, for its summary line.
#[derive(Debug, Default)]
pub(crate) struct ReloadSummary {
    pub(crate) rules: usize,
    pub(crate) added: Vec<String>,
    pub(crate) removed: Vec<String>,
    pub(crate) failed: Vec<String>,
}

/// Reads `path` (or the embedded default) again and applies it.
pub(crate) async fn reload(
    path: Option<&Path>,
    current: &mut Config,
    engine: &Arc<Engine>,
    running: &mut Vec<RunningListener>,
    shutdown: &CancellationToken,
) -> Result<ReloadSummary, LoadError> {
    let new = match path {
        Some(path) => Config::load_file(path)?,
        None => Config::embedded_default()?,
    };
    warn_about_restart_only_settings(&current.server, &new.server);
    engine.replace(new.rules.clone(), engine_settings(&new));
    engine
        .transactions()
        .reconfigure(layer_settings(&new.server));
    engine.sdp().reconfigure(sdp_settings(&new.server));
    let mut summary = ReloadSummary {
        rules: new.rules.rules().len(),
        ..ReloadSummary::default()
    };
    // Stop what is gone or changed first: a changed listener may rebind the
    // same address.
    let mut kept = Vec::new();
    for listener in running.drain(..) {
        let unchanged = new.listeners.contains(&listener.spec)
            && !bound_with_other_settings(&listener, &current.server, &new.server);
        if unchanged {
            kept.push(listener);
        } else {
            summary.removed.push(format!(
                "{} {}",
                listener.spec.transport, listener.info.local
            ));
            listener.stop().await;
        }
    }
    for spec in &new.listeners {
        if kept.iter().any(|l| l.spec == *spec) {
            continue;
        }
        match bind_listener(spec, &new.server) {
            Ok(bound) => {
                summary
                    .added
                    .push(format!("{} {}", spec.transport, bound.local()));
                kept.push(bound.start(engine.clone(), shutdown));
            }
            Err(bind_error) => {
                error!(error = %bind_error, "listener not started");
                summary
                    .failed
                    .push(format!("{} {}", spec.transport, spec.address));
            }
        }
    }
    *running = kept;
    *current = new;
    Ok(summary)
}

/// Logs a reload: the summary, or every error of a refused file.
pub(crate) fn log_outcome(source: &str, outcome: &Result<ReloadSummary, LoadError>) {
    match outcome {
        Ok(summary) => info!(
            config = source,
            rules = summary.rules,
            added = ?summary.added,
            removed = ?summary.removed,
            failed = ?summary.failed,
            "configuration reloaded"
        ),
        Err(load_error) => {
            for config_error in load_error.errors() {
                error!(error = %config_error, "reload refused");
            }
            if load_error.errors().is_empty() {
                error!(error = %load_error, "reload refused");
            }
            warn!(config = source, "keeping the previous configuration");
        }
    }
}

/// Whether a listener was bound with server settings the new config
/// changes (its Contact address, UDP workers, stream size limits): it is
/// bound again, like a changed listener.
fn bound_with_other_settings(
    listener: &RunningListener,
    old: &ServerSettings,
    new: &ServerSettings,
) -> bool {
    let is_udp = listener.spec.transport == Transport::Udp;
    old.public_address != new.public_address
        || (is_udp && old.udp_workers != new.udp_workers)
        || (!is_udp && old.limits != new.limits)
}

/// The admin listener is bound once: a reload cannot change it; say so
/// instead of ignoring the edit silently.
fn warn_about_restart_only_settings(old: &ServerSettings, new: &ServerSettings) {
    if old.admin != new.admin {
        warn!(
            setting = "admin",
            "changed setting takes effect after a restart"
        );
    }
}
