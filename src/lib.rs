//! sip-autoresponder: a SIP auto-responder daemon.
//!
//! Data flows one way through the layers:
//!
//! ```text
//! transport ─► sip (framing, parse, validate) ─► transaction ─► engine (rule match)
//!     ▲                                                              │
//!     └──────── transaction ◄── context (ServerContext verbs) ◄──────┘
//! ```
//!
//! `sip` knows SIP syntax only; `rules` and `config` know nothing of sockets;
//! `transport` moves bytes; `transaction` owns RFC 3261 §17 behaviour;
//! `context` is the per-request reply handle (SIP.js `ServerContext`);
//! `engine` dispatches a request to its rule; `daemon` binds, logs and runs.

pub mod admin;
pub mod auth;
pub mod capture;
pub mod cli;
pub mod config;
pub mod context;
pub mod daemon;
pub mod engine;
pub mod events;
pub mod explain;
pub mod lab;
pub mod media;
pub mod observe;
pub mod ratelog;
pub mod rules;
pub mod sip;
pub mod transaction;
pub mod transport;
