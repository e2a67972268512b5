//! The daemon: binds every listener, hands the sockets to the transports,
//! serves until shutdown. The only layer that binds sockets.

mod drain;
mod listeners;
pub mod logging;
mod reload;
mod signals;
pub mod systemd;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::admin::{AdminState, OpenConnections, ReloadRequest};
use crate::capture::Capture;
use crate::config::Config;
use crate::engine::sdp::SdpService;
use crate::engine::{Engine, Snapshot};
use crate::lab::Lab;
use crate::observe::{JournalSettings, Observer};
use crate::sip::Transport;
use crate::transport;
use listeners::{BoundListener, RunningListener, bind_listener, connection_counters};
use signals::{Control, Controls};
use systemd::Notifier;

/// A daemon whose listeners are bound but not yet served.
#[derive(Debug)]
pub struct Daemon {
    engine: Arc<Engine>,
    /// Every change of the live rule set goes through it.
    lab: Arc<Lab>,
    bound: Vec<BoundListener>,
    admin: Option<BoundAdmin>,
    /// `[capture]`'s tap, shared by every listener (bound again on reload).
    capture: Option<Arc<Capture>>,
    /// What `/metrics` counts connections from; replaced on reload.
    connections: Arc<OpenConnections>,
}

/// The admin listener, bound.
#[derive(Debug)]
struct BoundAdmin {
    listener: tokio::net::TcpListener,
    token: Option<String>,
    observer: Arc<Observer>,
}

/// Errors binding the daemon.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error(transparent)]
    Transport(#[from] transport::Error),
    #[error("cannot open the journal file: {0}")]
    Journal(std::io::Error),
    #[error("cannot create the DTLS certificate for SDP answers: {0}")]
    Sdp(String),
    #[error("cannot open the capture socket: {0}")]
    Capture(std::io::Error),
}

impl Daemon {
    /// Binds every listener of `config` (and the admin listener); nothing is
    /// served yet, so the caller learns the real addresses (port 0 resolved)
    /// first.
    pub fn bind(config: &Config) -> Result<Self, BindError> {
        let settings = &config.server;
        let capture = match &settings.capture {
            Some(capture) => Some(Capture::start(capture).map_err(BindError::Capture)?),
            None => None,
        };
        let bound = config
            .listeners
            .iter()
            .map(|spec| bind_listener(spec, settings).map(|b| b.with_capture(capture.as_ref())))
            .collect::<Result<Vec<_>, _>>()?;
        let admin = match &settings.admin {
            Some(admin) => Some(BoundAdmin {
                listener: transport::bind_tcp(Transport::Tcp, admin.address)?,
                token: admin.token.clone(),
                observer: Arc::new(
                    Observer::new(JournalSettings {
                        capacity: admin.journal_size,
                        max_bytes: admin.journal_max_bytes,
                        file: admin.journal_file.clone(),
                        file_max_bytes: admin.journal_file_max_bytes,
                    })
                    .map_err(BindError::Journal)?,
                ),
            }),
            None => None,
        };
        let sdp = SdpService::new().map_err(|e| BindError::Sdp(e.to_string()))?;
        let engine = Engine::new(Snapshot::of(config), sdp)
            .with_observer(admin.as_ref().map(|a| a.observer.clone()));
        let engine = Arc::new(engine);
        Ok(Self {
            lab: Arc::new(Lab::new(engine.clone())),
            engine,
            bound,
            admin,
            capture,
            connections: Arc::default(),
        })
    }

    /// The bound listeners: transport and real local address.
    pub fn listeners(&self) -> Vec<(Transport, SocketAddr)> {
        self.bound
            .iter()
            .map(|l| (l.info.transport, l.local()))
            .collect()
    }

    /// The admin listener's address, when `[admin]` is configured.
    pub fn admin_address(&self) -> Option<SocketAddr> {
        self.admin
            .as_ref()
            .and_then(|a| a.listener.local_addr().ok())
    }

    pub fn engine(&self) -> Arc<Engine> {
        self.engine.clone()
    }

    /// The live rule set's writer.
    pub fn lab(&self) -> Arc<Lab> {
        self.lab.clone()
    }

