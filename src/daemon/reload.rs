//! SIGHUP: read and validate the file again; when it is valid, swap the rule
//! set and the settings and apply listener changes (unchanged listeners are
//! not touched); when it is not, keep running on the old config and log
//! every error. Only `[admin]`, `[capture]` and `[media] port_range` wait
//! for a restart.

use std::path::Path;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::listeners::{RunningListener, bind_listener, reuse_udp_listener};
use crate::capture::Capture;
use crate::config::{Config, ListenerSpec, LoadError, ServerSettings};
use crate::lab::Lab;
use crate::sip::Transport;

/// What a reload changed, for its summary line.
#[derive(Debug, Default)]
pub(crate) struct ReloadSummary {
    pub(crate) rules: usize,
    pub(crate) added: Vec<String>,
    /// Served again on the same address with a changed spec or settings.
    pub(crate) changed: Vec<String>,
    pub(crate) removed: Vec<String>,
    pub(crate) failed: Vec<String>,
}

/// One reload: where the file is and what it touches.
pub(crate) struct Reloading<'a> {
    pub(crate) path: Option<&'a Path>,
    pub(crate) lab: &'a Lab,
    pub(crate) shutdown: &'a CancellationToken,
    pub(crate) capture: Option<&'a Arc<Capture>>,
    /// Rules added through the admin API stay (placed again).
    pub(crate) keep_api_rules: bool,
}

impl Reloading<'_> {
    /// Reads the file (or the embedded default) again and applies it.
    pub(crate) async fn run(
        &self,
        current: &mut Config,
        running: &mut Vec<RunningListener>,
    ) -> Result<ReloadSummary, LoadError> {
        let new = match self.path {
            Some(path) => Config::load_file(path)?,
            None => Config::embedded_default()?,
        };
        for warning in &new.warnings {
            warn!("{}", warning.warning_line());
        }
        warn_about_restart_only_settings(&current.server, &new.server);
        self.lab
            .install_config(crate::engine::Snapshot::of(&new), self.keep_api_rules);
        let summary = ReloadSummary {
            rules: new.rules.rules().len(),
            ..ReloadSummary::default()
        };
        let summary = self.apply_listeners(&new, current, running, summary).await;
        *current = new;
        Ok(summary)
    }

    /// Applies the listener changes of `new` to `running`.
    async fn apply_listeners(
        &self,
        new: &Config,
        current: &Config,
        running: &mut Vec<RunningListener>,
        mut summary: ReloadSummary,
    ) -> ReloadSummary {
        let (engine, shutdown, capture) = (self.lab.engine(), self.shutdown, self.capture);
        // Stop what is gone or changed first: a changed stream listener binds
        // its address again, a changed UDP listener serves its socket again.
        let mut kept = Vec::new();
        let mut stopped = Vec::new();
        for listener in running.drain(..) {
            let unchanged = new.listeners.contains(&listener.spec)
                && !bound_with_other_settings(&listener, &current.server, &new.server);
            if unchanged {
                kept.push(listener);
                continue;
            }
            let (spec, local) = (listener.spec.clone(), listener.info.local);
            let udp = listener.stop().await;
            stopped.push(Stopped { spec, local, udp });
        }
        for spec in &new.listeners {
            if kept.iter().any(|l| l.spec == *spec) {
                continue;
            }
            let previous = stopped
                .iter()
                .position(|s| s.spec.transport == spec.transport && s.spec.address == spec.address)
                .map(|i| stopped.swap_remove(i));
            let bound = match previous.as_ref().and_then(|p| p.udp.clone()) {
                Some(socket) => reuse_udp_listener(spec, &new.server, socket),
                None => bind_listener(spec, &new.server),
            }
            .map(|bound| bound.with_capture(capture));
            match bound {
                Ok(bound) => {
                    let entry = format!("{} {}", spec.transport, bound.local());
                    match previous {
                        Some(_) => summary.changed.push(entry),
                        None => summary.added.push(entry),
                    }
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
        summary.removed = stopped
            .iter()
            .map(|gone| format!("{} {}", gone.spec.transport, gone.local))
            .collect();
        *running = kept;
        summary
    }
}

/// What `POST /reload` answers: the summary line, or every error.
pub(crate) fn outcome_text(outcome: &Result<ReloadSummary, LoadError>) -> Result<String, String> {
    match outcome {
        Ok(summary) => Ok(format!(
            "{} rules from the file; listeners added {:?}, changed {:?}, removed {:?}, failed {:?}",
            summary.rules, summary.added, summary.changed, summary.removed, summary.failed
        )),
        Err(LoadError::Invalid(errors)) => Err(errors.to_string()),
        Err(error) => Err(error.to_string()),
    }
}

/// A listener the reload stopped, until it knows whether the new config
/// serves its address again.
struct Stopped {
    spec: ListenerSpec,
    local: std::net::SocketAddr,
    udp: Option<Arc<tokio::net::UdpSocket>>,
}

/// Logs a reload: the summary, or every error of a refused file.
pub(crate) fn log_outcome(source: &str, outcome: &Result<ReloadSummary, LoadError>) {
    match outcome {
        Ok(summary) => info!(
            config = source,
            rules = summary.rules,
            added = ?summary.added,
            changed = ?summary.changed,
            removed = ?summary.removed,
            failed = ?summary.failed,
            "configuration reloaded"
        ),
        Err(load_error) => {
            for config_error in load_error.errors() {
                error!(error = %config_error, "reload refused");
            }
            for warning in load_error.warnings() {
                warn!("{}", warning.warning_line());
            }
            if load_error.errors().is_empty() {
                error!(error = %load_error, "reload refused");
            }
            warn!(config = source, "keeping the previous configuration");
        }
    }
}

/// The STATUS= text after a refused reload: why, in short (the log has
/// every error).
pub(crate) fn refusal_status(refused: &LoadError) -> String {
    match refused.errors() {
        [] => format!("reload refused ({refused}), previous configuration kept"),
        [first] => format!("reload refused ({first}), previous configuration kept"),
        [first, rest @ ..] => format!(
            "reload refused ({first}, and {} more error(s) in the log), previous configuration kept",
            rest.len()
        ),
    }
}

/// Whether a listener was started with server settings the new config
/// changes (its Contact address, UDP workers, stream size limits): it is
/// started again, like a changed listener.
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

/// The admin listener and the capture export are set up once: a reload
/// cannot change them; say so instead of ignoring the edit silently.
fn warn_about_restart_only_settings(old: &ServerSettings, new: &ServerSettings) {
    for (setting, changed) in [
        ("admin", old.admin != new.admin),
        ("capture", old.capture != new.capture),
        (
            "media port_range",
            (old.media.first_port, old.media.last_port)
                != (new.media.first_port, new.media.last_port),
        ),
    ] {
        if changed {
            warn!(setting, "changed setting takes effect after a restart");
        }
    }
}
