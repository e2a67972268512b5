//! SIGHUP: read and validate the file again; when it is valid, swap the rule
//! set and apply listener changes (unchanged listeners are not touched);
//! when it is not, keep running on the old config and log every error.

use std::path::Path;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::engine_settings;
use super::listeners::{RunningListener, bind_listener};
use crate::config::{Config, LoadError, ServerSettings};
use crate::engine::Engine;

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
    let mut summary = ReloadSummary {
        rules: new.rules.rules().len(),
        ..ReloadSummary::default()
    };
    // Stop what is gone or changed first: a changed listener may rebind the
    // same address.
    let mut kept = Vec::new();
    for listener in running.drain(..) {
        if new.listeners.contains(&listener.spec) {
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

/// Settings the transaction layer and sockets were built with: a reload
/// cannot change them; say so instead of ignoring the edit silently.
fn warn_about_restart_only_settings(old: &ServerSettings, new: &ServerSettings) {
    let changed = [
        ("user_agent", old.user_agent != new.user_agent),
        ("force_rport", old.force_rport != new.force_rport),
        (
            "max_transactions",
            old.max_transactions != new.max_transactions,
        ),
        ("timers", old.timers != new.timers),
        ("udp_workers", old.udp_workers != new.udp_workers),
        ("admin", old.admin != new.admin),
    ];
    for (name, differs) in changed {
        if differs {
            warn!(
                setting = name,
                "changed setting takes effect after a restart"
            );
        }
    }
}
