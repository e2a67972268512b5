//! A server transaction: renders responses of one request from its template
//! and sends them along the request's flow.

use std::net::SocketAddr;

use bytes::Bytes;

use crate::sip::{Request, ResponseParts, ResponseTemplate, Transport, udp_response_destination};
use crate::transport::{self, Flow, ListenerInfo};

/// A fresh random tag (To-tag) of 10 URL-safe characters (RFC 3261 §19.3
/// asks for at least 32 bits of randomness; this has about 59).
pub fn new_tag() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    (0..10)
        .map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]))
        .collect()
}

/// The server side of one request.
#[derive(Debug)]
pub struct ServerTransaction {
    template: ResponseTemplate,
    flow: Flow,
    server_header: Bytes,
    buf: Vec<u8>,
    last_status: Option<u16>,
}

impl ServerTransaction {
    /// Starts the transaction for `request` received on `flow`.
    /// `force_rport` answers UDP at the source port even without `;rport`.
    pub fn new(request: &Request, flow: Flow, listener: &ListenerInfo, server_header: Bytes, force_rport: bool) -> Self {
        let source = flow.peer;
        let template = ResponseTemplate::for_request(request, source, &new_tag(), &listener.contact);
        let via = request.top_via();
        let flow = response_flow(flow, source, via.port, via.rport, force_rport);
        Self {
            template,
            flow,
            server_header,
            buf: Vec::with_capacity(512),
            last_status: None,
        }
    }

    /// A transaction for answering a request that failed validation, or
    /// `None` when no response can be routed.
    pub fn for_rejected(
        rejected: &crate::sip::Rejected,
        flow: Flow,
        server_header: Bytes,
        force_rport: bool,
    ) -> Option<Self> {
        let source = flow.peer;
        let template = ResponseTemplate::for_rejected(rejected, source, &new_tag())?;
        let via = rejected.top_via()?;
        let flow = response_flow(flow, source, via.port, via.rport, force_rport);
        Some(Self {
            template,
            flow,
            server_header,
            buf: Vec::with_capacity(512),
            last_status: None,
        })
    }

    /// Renders and sends one response.
    pub async fn respond(&mut self, parts: &ResponseParts<'_>) -> Result<(), transport::Error> {
        self.template.write(&mut self.buf, &self.server_header, parts);
        self.last_status = Some(parts.status);
        self.flow.send(&self.buf).await
    }

    /// The status of the most recent response sent.
    pub fn last_status(&self) -> Option<u16> {
        self.last_status
    }

    pub fn to_tag(&self) -> Option<&str> {
        self.template.to_tag()
    }

    pub fn peer(&self) -> SocketAddr {
        self.flow.peer
    }

    pub fn transport(&self) -> Transport {
        self.flow.transport
    }
}

/// RFC 3261 §18.2.2: streams answer on their connection; UDP per RFC 3581.
fn response_flow(flow: Flow, source: SocketAddr, via_port: Option<u16>, rport: bool, force_rport: bool) -> Flow {
    if flow.transport.is_reliable() {
        return flow;
    }
    let destination = udp_response_destination(source, via_port, rport, force_rport);
    flow.to_peer(destination)
}
