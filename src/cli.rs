//! Command line: `run` (default) and `check`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// A SIP auto-responder: TOML rules map incoming SIP requests to replies
/// (progress, accept, reject, reply) sent over UDP.
///
/// Without --config it uses /etc/sip-autoresponder/config.toml when that file
/// exists, else its embedded default config (a fake endpoint on
/// 127.0.0.1:5060).
///
/// Exit status: 0 on success, 78 (EX_CONFIG) for an invalid config, 1 for
/// other failures (such as a port that cannot be bound).
#[derive(Debug, Parser)]
#[command(name = "sip-autoresponder", version, about, long_about)]
pub struct Cli {
    /// Config file (TOML).
    #[arg(short, long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve requests (the default).
    Run,
    /// Load and validate the config, print its listeners and rules in order
    /// with what each matches and replies, then exit.
    Check,
}
