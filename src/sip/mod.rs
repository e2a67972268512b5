//! The SIP message layer: framing, tokenising, validation, response building,
//! reason phrases and causes. This module is the only one that knows how SIP
//! text is parsed; the parser is the project's own (see README, "Dependency
//! notes"), so it could be swapped without touching other layers.

mod body;
mod cause;
mod class;
mod contact;
mod error;
mod framing;
mod header;
mod message;
mod name_addr;
mod outgoing;
mod parse;
mod request;
mod response;
mod scan;
mod status;
mod syntax;
mod timers;
mod transport_kind;
mod uri;
mod via;
mod wire;

pub use body::{ACCEPTED_TYPES, BodyError, MediaType, SDP};
pub use cause::Cause;
pub use contact::{ContactValue, Contacts, delta_seconds};
pub use error::ParseError;
pub use framing::{Frame, StreamFramer};
pub use header::{HeaderKey, HeaderName, is_token};
pub use message::Message;
pub use outgoing::{OutgoingRequest, ResponseSummary};
pub use parse::{Limits, parse_datagram};
pub use request::{Rejected, Request, TopVia};
pub use response::{ResponseParts, ResponseTemplate, minimal_response, udp_response_destination};
pub use status::{Verb, reason_phrase};
pub use timers::Timers;
pub use transport_kind::Transport;
pub use uri::{address_of_record, scheme, sip_host_port, sip_user};
pub use via::MAGIC_COOKIE;
pub use wire::wire_bytes;

/// The start of a message, escaped and cut short, safe for one log line.
pub fn excerpt(bytes: &[u8]) -> String {
    const MAX: usize = 160;
    let shown = &bytes[..bytes.len().min(MAX)];
    let mut out = shown.escape_ascii().to_string();
    if bytes.len() > MAX {
        out.push_str(&format!("… ({} bytes)", bytes.len()));
    }
    out
}
