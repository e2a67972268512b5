//! Config errors: each one names the file, line and column; loading reports
//! all of them at once.

use std::fmt;
use std::ops::Range;

use thiserror::Error;

/// One problem in a config file, at a position.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{path}:{line}:{column}: {message}")]
pub struct ConfigError {
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Every problem found in one file (never empty when returned as an error).
#[derive(Debug, Clone, Default, PartialEq, Eq, Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// Why a config could not be loaded.
#[derive(Debug, Error)]
pub enum LoadError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(ConfigErrors),
}

impl LoadError {
    pub fn errors(&self) -> &[ConfigError] {
        match self {
            Self::Read { .. } => &[],
            Self::Invalid(errors) => &errors.0,
        }
    }
}

/// Collects errors against one source text, turning byte spans into
/// line and column (both 1-based; columns count characters).
pub(crate) struct Diagnostics<'a> {
    path: &'a str,
    text: &'a str,
    pub(crate) errors: Vec<ConfigError>,
    pub(crate) warnings: Vec<ConfigError>,
}

impl<'a> Diagnostics<'a> {
    pub(crate) fn new(path: &'a str, text: &'a str) -> Self {
        Self {
            path,
            text,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    pub(crate) fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        let error = self.at(span, message.into());
        self.errors.push(error);
    }

    pub(crate) fn warn(&mut self, span: Range<usize>, message: impl Into<String>) {
        let warning = self.at(span, message.into());
        self.warnings.push(warning);
    }

    fn at(&self, span: Range<usize>, message: String) -> ConfigError {
        let offset = span.start.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        ConfigError {
            path: self.path.to_owned(),
            line,
            column,
            message,
        }
    }
}
