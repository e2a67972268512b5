//! `explain`'s dry run: the message goes through the daemon's own engine,
//! transaction layer and rules, over a flow that records what would be sent
//! and when, on tokio's paused clock (hours of dialog pass in an instant).
//! A well-behaved client answers what a client must; the run ends when
//! nothing is left in flight.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::peer::Peer;
use crate::config::Config;
use crate::engine::sdp::SdpService;
use crate::engine::{Engine, Snapshot};
use crate::sip::{Frame, Request, StreamFramer, Transport};
use crate::transport::{Flow, ListenerInfo, MessageHandler};

/// Who sent one message of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Sender {
    /// The responder, to this address.
    Daemon(SocketAddr),
    /// The simulated client; what it sent.
    Client(String),
}

/// One message of the run, at a virtual time.
#[derive(Debug, Clone)]
pub(super) struct Sent {
    pub(super) at: Duration,
    pub(super) sender: Sender,
    pub(super) bytes: Bytes,
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum End {
    /// Nothing left in flight.
    Idle,
    /// Something still ran at the end of the window.
    Cut(Duration),
}

/// A run's messages in order.
pub(super) struct Timeline {
    pub(super) sent: Vec<Sent>,
    pub(super) end: End,
}

/// Runs `message` from `source` through a fresh daemon on `config`.
pub(super) fn run(
    config: &Config,
    message: &[u8],
    source: SocketAddr,
    listener: &ListenerInfo,
    request: Option<&Request>,
) -> Result<Timeline, String> {
    let sdp = SdpService::new().map_err(|e| e.to_string())?;
    let engine = Engine::new(Snapshot::of(config), sdp).with_simulated_media();
    // Long enough for every dialog to end by itself.
    let window = config.server.dialog.max_duration + config.server.timers.timeout() * 4;
    let peer = request.map(Peer::new);
    // A runtime of its own, on a thread of its own: the caller may itself
    // be inside a runtime.
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .start_paused(true)
                    .build()
                    .map_err(|e| e.to_string())?;
                Ok(runtime.block_on(drive(
                    engine, config, message, source, listener, peer, window,
                )))
            })
            .join()
            .map_err(|_| "the dry run panicked".to_owned())?
    })
}

async fn drive(
    engine: Engine,
    config: &Config,
    message: &[u8],
    source: SocketAddr,
    listener: &ListenerInfo,
    mut peer: Option<Peer>,
    window: Duration,
) -> Timeline {
    let start = Instant::now();
    let cancel = tokio_util::sync::CancellationToken::new();
    let layer = engine.transactions().clone();
    let maintain = tokio::spawn({
        let cancel = cancel.clone();
        async move { layer.maintain(cancel).await }
    });
    let (recorder, mut recorded) = mpsc::unbounded_channel();
    let flow = Flow::recorder(listener.transport, listener.local, source, recorder);
    feed(&engine, config, message, &flow, listener).await;
    let mut sent = Vec::new();
    let limits = config.server.limits;
    let mut quiet = Duration::from_millis(10);
    let end = loop {
        tokio::select! {
            Some((to, bytes)) = recorded.recv() => {
                quiet = Duration::from_millis(10);
                let at = start.elapsed();
                let reply = peer.as_mut().and_then(|p| p.react(&bytes, &limits));
                sent.push(Sent { at, sender: Sender::Daemon(to), bytes });
                if let Some(reply) = reply {
                    sent.push(Sent { at, sender: Sender::Client(reply.what), bytes: reply.bytes.clone().into() });
                    engine.handle_datagram(&reply.bytes, flow.clone(), listener).await;
                }
            }
            () = tokio::time::sleep(quiet) => {
                if engine.is_idle() && engine.transactions().dialogs() == 0 {
                    break End::Idle;
                }
                quiet = (quiet * 2).min(Duration::from_secs(60));
            }
        }
        if start.elapsed() > window {
            break End::Cut(start.elapsed());
        }
    };
    cancel.cancel();
    let _ = maintain.await;
    Timeline { sent, end }
}

/// Hands the message to the engine as its transport would.
async fn feed(
    engine: &Engine,
    config: &Config,
    message: &[u8],
    flow: &Flow,
    listener: &ListenerInfo,
) {
    if matches!(
        listener.transport,
        Transport::Udp | Transport::Ws | Transport::Wss
    ) {
        return engine
            .handle_datagram(message, flow.clone(), listener)
            .await;
    }
    let mut framer = StreamFramer::new(config.server.limits);
    let mut buf = BytesMut::from(message);
    loop {
        match framer.next_frame(&mut buf) {
            Ok(Some(Frame::Message(message))) => {
                engine.handle_message(message, flow.clone(), listener).await;
            }
            Ok(Some(Frame::KeepAlive)) => {}
            Ok(None) => return,
            Err(error) => {
                let head = framer.head_of(&buf);
                return engine
                    .handle_unframeable(head, error, flow.clone(), listener)
                    .await;
            }
        }
    }
}
