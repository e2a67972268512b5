//! Command line: `run` (default), `check`, `explain`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::daemon::logging::LogFormat;
use crate::sip::Transport;

/// A SIP auto-responder: TOML rules map incoming SIP requests to replies
/// (progress, accept, reject, reply) over UDP, TCP, TLS, WebSocket and
/// secure WebSocket.
#[derive(Debug, Parser)]
#[command(
    name = "sip-autoresponder",
    version,
    about,
    long_about = "sip-autoresponder answers SIP requests as its TOML rules say: each request is \
matched against the rules in file order and the first match replies with its policy \
(provisional responses, then accept, reject or reply, each with a delay, extra headers and a \
body). It behaves as an RFC 3261 UAS: transactions, retransmissions, CANCEL, ACK, dialogs, \
hang-up BYE and auto-reply MESSAGE.",
    after_long_help = "FILES
    Without --config the daemon uses /etc/sip-autoresponder/config.toml when that file
    exists, else its embedded default config (UDP and TCP on 127.0.0.1:5060, WebSocket on
    127.0.0.1:8080). `sip-autoresponder check` prints what a config matches and replies.

SIGNALS
    SIGHUP     read and validate the config again; apply it if valid (new requests use the
               new rules, transactions in flight keep theirs; listeners added or removed),
               else log every error and keep the old config.
    SIGTERM, SIGINT
               stop taking requests (new ones get 503), let transactions in flight finish
               up to [server] drain_timeout_ms, then exit 0. A second signal exits at once.

ENVIRONMENT
    RUST_LOG       log level or filter; overrides [log] level.
    NOTIFY_SOCKET  systemd notification socket (Type=notify): READY, RELOADING, STOPPING,
                   WATCHDOG are sent when set.
    JOURNAL_STREAM when it names stderr, logs go to journald with structured fields.

EXIT STATUS
    0   success.
    69  (EX_UNAVAILABLE) a listener cannot be bound: the address is in use, not on this host,
        or a port below 1024 without CAP_NET_BIND_SERVICE. The unit does not restart on it.
    73  (EX_CANTCREAT) the [admin] journal_file cannot be opened for appending.
    78  (EX_CONFIG) the config is invalid (or, with check --strict, has warnings). The unit
        does not restart on it.
    1   any other failure.

SEE ALSO
    README.md and docs/architecture.md in the source tree; systemd/sip-autoresponder.service."
)]
pub struct Cli {
    /// Config file (TOML).
    #[arg(short, long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Format of log lines on stderr (the journal has its own).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve requests (the default).
    Run,
    /// Load and validate the config, print its listeners and rules in order
    /// with what each matches and replies, then exit. Every error and
    /// warning is printed as `file:line:column: message`.
    Check {
        /// Treat warnings as errors: exit 78 when there is any.
        #[arg(long)]
        strict: bool,
    },
    /// Show which rule a SIP message (from a file, or stdin) matches, why each
    /// earlier rule did not, and the exact responses that would be sent with
    /// their delays. Binds nothing.
    Explain {
        /// File holding one SIP request; `-` or nothing reads stdin.
        #[arg(value_name = "MESSAGE_FILE")]
        message: Option<PathBuf>,
        /// Source address the message is taken to come from.
        #[arg(long, default_value = "127.0.0.1:5060")]
        source: SocketAddr,
        /// Transport the message is taken to arrive on.
        #[arg(long, default_value = "udp", value_parser = parse_transport)]
        transport: Transport,
    },
}

fn parse_transport(text: &str) -> Result<Transport, String> {
    text.parse()
        .map_err(|()| format!("unknown transport `{text}` (udp, tcp, tls, ws, wss)"))
}
