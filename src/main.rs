//! sip-autoresponder: parse the command line, load the config, run.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use sip_autoresponder::cli::{Cli, Command};
use sip_autoresponder::config::{Config, LoadError, SYSTEM_CONFIG_PATH};
use sip_autoresponder::daemon;

/// sysexits.h EX_CONFIG: the config is invalid.
const EX_CONFIG: u8 = 78;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run) {
        Command::Check => check(cli.config.as_deref()),
        Command::Run => run(cli.config.as_deref()),
    }
}

fn load(path: Option<&Path>) -> Result<Config, LoadError> {
    match path {
        Some(path) => Config::load_file(path),
        None if Path::new(SYSTEM_CONFIG_PATH).exists() => {
            Config::load_file(Path::new(SYSTEM_CONFIG_PATH))
        }
        None => Config::embedded_default(),
    }
}

fn check(path: Option<&Path>) -> ExitCode {
    match load(path) {
        Ok(config) => {
            let mut report = format!("{}: OK\n", config.source);
            for warning in &config.warnings {
                report.push_str(&format!("warning: {warning}\n"));
            }
            report.push_str("listeners:\n");
            for listener in &config.listeners {
                report.push_str(&format!("   {} {}\n", listener.transport, listener.address));
            }
            report.push_str("rules (first match wins):\n");
            report.push_str(&config.rules.to_string());
            // A closed pipe (`check | head`) is not an error worth a panic.
            let _ = std::io::stdout().write_all(report.as_bytes());
            ExitCode::SUCCESS
        }
        Err(error) => config_failure(&error),
    }
}

fn config_failure(error: &LoadError) -> ExitCode {
    eprintln!("{error}");
    match error {
        LoadError::Invalid(_) => ExitCode::from(EX_CONFIG),
        LoadError::Read { .. } => ExitCode::from(EX_CONFIG),
    }
}

fn run(path: Option<&Path>) -> ExitCode {
    daemon::logging::init("info");
    let config = match load(path) {
        Ok(config) => config,
        Err(error) => return config_failure(&error),
    };
    tracing::info!(config = %config.source, rules = config.rules.rules().len(), "configuration loaded");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(daemon::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}
