//! The one interface transports deliver to: whole datagrams (UDP and
//! WebSocket messages), framed stream messages, and stream input that could
//! not be framed.

use std::future::Future;

use super::{Flow, ListenerInfo};
use crate::sip::{Message, ParseError};

/// Receives what the transports read.
pub trait MessageHandler: Send + Sync + 'static {
    /// One UDP datagram or one WebSocket message; `flow` leads back to its
    /// source.
    fn handle_datagram(
        &self,
        data: &[u8],
        flow: Flow,
        listener: &ListenerInfo,
    ) -> impl Future<Output = ()> + Send;

    /// One message framed out of a TCP or TLS stream.
    fn handle_message(
        &self,
        message: Message,
        flow: Flow,
        listener: &ListenerInfo,
    ) -> impl Future<Output = ()> + Send;

    /// A datagram or connection from a source the listener does not allow
    /// (`allow_sources`); it was dropped.
    fn refused_source(&self, peer: std::net::SocketAddr, listener: &ListenerInfo);

    /// Stream input that cannot be framed (no or bad Content-Length): answer
    /// 400 if possible; the transport closes the connection afterwards.
    /// `head` is the message head when it could be tokenised.
    fn handle_unframeable(
        &self,
        head: Option<Message>,
        error: ParseError,
        flow: Flow,
        listener: &ListenerInfo,
    ) -> impl Future<Output = ()> + Send;
}
