//! Interop tests: the real binary, on ephemeral loopback ports, driven by
//! third-party SIP stacks and checked by outside tools (sipsak, SIPp,
//! baresip, Kamailio, the Node.js clients JsSIP, SIP.js and `sip`,
//! promtool, systemd-analyze).
//!
//! A libtest-mimic harness (see `harness/mod.rs`): a test whose tool is
//! missing shows as `ignored` in cargo's summary with the reason, never as
//! `ok`, and fails under `CI=true`. The pinned npm clients are installed on
//! first use (`npm ci` when node_modules is missing or stale).

#![allow(unreachable_pub)]

mod baresip;
mod harness;
mod node_clients;
mod promtool;
mod readme_examples;
mod sip_tools;
mod unit;

use harness::InteropTest;

/// Every interop test, by module.
const ALL: &[&[InteropTest]] = &[
    baresip::TESTS,
    harness::TESTS,
    node_clients::TESTS,
    promtool::TESTS,
    readme_examples::TESTS,
    sip_tools::TESTS,
    unit::TESTS,
];

fn main() -> std::process::ExitCode {
    let args = libtest_mimic::Arguments::from_args();
    let trials = ALL
        .iter()
        .flat_map(|tests| tests.iter())
        .map(|test| test.trial())
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}
