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

impl ConfigError {
    /// The line `check` prints and `run` logs for a warning:
    /// `file:line:column: warning: message`.
    pub fn warning_line(&self) -> String {
        format!(
            "{}:{}:{}: warning: {}",
            self.path, self.line, self.column, self.message
        )
    }
}

/// Every problem found in one file: the errors (never empty when returned
/// as an error) and the warnings found with them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Error)]
pub struct ConfigErrors {
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<ConfigError>,
}

impl ConfigErrors {
    /// Every line to print: errors, then warnings.
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        self.errors
            .iter()
            .map(ToString::to_string)
            .chain(self.warnings.iter().map(ConfigError::warning_line))
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, line) in self.lines().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{line}")?;
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
            Self::Invalid(errors) => &errors.errors,
        }
    }

    pub fn warnings(&self) -> &[ConfigError] {
        match self {
            Self::Read { .. } => &[],
            Self::Invalid(errors) => &errors.warnings,
        }
    }
}

/// Collects errors and warnings against one source text, turning byte
/// spans into line and column (both 1-based; columns count characters).
///
/// A check that finds a likely mistake calls [`Diagnostics::warn`] with the
/// span of the value it is about; `check` prints it, `run` logs it, and
/// `check --strict` fails on it. Checks that look at the whole compiled
/// config live in `lints.rs`.
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

    /// An error about the part of a string value that starts `offset` bytes
    /// into its text (a template variable, say): positioned there when the
    /// value is written without escapes before it, else at the value.
    pub(crate) fn error_in_string(
        &mut self,
        span: Range<usize>,
        value: &str,
        offset: usize,
        message: impl Into<String>,
    ) {
        let start = self.string_offset(&span, value, offset);
        self.error(start..start, message);
    }

    fn string_offset(&self, span: &Range<usize>, value: &str, offset: usize) -> usize {
        let Some(raw) = self.text.get(span.clone()) else {
            return span.start;
        };
        let quote = ["\"\"\"", "'''", "\"", "'"]
            .into_iter()
            .find(|q| raw.starts_with(q))
            .map_or(0, str::len);
        match (raw.get(quote..), value.get(..offset)) {
            (Some(body), Some(before)) if body.starts_with(before) => span.start + quote + offset,
            _ => span.start,
        }
    }

    /// Line and column of a span's start.
    pub(crate) fn locate(&self, span: &Range<usize>) -> (usize, usize) {
        let offset = span.start.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }

    fn at(&self, span: Range<usize>, message: String) -> ConfigError {
        let (line, column) = self.locate(&span);
        ConfigError {
            path: self.path.to_owned(),
            line,
            column,
            message,
        }
    }

    /// Errors and warnings in file order (sections are read before they are
    /// compiled, so they are found out of order).
    pub(crate) fn sort(&mut self) {
        for list in [&mut self.errors, &mut self.warnings] {
            list.sort_by_key(|e| (e.line, e.column));
            list.dedup();
        }
    }
}
