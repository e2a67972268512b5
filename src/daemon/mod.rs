//! The daemon: binds every listener, hands the sockets to the transports,
//! serves until shutdown. The only layer that binds sockets.

pub mod logging;
pub mod systemd;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::Config;
use bytes::Bytes;

use crate::engine::{Engine, EngineSettings};
use crate::sip::Transport;
use crate::transaction::{LayerSettings, TransactionLayer};
use crate::transport::{self, ListenerInfo, bind_udp, serve_udp};

/// A daemon whose listeners are bound but not yet served.
#[derive(Debug)]
pub struct Daemon {
    engine: Arc<Engine>,
    udp: Vec<(Arc<UdpSocket>, ListenerInfo)>,
    udp_workers: usize,
}

impl Daemon {
    /// Binds every listener of `config`; nothing is served yet, so the caller
    /// learns the real addresses (port 0 resolved) first.
    pub fn bind(config: &Config) -> Result<Self, transport::Error> {
        let settings = &config.server;
        let mut udp = Vec::new();
        for spec in &config.listeners {
            // The config compiler refuses other transports for now.
            if spec.transport == Transport::Udp {
                let socket = bind_udp(spec.address)?;
                let local = socket
                    .local_addr()
                    .map_err(|source| transport::Error::Bind {
                        transport: spec.transport,
                        address: spec.address,
                        source,
                    })?;
                let info =
                    ListenerInfo::new(Transport::Udp, local, settings.public_address.as_deref());
                udp.push((Arc::new(socket), info));
            }
        }
        let layer = TransactionLayer::new(LayerSettings {
            timers: settings.timers,
            max_transactions: settings.max_transactions,
            server_header: Bytes::from(format!("Server: {}\r\n", settings.user_agent)),
            user_agent: settings.user_agent.clone(),
            force_rport: settings.force_rport,
        });
        let engine = Engine::new(config.rules.clone(), engine_settings(config), layer);
        Ok(Self {
            engine: Arc::new(engine),
            udp,
            udp_workers: settings.udp_workers,
        })
    }

    /// The bound listeners: transport and real local address.
    pub fn listeners(&self) -> Vec<(Transport, SocketAddr)> {
        self.udp
            .iter()
            .map(|(_, info)| (info.transport, info.local))
            .collect()
    }

    pub fn engine(&self) -> Arc<Engine> {
        self.engine.clone()
    }

    /// Serves every listener until `shutdown` is cancelled.
    pub async fn serve(self, shutdown: CancellationToken) {
        let mut tasks = tokio::task::JoinSet::new();
        for (socket, info) in self.udp {
            info!(transport = info.transport.name(), local = %info.local, "listening for {} on {}", info.transport.via_token(), info.local);
            tasks.spawn(serve_udp(
                socket,
                info,
                self.engine.clone(),
                self.udp_workers,
                shutdown.child_token(),
            ));
        }
        while tasks.join_next().await.is_some() {}
    }
}

/// The per-request settings of a config (swapped with its rules on reload).
pub fn engine_settings(config: &Config) -> EngineSettings {
    EngineSettings {
        limits: config.server.limits,
        allowed_methods: config.server.allowed_methods.clone(),
    }
}

/// Binds and serves `config` until SIGINT or SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let daemon = Daemon::bind(&config)?;
    let shutdown = CancellationToken::new();
    let serving = tokio::spawn(daemon.serve(shutdown.clone()));
    wait_for_stop_signal().await?;
    info!("stopping");
    shutdown.cancel();
    serving.await?;
    Ok(())
}

async fn wait_for_stop_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
