//! Command line: `run` (default), `check`, `explain`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::daemon::logging::LogFormat;
use crate::sip::Transport;

/// The sections a man page has after OPTIONS, as `(title, entries)`; an
/// entry is `(term, text)`, with an empty term for a plain paragraph. `--help`
/// ends with them, and the man page (docs/sip-autoresponder.8) is generated
/// from them and the options.
pub const MAN_SECTIONS: &[(&str, &[(&str, &str)])] = &[
    (
        "FILES",
        &[
            (
                "/etc/sip-autoresponder/config.toml",
                "the config used without --config when it exists; \
              otherwise the embedded default (UDP and TCP on 127.0.0.1:5060, WebSocket on \
              127.0.0.1:8080). `sip-autoresponder check` prints what a config matches and replies.",
            ),
            (
                "/var/log/sip-autoresponder/",
                "where the service may write ([admin] journal_file); \
              systemd creates it (LogsDirectory=).",
            ),
            (
                "/var/lib/sip-autoresponder/",
                "the service's state directory (StateDirectory=), \
              writable for it, e.g. for [capture] pcap files.",
            ),
        ],
    ),
    (
        "SIGNALS",
        &[
            (
                "SIGHUP",
                "read and validate the config again; apply it if valid (new requests use \
              the new rules, transactions in flight keep theirs; listeners added or removed), \
              else log every error, keep the old config and say so in systemd's STATUS=.",
            ),
            (
                "SIGTERM, SIGINT",
                "stop taking requests (new ones get 503), let transactions in \
              flight finish up to [server] drain_timeout_ms (telling systemd with STATUS= and \
              EXTEND_TIMEOUT_USEC=), then exit 0. A second signal exits at once.",
            ),
        ],
    ),
    (
        "ENVIRONMENT",
        &[
            ("RUST_LOG", "log level or filter; overrides [log] level."),
            (
                "NOTIFY_SOCKET",
                "systemd notification socket (Type=notify): READY, RELOADING, \
              STOPPING, STATUS, EXTEND_TIMEOUT_USEC and WATCHDOG are sent when set.",
            ),
            (
                "JOURNAL_STREAM",
                "when it names stderr, logs go to journald with structured \
              fields (RULE, EVENT, CAUSE, SIP_METHOD, SIP_CALL_ID, SIP_STATUS, PEER, TRANSPORT).",
            ),
        ],
    ),
    (
        "EXIT STATUS",
        &[
            ("0", "success."),
            (
                "69",
                "(EX_UNAVAILABLE) a listener cannot be bound: the address is in use, not on \
              this host, or a port below 1024 without CAP_NET_BIND_SERVICE. The unit does not \
              restart on it.",
            ),
            (
                "73",
                "(EX_CANTCREAT) the [admin] journal_file cannot be opened for appending. The \
              unit does not restart on it.",
            ),
            (
                "78",
                "(EX_CONFIG) the config is invalid (with check --strict: or has warnings). \
              The unit does not restart on it.",
            ),
            ("1", "any other failure."),
        ],
    ),
    (
        "SEE ALSO",
        &[(
            "",
            "systemd.service(5), sd_notify(3); /usr/share/doc/sip-autoresponder/README.md \
              (the configuration reference).",
        )],
    ),
];

/// `--help`'s closing text: [`MAN_SECTIONS`] as indented plain text.
fn after_long_help() -> String {
    let mut text = String::new();
    for (title, entries) in MAN_SECTIONS {
        text.push_str(title);
        text.push('\n');
        for (term, body) in *entries {
            let indent = if term.is_empty() {
                "    "
            } else {
                text.push_str(&format!("    {term}\n"));
                "        "
            };
            wrap_into(&mut text, body, indent);
        }
        text.push('\n');
    }
    text.trim_end().to_owned()
}

/// Appends `body` as lines of at most 88 columns, each starting `indent`.
fn wrap_into(text: &mut String, body: &str, indent: &str) {
    let mut line = String::from(indent);
    for word in body.split_whitespace() {
        if line.len() > indent.len() && line.len() + 1 + word.len() > 88 {
            text.push_str(&line);
            text.push('\n');
            line = String::from(indent);
        }
        if line.len() > indent.len() {
            line.push(' ');
        }
        line.push_str(word);
    }
    text.push_str(&line);
    text.push('\n');
}

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
    after_long_help = after_long_help()
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
    /// Validate the config and print its listeners and rules with what each
    /// matches and replies; every error and warning as file:line:column
    /// (--strict: warnings fail too, exit 78).
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
