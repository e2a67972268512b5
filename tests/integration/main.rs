//! Integration tests: the daemon over real sockets on 127.0.0.1 (and ::1).

mod common;

mod admin;
mod amplification;
mod auth;
mod capture;
mod cli;
mod conformance;
mod daemon_process;
mod explain;
mod fuzz_regressions;
mod hostile;
mod lab;
mod lifetimes;
mod log_fields;
mod man_page;
mod matchers;
mod media;
mod offers;
mod quick_answers;
mod registrar;
mod reliable;
mod responses;
mod robustness;
mod sdp;
mod service;
mod testlab;
mod transactions;
mod transports;
mod udp_batches;
mod verbs;
mod wire_bytes;
