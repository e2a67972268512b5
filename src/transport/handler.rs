//! The one interface transports deliver to: admission of each datagram or
//! message before it is parsed, whole datagrams (UDP and WebSocket
//! messages), framed stream messages, and stream input that could not be
//! framed.

use std::future::Future;
use std::net::SocketAddr;

use super::{Flow, ListenerInfo};
use crate::sip::{Message, ParseError};

/// What the per-source limit says of one datagram or stream message, asked
/// before anything parses it or keeps state for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Handle it.
    Admit,
    /// Over the limit: answer it with 503 and nothing else
    /// ([`MessageHandler::handle_refused`]).
    Refuse,
    /// Over the limit: drop it unread.
    Drop,
}

/// Receives what the transports read.
pub trait MessageHandler: Send + Sync + 'static {
    /// Asked for every datagram and every framed stream message before it
    /// is handed on; cheap and synchronous (it runs in the receive loops).
    fn admit(&self, peer: SocketAddr) -> Admission;

    /// A datagram or message [`Admission::Refuse`]d: answer it statelessly
    /// if it can be.
    fn handle_refused(
        &self,
        data: &[u8],
        flow: Flow,
        listener: &ListenerInfo,
    ) -> impl Future<Output = ()> + Send;

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
    fn refused_source(&self, peer: SocketAddr, listener: &ListenerInfo);

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
