//! Integration tests: the daemon over real sockets on 127.0.0.1 (and ::1).

mod common;

mod cli;
mod conformance;
mod interop;
mod matchers;
mod responses;
mod transactions;
mod verbs;
