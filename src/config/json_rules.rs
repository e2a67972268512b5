//! Rules given as JSON (a rule object, or an array of them, with the same
//! keys as a `[[rule]]` table): written out as TOML, compiled like the
//! file's rules, and every error or warning moved back to its line and
//! column in the JSON, with the JSON Pointer of the value it is about.

use std::ops::Range;

use serde_json::{Map, Value};

use super::json_locate::{Spot, escape, locate};
use super::runtime::{RuleLimits, RuntimeRules, parse_rules};
use super::{ConfigError, ConfigErrors};

/// Compiles the rules of the JSON `text` (reported as `name`).
pub fn parse_rules_json(
    text: &str,
    name: &str,
    limits: RuleLimits,
) -> Result<RuntimeRules, ConfigErrors> {
    let fail = |line, column, message: String| ConfigErrors {
        errors: vec![ConfigError {
            path: name.to_owned(),
            line,
            column,
            message,
        }],
        warnings: Vec::new(),
    };
    let value: Value = serde_json::from_str(text).map_err(|e| {
        let message = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = message.strip_suffix(&suffix).unwrap_or(&message);
        fail(e.line(), e.column(), format!("JSON: {message}"))
    })?;
    let spots = locate(text);
    let position = |pointer: &str, key: bool| {
        let spot = spots.get(pointer);
        let offset = spot
            .and_then(|s| if key { s.key.clone() } else { None })
            .or_else(|| spot.map(|s| s.value.clone()))
            .map_or(0, |r| r.start);
        line_column(text, offset)
    };
    let mut toml = Toml::default();
    match &value {
        Value::Object(rule) => toml.rule(rule, ""),
        Value::Array(rules) => {
            for (index, rule) in rules.iter().enumerate() {
                let pointer = format!("/{index}");
                match rule {
                    Value::Object(rule) => toml.rule(rule, &pointer),
                    _ => toml.refuse(&pointer, "a rule must be a JSON object"),
                }
            }
        }
        _ => toml.refuse("", "expected a rule (a JSON object) or an array of rules"),
    }
    if let Some((pointer, message)) = toml.refused.first() {
        let (line, column) = position(pointer, false);
        return Err(fail(line, column, format!("{message} (at {pointer})")));
    }
    let relocate = |errors: Vec<ConfigError>| {
        let mut moved: Vec<ConfigError> = errors
            .into_iter()
            .map(|error| toml.relocate(error, text, &spots))
            .collect();
        moved.sort_by_key(|e| (e.line, e.column));
        moved
    };
    match parse_rules(&toml.text, name, limits) {
        Ok(parsed) => Ok(RuntimeRules {
            warnings: relocate(parsed.warnings),
            ..parsed
        }),
        Err(errors) => Err(ConfigErrors {
            errors: relocate(errors.errors),
            warnings: relocate(errors.warnings),
        }),
    }
}

/// The TOML written for the JSON, with the pointer of what each span of it
/// came from.
#[derive(Debug, Default)]
struct Toml {
    text: String,
    /// (span in `text`, pointer, whether the span is a key).
    spans: Vec<(Range<usize>, String, bool)>,
    /// Values TOML cannot say (null), or a body that is no rule.
    refused: Vec<(String, &'static str)>,
}

impl Toml {
    fn refuse(&mut self, pointer: &str, message: &'static str) {
        self.refused.push((pointer.to_owned(), message));
    }

    /// One `[[rule]]` table, one top-level key per line.
    fn rule(&mut self, rule: &Map<String, Value>, pointer: &str) {
        let start = self.text.len();
        self.text.push_str("[[rule]]");
        self.spans
            .push((start..self.text.len(), pointer.to_owned(), false));
        self.text.push('\n');
        for (key, value) in rule {
            let member = format!("{pointer}/{}", escape(key));
            self.key(key, &member);
            self.text.push_str(" = ");
            self.value(value, &member);
            self.text.push('\n');
        }
    }

    fn key(&mut self, key: &str, pointer: &str) {
        let start = self.text.len();
        let bare = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if bare {
            self.text.push_str(key);
        } else {
            quote(&mut self.text, key);
        }
        self.spans
            .push((start..self.text.len(), pointer.to_owned(), true));
    }

    /// A value, inline.
    fn value(&mut self, value: &Value, pointer: &str) {
        let start = self.text.len();
        match value {
            Value::Null => {
                self.refuse(pointer, "null has no TOML equivalent: leave the key out");
                self.text.push_str("\"\"");
            }
            Value::Bool(b) => self.text.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => self.text.push_str(&i.to_string()),
                (None, Some(u), _) => self.text.push_str(&u.to_string()),
                (None, None, Some(f)) => self.text.push_str(&format!("{f:?}")),
                (None, None, None) => self.text.push('0'),
            },
            Value::String(text) => quote(&mut self.text, text),
            Value::Array(items) => {
                self.text.push('[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        self.text.push_str(", ");
                    }
                    self.value(item, &format!("{pointer}/{index}"));
                }
                self.text.push(']');
            }
            Value::Object(members) => {
                self.text.push('{');
                for (index, (key, item)) in members.iter().enumerate() {
                    self.text.push_str(if index > 0 { ", " } else { " " });
                    let member = format!("{pointer}/{}", escape(key));
                    self.key(key, &member);
                    self.text.push_str(" = ");
                    self.value(item, &member);
                }
                self.text
                    .push_str(if members.is_empty() { "}" } else { " }" });
            }
        }
        self.spans
            .push((start..self.text.len(), pointer.to_owned(), false));
    }

    /// `error`, positioned in the TOML, moved to the JSON `json`.
    fn relocate(
        &self,
        error: ConfigError,
        json: &str,
        spots: &std::collections::HashMap<String, Spot>,
    ) -> ConfigError {
        let offset = offset_of(&self.text, error.line, error.column);
        // The innermost span at the error: the value (or key) it is about.
        let found = self
            .spans
            .iter()
            .filter(|(span, _, _)| span.start <= offset && (offset < span.end || span.is_empty()))
            .min_by_key(|(span, _, _)| span.len());
        let Some((span, pointer, is_key)) = found else {
            return ConfigError {
                path: error.path,
                line: 1,
                column: 1,
                message: error.message,
            };
        };
        let spot = spots.get(pointer);
        let target = spot.and_then(|s| {
            if *is_key {
                s.key.clone()
            } else {
                Some(s.value.clone())
            }
        });
        let mut at = target.as_ref().map_or(0, |t| t.start);
        // Inside a string written the same way in both: the same place in it.
        if let Some(target) = &target
            && json.get(target.clone()) == self.text.get(span.clone())
        {
            at += offset - span.start;
        }
        let (line, column) = line_column(json, at);
        let message = if pointer.is_empty() {
            error.message
        } else {
            format!("{} (at {pointer})", error.message)
        };
        ConfigError {
            path: error.path,
            line,
            column,
            message,
        }
    }
}

/// A TOML basic string (escapes as TOML 1.0 §String wants).
fn quote(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The byte offset of 1-based `line` and `column` (in characters).
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let line_start = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum::<usize>();
    let rest = text.get(line_start..).unwrap_or("");
    line_start
        + rest
            .char_indices()
            .nth(column.saturating_sub(1))
            .map_or(rest.len(), |(i, _)| i)
}

/// The 1-based line and column (in characters) of byte `offset`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
#[path = "json_rules_tests.rs"]
mod tests;