    /// Starts every listener (and the admin listener) under `shutdown`;
    /// `POST /reload` asks `reloads`, when given.
    fn start(
        self,
        shutdown: &CancellationToken,
        reloads: Option<mpsc::Sender<ReloadRequest>>,
    ) -> Vec<RunningListener> {
        let layer = self.engine.transactions().clone();
        let cancel = shutdown.child_token();
        tokio::spawn(async move { layer.maintain(cancel).await });
        let running: Vec<RunningListener> = self
            .bound
            .into_iter()
            .map(|l| l.start(self.engine.clone(), shutdown))
            .collect();
        self.connections.replace(connection_counters(&running));
        if let Some(admin) = self.admin {
            if let Ok(local) = admin.listener.local_addr() {
                info!(local = %local, "admin listener on http://{local}");
            }
            admin.observer.set_ready(true);
            let state = Arc::new(AdminState {
                observer: admin.observer,
                engine: self.engine.clone(),
                lab: self.lab.clone(),
                token: admin.token,
                connections: self.connections.clone(),
                reloads,
            });
            tokio::spawn(crate::admin::serve(
                admin.listener,
                state,
                shutdown.child_token(),
            ));
        }
        running
    }

    /// Serves every listener until `shutdown` is cancelled.
    pub async fn serve(self, shutdown: CancellationToken) {
        let engine = self.engine.clone();
        let running = self.start(&shutdown, None);
        shutdown.cancelled().await;
        engine.media().shutdown();
        for listener in running {
            listener.stop().await;
        }
    }
}

/// Runs `config` (loaded from `path`, or the embedded default when `None`)
/// as a service: binds, tells systemd it is ready, reloads on SIGHUP, and on
/// SIGTERM/SIGINT stops taking requests, drains what is in flight (bounded
/// by the drain timeout; a second signal exits at once) and returns.
pub async fn run(mut config: Config, path: Option<PathBuf>) -> anyhow::Result<()> {
    let notifier = Notifier::from_env();
    let mut controls = Controls::install().context("cannot install signal handlers")?;
    let daemon = Daemon::bind(&config).context("cannot bind listeners")?;
    let engine = daemon.engine();
    let lab = daemon.lab();
    let connections = daemon.connections.clone();
    let capture = daemon.capture.clone();
    let shutdown = CancellationToken::new();
    let (reloads, mut reload_requests) = mpsc::channel::<ReloadRequest>(4);
    let mut running = daemon.start(&shutdown, Some(reloads));
    let notifier = Arc::new(notifier);
    notifier.ready(&status_line(&running));
    // WATCHDOG=1 at half the interval systemd asked for (WatchdogSec=).
    let watchdog = notifier.watchdog_interval().map(|period| {
        let notifier = notifier.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            loop {
                ticks.tick().await;
                notifier.watchdog();
            }
        })
    });
    let source = config.source.clone();
    loop {
        let (keep_api_rules, answer) = tokio::select! {
            control = controls.next() => match control {
                Some(Control::Reload) => (true, None),
                Some(Control::Shutdown) | None => break,
            },
            Some(asked) = reload_requests.recv() => (asked.keep_api_rules, Some(asked.outcome)),
        };
        notifier.reloading();
        let reloading = reload::Reloading {
            path: path.as_deref(),
            lab: &lab,
            shutdown: &shutdown,
            capture: capture.as_ref(),
            keep_api_rules,
        };
        let outcome = reloading.run(&mut config, &mut running).await;
        reload::log_outcome(&source, &outcome);
        connections.replace(connection_counters(&running));
        if let Some(observer) = engine.observer() {
            observer.metrics.reload(outcome.is_ok());
        }
        match &outcome {
            Ok(_) => {
                logging::set_level(config.server.log_level.as_deref());
                notifier.ready(&status_line(&running));
            }
            Err(refused) => notifier.ready(&format!(
                "{}; {}",
                reload::refusal_status(refused),
                status_line(&running)
            )),
        }
        if let Some(answer) = answer {
            let _ = answer.send(reload::outcome_text(&outcome));
        }
    }
    drain::stop_serving(
        &engine,
        config.server.drain_timeout,
        &notifier,
        &mut controls,
    )
    .await;
    if let Some(watchdog) = watchdog {
        watchdog.abort();
    }
    shutdown.cancel();
    engine.media().shutdown();
    for listener in running {
        listener.stop().await;
    }
    info!("stopped");
    Ok(())
}

/// STATUS= text naming the listeners.
fn status_line(running: &[RunningListener]) -> String {
    let listeners: Vec<String> = running
        .iter()
        .map(|l| format!("{} {}", l.info.transport, l.info.local))
        .collect();
    format!("listening on {}", listeners.join(", "))
}
