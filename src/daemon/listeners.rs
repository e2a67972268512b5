//! Binding listeners from their specs and running them, each with its own
//! cancellation so a reload can stop one without touching the others.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::capture::Capture;
use crate::config::{ListenerSpec, ServerSettings};
use crate::engine::Engine;
use crate::sip::Transport;
use crate::transport::{
    self, ListenerInfo, StreamOptions, bind_tcp, bind_udp, serve_stream, serve_udp, tls_acceptor,
};

/// A bound socket not yet served.
#[derive(Debug)]
pub(crate) struct BoundListener {
    pub(crate) spec: ListenerSpec,
    pub(crate) info: ListenerInfo,
    socket: Socket,
}

#[derive(Debug)]
enum Socket {
    Udp(Arc<UdpSocket>, usize),
    Stream(TcpListener, StreamOptions),
}

/// A listener being served.
#[derive(Debug)]
pub(crate) struct RunningListener {
    pub(crate) spec: ListenerSpec,
    pub(crate) info: ListenerInfo,
    cancel: CancellationToken,
    task: JoinHandle<()>,
    connections: Option<Arc<AtomicUsize>>,
    /// A UDP socket outlives its serving task: transactions, dialogs and
    /// registrations answer through it, so a reload that changes the
    /// listener serves the same socket again instead of binding anew.
    udp: Option<Arc<UdpSocket>>,
}

/// The open-connection counters of the stream listeners among `running`.
pub(crate) fn connection_counters(
    running: &[RunningListener],
) -> Vec<(Transport, Arc<AtomicUsize>)> {
    running
        .iter()
        .filter_map(|l| Some((l.info.transport, l.connections.clone()?)))
        .collect()
}

impl RunningListener {
    /// Stops accepting on this listener; its connections close. Returns its
    /// UDP socket, which may be served again.
    pub(crate) async fn stop(self) -> Option<Arc<UdpSocket>> {
        self.cancel.cancel();
        let _ = self.task.await;
        self.udp
    }
}

/// Binds one listener (the socket only; nothing is served yet).
pub(crate) fn bind_listener(
    spec: &ListenerSpec,
    settings: &ServerSettings,
) -> Result<BoundListener, transport::Error> {
    prepare_listener(spec, settings, None)
}

/// A UDP listener on a socket that was already bound (see
/// [`RunningListener::stop`]), with `spec` and `settings`.
pub(crate) fn reuse_udp_listener(
    spec: &ListenerSpec,
    settings: &ServerSettings,
    socket: Arc<UdpSocket>,
) -> Result<BoundListener, transport::Error> {
    prepare_listener(spec, settings, Some(socket))
}

fn prepare_listener(
    spec: &ListenerSpec,
    settings: &ServerSettings,
    udp: Option<Arc<UdpSocket>>,
) -> Result<BoundListener, transport::Error> {
    let bind_error = |source| transport::Error::Bind {
        transport: spec.transport,
        address: spec.address,
        source,
    };
    let (socket, local) = match spec.transport {
        Transport::Udp => {
            let socket = match udp {
                Some(socket) => socket,
                None => Arc::new(bind_udp(spec.address)?),
            };
            let local = socket.local_addr().map_err(bind_error)?;
            (Socket::Udp(socket, settings.udp_workers), local)
        }
        transport => {
            let listener = bind_tcp(transport, spec.address)?;
            let local = listener.local_addr().map_err(bind_error)?;
            let tls = match &spec.tls {
                Some(material) => Some(tls_acceptor(
                    material.chain.clone(),
                    material.key.clone_key(),
                )?),
                None => None,
            };
            let options = StreamOptions {
                limits: settings.limits,
                max_connections: spec.limits.max_connections,
                max_connections_per_source: spec.limits.max_connections_per_source,
                idle_timeout: spec.limits.idle_timeout,
                first_message_timeout: spec.limits.first_message_timeout,
                message_timeout: spec.limits.message_timeout,
                write_timeout: spec.limits.write_timeout,
                max_send_queue: spec.limits.max_send_queue_bytes,
                max_ws_message_size: spec.limits.max_ws_message_size,
                ws_path: spec.path.clone(),
                tls,
                open_connections: Arc::new(AtomicUsize::new(0)),
            };
            (Socket::Stream(listener, options), local)
        }
    };
    Ok(BoundListener {
        spec: spec.clone(),
        info: ListenerInfo::new(spec.transport, local, settings.public_address.as_deref())
            .with_allow_sources(spec.allow_sources.clone()),
        socket,
    })
}

impl BoundListener {
    /// Copies what this listener receives and sends to `capture`.
    pub(crate) fn with_capture(mut self, capture: Option<&Arc<Capture>>) -> Self {
        self.info = self.info.with_capture(capture.cloned());
        self
    }

    pub(crate) fn local(&self) -> SocketAddr {
        self.info.local
    }

    /// Starts serving with `engine`; stops when `parent` is cancelled or the
    /// listener is stopped on its own.
    pub(crate) fn start(self, engine: Arc<Engine>, parent: &CancellationToken) -> RunningListener {
        let cancel = parent.child_token();
        let info = self.info.clone();
        info!(transport = info.transport.name(), local = %info.local, "listening for {} on {}", info.transport.via_token(), info.local);
        let (task, connections, udp) = match self.socket {
            Socket::Udp(socket, workers) => (
                tokio::spawn(serve_udp(
                    socket.clone(),
                    info.clone(),
                    engine,
                    workers,
                    cancel.clone(),
                )),
                None,
                Some(socket),
            ),
            Socket::Stream(listener, options) => {
                let open = options.open_connections.clone();
                (
                    tokio::spawn(serve_stream(
                        listener,
                        info.clone(),
                        engine,
                        options,
                        cancel.clone(),
                    )),
                    Some(open),
                    None,
                )
            }
        };
        RunningListener {
            spec: self.spec,
            info,
            cancel,
            task,
            connections,
            udp,
        }
    }
}
