//! sip-autoresponder: parse the command line, load the config, run.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use sip_autoresponder::cli::{Cli, Command};
use sip_autoresponder::config::{Config, LoadError, SYSTEM_CONFIG_PATH};
use sip_autoresponder::daemon::{self, logging};
use sip_autoresponder::explain::explain;

/// jemalloc gives freed memory back to the system after a short decay
/// (glibc keeps fragmented heap pages), so RSS settles after a flood.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// sysexits.h EX_CONFIG: the config is invalid.
const EX_CONFIG: u8 = 78;
/// sysexits.h EX_UNAVAILABLE: a listener cannot be bound.
const EX_UNAVAILABLE: u8 = 69;
/// sysexits.h EX_CANTCREAT: the journal file cannot be opened.
const EX_CANTCREAT: u8 = 73;
/// sysexits.h EX_NOINPUT: the message file cannot be read.
const EX_NOINPUT: u8 = 66;
/// sysexits.h EX_DATAERR: the message is not a request.
const EX_DATAERR: u8 = 65;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let path = config_path(cli.config.as_deref());
    match cli.command.unwrap_or(Command::Run) {
        Command::Check { strict } => check(path.as_deref(), strict),
        Command::Run => run(path, cli.log_format),
        Command::Explain {
            message,
            source,
            transport,
        } => explain_message(path.as_deref(), message.as_deref(), source, transport),
    }
}

/// The config file to use: `--config`, else the system file when it
/// exists, else none (the embedded default).
fn config_path(path: Option<&Path>) -> Option<PathBuf> {
    match path {
        Some(path) => Some(path.to_owned()),
        None if Path::new(SYSTEM_CONFIG_PATH).exists() => Some(PathBuf::from(SYSTEM_CONFIG_PATH)),
        None => None,
    }
}

fn load(path: Option<&Path>) -> Result<Config, LoadError> {
    match path {
        Some(path) => Config::load_file(path),
        None => Config::embedded_default(),
    }
}

fn check(path: Option<&Path>, strict: bool) -> ExitCode {
    let config = match load(path) {
        Ok(config) => config,
        Err(error) => return config_failure(&error),
    };
    if strict && !config.warnings.is_empty() {
        for warning in &config.warnings {
            eprintln!("{}", warning.warning_line());
        }
        eprintln!(
            "{}: {} warning(s), refused under --strict",
            config.source,
            config.warnings.len()
        );
        return ExitCode::from(EX_CONFIG);
    }
    let mut report = format!("{}: OK\n", config.source);
    for warning in &config.warnings {
        report.push_str(&warning.warning_line());
        report.push('\n');
    }
    report.push_str("listeners:\n");
    for listener in &config.listeners {
        report.push_str(&format!("   {} {}\n", listener.transport, listener.address));
    }
    report.push_str("rules (first match wins):\n");
    report.push_str(&config.rules.to_string());
    print_out(&report);
    ExitCode::SUCCESS
}

fn explain_message(
    path: Option<&Path>,
    message: Option<&Path>,
    source: std::net::SocketAddr,
    transport: sip_autoresponder::sip::Transport,
) -> ExitCode {
    let config = match load(path) {
        Ok(config) => config,
        Err(error) => return config_failure(&error),
    };
    let bytes = match message.filter(|m| *m != Path::new("-")) {
        Some(file) => {
            std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))
        }
        None => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map(|_| buf)
                .map_err(|e| format!("cannot read stdin: {e}"))
        }
    };
    let bytes = match bytes {
        Ok(bytes) => bytes,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(EX_NOINPUT);
        }
    };
    match explain(&config, &bytes, source, transport) {
        Ok(text) => {
            print_out(&text);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::from(EX_DATAERR)
        }
    }
}

/// A closed pipe (`check | head`) is not an error worth a panic.
fn print_out(text: &str) {
    let _ = std::io::stdout().write_all(text.as_bytes());
}

fn config_failure(error: &LoadError) -> ExitCode {
    eprintln!("{error}");
    ExitCode::from(EX_CONFIG)
}

fn run(path: Option<PathBuf>, log_format: logging::LogFormat) -> ExitCode {
    // Purge freed pages in the background (after jemalloc's 10 s decay), so
    // an idle daemon gives memory back after a burst.
    let _ = tikv_jemalloc_ctl::background_thread::write(true);
    let config = match load(path.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            // Before logging is set up: plain stderr, one error per line.
            return config_failure(&error);
        }
    };
    logging::init_with(&logging::LogOptions {
        level: config.server.log_level.clone(),
        format: log_format,
    });
    tracing::info!(config = %config.source, rules = config.rules.rules().len(), "configuration loaded");
    for warning in &config.warnings {
        tracing::warn!("{}", warning.warning_line());
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            fatal(&format!("cannot start the async runtime: {error}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(daemon::run(config, path)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            fatal(&format!("{error:#}"));
            ExitCode::from(exit_status(&error))
        }
    }
}

/// The exit status of a failed run (documented in the man page).
fn exit_status(error: &anyhow::Error) -> u8 {
    match error.downcast_ref::<daemon::BindError>() {
        Some(daemon::BindError::Transport(_)) => EX_UNAVAILABLE,
        Some(daemon::BindError::Journal(_)) => EX_CANTCREAT,
        _ => 1,
    }
}

/// Logs why the daemon stops, even when the log filter hides errors
/// (`[log] level` or `RUST_LOG` set to `off`): then on plain stderr.
fn fatal(message: &str) {
    if tracing::enabled!(tracing::Level::ERROR) {
        tracing::error!("{message}");
    } else {
        eprintln!("sip-autoresponder: {message}");
    }
}
