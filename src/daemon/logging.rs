//! Log setup: journald with structured fields when stderr is the journal,
//! else human-readable (or JSON) lines on stderr; `RUST_LOG` overrides the
//! level. Never fails start-up.

use std::fmt;
use std::io::IsTerminal as _;
use std::os::fd::AsFd as _;
use std::os::unix::fs::MetadataExt as _;
use std::str::FromStr;
use std::sync::OnceLock;

use tracing::warn;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// The level used when neither `RUST_LOG` nor the config sets one.
pub const DEFAULT_LEVEL: &str = "info";

/// The journal's SYSLOG_IDENTIFIER, whatever the binary is called.
const SYSLOG_IDENTIFIER: &str = "sip-autoresponder";

/// How lines written to stderr look (the journal has its own format).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Text => "text",
            Self::Json => "json",
        })
    }
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("unknown log format `{other}` (text, json)")),
        }
    }
}

/// What the logs are set up from.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// `[log] level` of the config (an EnvFilter directive such as `info` or
    /// `warn,sip_autoresponder::engine=debug`); `RUST_LOG` overrides it.
    pub level: Option<String>,
    /// `--log-format`; ignored when logging to the journal.
    pub format: LogFormat,
}

/// Where the logs went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogDestination {
    Journald,
    Stderr(LogFormat),
    /// A subscriber was already installed (a second init); nothing changed.
    AlreadyInitialized,
}

/// The level filter, swappable on reload.
static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// Installs the global subscriber with text output and `default_level`
/// unless `RUST_LOG` says otherwise. A second call is a no-op.
pub fn init(default_level: &str) {
    init_with(&LogOptions {
        level: Some(default_level.to_owned()),
        format: LogFormat::Text,
    });
}

/// Installs the global subscriber: journald when stderr is the journal
/// (falling back to stderr text with a warning when the journal socket
/// cannot be used), else stderr in `options.format`. A second call is a
/// no-op.
pub fn init_with(options: &LogOptions) -> LogDestination {
    let rust_log = std::env::var("RUST_LOG").ok();
    let (directives, level_warnings) = resolve_level(rust_log.as_deref(), options.level.as_deref());
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new(DEFAULT_LEVEL));
    let (filter, handle) = reload::Layer::new(filter);

    let mut journal_error = None;
    let journald = if stderr_is_journal() {
        match tracing_journald::layer() {
            // No prefix: fields reach the journal under their own
            // (upper-cased) names, so `journalctl RULE=busy-line` works.
            Ok(layer) => Some(
                layer
                    .with_field_prefix(None)
                    .with_syslog_identifier(SYSLOG_IDENTIFIER.to_owned()),
            ),
            Err(error) => {
                journal_error = Some(error);
                None
            }
        }
    } else {
        None
    };
    let destination = match (&journald, options.format) {
        (Some(_), _) => LogDestination::Journald,
        (None, format) => LogDestination::Stderr(format),
    };
    let ansi = std::io::stderr().is_terminal();
    let text = (destination == LogDestination::Stderr(LogFormat::Text)).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
    });
    let json = (destination == LogDestination::Stderr(LogFormat::Json)).then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
    });
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(journald)
        .with(text)
        .with(json)
        .try_init();
    if installed.is_err() {
        return LogDestination::AlreadyInitialized;
    }
    let _ = FILTER.set(handle);
    if let Some(error) = journal_error {
        warn!(%error, "journal socket unusable although JOURNAL_STREAM is set; logging to stderr");
    }
    for message in level_warnings {
        warn!("{message}");
    }
    destination
}

/// Applies the `[log] level` of a reloaded config; `RUST_LOG` still wins.
/// Does nothing before [`init_with`] installed the subscriber.
pub fn set_level(level: Option<&str>) {
    let Some(handle) = FILTER.get() else {
        return;
    };
    let rust_log = std::env::var("RUST_LOG").ok();
    let (directives, warnings) = resolve_level(rust_log.as_deref(), level);
    for message in warnings {
        warn!("{message}");
    }
    match EnvFilter::try_new(&directives) {
        Ok(filter) => {
            if let Err(error) = handle.reload(filter) {
                warn!(%error, "could not change the log level");
            }
        }
        Err(error) => warn!(%error, directives, "log level not changed"),
    }
}

/// The filter directives to use: a valid `RUST_LOG`, else a valid config
/// level, else [`DEFAULT_LEVEL`], with a warning for each one skipped.
pub fn resolve_level(rust_log: Option<&str>, config: Option<&str>) -> (String, Vec<String>) {
    let mut warnings = Vec::new();
    let candidates = [("RUST_LOG", rust_log), ("[log] level", config)];
    for (origin, value) in candidates {
        let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            continue;
        };
        match EnvFilter::try_new(value) {
            Ok(_) => return (value.to_owned(), warnings),
            Err(error) => warnings.push(format!("ignoring {origin}={value:?}: {error}")),
        }
    }
    (DEFAULT_LEVEL.to_owned(), warnings)
}

/// Whether stderr is the journal's stream: systemd.exec(5) sets
/// JOURNAL_STREAM to the `device:inode` of that stream, and the variable is
/// inherited by children whose stderr may be something else, so compare.
pub fn stderr_is_journal() -> bool {
    let Ok(value) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Some(stderr) = stderr_identity() else {
        return false;
    };
    journal_stream_matches(&value, stderr)
}

/// `(st_dev, st_ino)` of fd 2, via a duplicate of it (no unsafe fstat).
fn stderr_identity() -> Option<(u64, u64)> {
    let fd = std::io::stderr().as_fd().try_clone_to_owned().ok()?;
    let metadata = std::fs::File::from(fd).metadata().ok()?;
    Some((metadata.dev(), metadata.ino()))
}

/// Whether a JOURNAL_STREAM value (`"dev:inode"`, decimal) names the file
/// with `(dev, inode)`.
pub fn journal_stream_matches(value: &str, (dev, inode): (u64, u64)) -> bool {
    let Some((d, i)) = value.trim().split_once(':') else {
        return false;
    };
    d.parse::<u64>().ok() == Some(dev) && i.parse::<u64>().ok() == Some(inode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_stream_comparison() {
        assert!(journal_stream_matches("8:123456", (8, 123_456)));
        assert!(journal_stream_matches("8:123456\n", (8, 123_456)));
        assert!(!journal_stream_matches("8:123457", (8, 123_456)));
        assert!(!journal_stream_matches("9:123456", (8, 123_456)));
        assert!(!journal_stream_matches("8", (8, 123_456)));
        assert!(!journal_stream_matches("", (0, 0)));
        assert!(!journal_stream_matches("x:y", (0, 0)));
    }

    #[test]
    fn stderr_has_an_identity() {
        let (dev, inode) = stderr_identity().expect("fstat of fd 2");
        assert!(journal_stream_matches(
            &format!("{dev}:{inode}"),
            (dev, inode)
        ));
    }

    #[test]
    fn rust_log_overrides_the_config_level() {
        assert_eq!(resolve_level(Some("debug"), Some("warn")).0, "debug");
        assert_eq!(resolve_level(None, Some("warn")).0, "warn");
        assert_eq!(resolve_level(Some(""), Some("warn")).0, "warn");
        assert_eq!(
            resolve_level(None, None),
            (DEFAULT_LEVEL.to_owned(), vec![])
        );
        assert_eq!(
            resolve_level(None, Some("warn,sip_autoresponder::engine=debug")).0,
            "warn,sip_autoresponder::engine=debug"
        );
    }

    #[test]
    fn invalid_levels_fall_back_with_a_warning() {
        let (level, warnings) = resolve_level(Some("loud=[{"), Some("error"));
        assert_eq!(level, "error");
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("RUST_LOG"), "{warnings:?}");
        let (level, warnings) = resolve_level(None, Some("verbose=["));
        assert_eq!(level, DEFAULT_LEVEL);
        assert!(warnings[0].contains("[log] level"), "{warnings:?}");
    }

    #[test]
    fn log_format_parses_and_displays() {
        assert_eq!("json".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!("text".parse::<LogFormat>(), Ok(LogFormat::Text));
        assert!("xml".parse::<LogFormat>().is_err());
        assert_eq!(LogFormat::Json.to_string(), "json");
    }

    #[test]
    fn second_init_is_a_no_op() {
        init("off");
        assert_eq!(
            init_with(&LogOptions::default()),
            LogDestination::AlreadyInitialized
        );
    }
}
