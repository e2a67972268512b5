//! Deserialising one section so that every mistake in it is reported, not
//! only the first serde meets: after each error the entry it is about is
//! taken out and the section is read again. Each error names the key, what
//! was expected and what was found, with the nearest known key or value.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeValue, ValueDeserializer};

use super::error::Diagnostics;
use super::suggest::did_you_mean;

/// Most errors reported for one section (each costs one more read of it).
const MAX_ERRORS_PER_SECTION: usize = 50;

/// One step of the way from a section to an entry in it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// Deserialises `value` as `T`, reporting every error against `label` (how
/// the section is named in messages: `[server]`, `[[rule]]`…). Returns the
/// value when nothing was wrong, or when only unknown keys were (they are
/// left out, so later checks still run on the rest).
pub(super) fn deserialize_all<'de, T: Deserialize<'de>>(
    value: Spanned<DeValue<'de>>,
    label: &str,
    diag: &mut Diagnostics<'_>,
) -> Option<Spanned<T>> {
    let span = value.span();
    let mut value = value;
    let mut removed: Vec<Vec<Segment>> = Vec::new();
    let mut only_unknown_keys = true;
    for _ in 0..MAX_ERRORS_PER_SECTION {
        let error = match T::deserialize(ValueDeserializer::from(value.clone())) {
            Ok(parsed) if removed.is_empty() || only_unknown_keys => {
                return Some(Spanned::new(span, parsed));
            }
            Ok(_) => return None,
            Err(error) => error,
        };
        let at = error.span().unwrap_or_else(|| span.clone());
        let found = locate(&value, &at);
        let message = error.message();
        if let Some(missing) = missing_field(message) {
            // The error is about the table that lacks the key.
            let mut path = found.map_or(Vec::new(), |(path, _)| path);
            let table = inner(&path);
            path.push(Segment::Key(missing.to_owned()));
            // A required key we took out ourselves is no new mistake.
            if !removed.contains(&path) {
                diag.error(
                    at,
                    format!("{label}{table}: missing required key `{missing}`"),
                );
            }
            return None;
        }
        let Some((path, entry)) = found else {
            diag.error(at, format!("{label}: {message}"));
            return None;
        };
        let unknown_key = message.starts_with("unknown field `");
        diag.error(at, explain(message, label, &path, entry.get_ref()));
        only_unknown_keys &= unknown_key;
        if !remove(value.get_mut(), &path) {
            return None;
        }
        removed.push(path);
    }
    None
}

/// An entry of a table or array: how it is reached, its key's span (for a
/// table), its value.
type Child<'v, 'de> = (Segment, Option<Range<usize>>, &'v Spanned<DeValue<'de>>);

/// The entry the error at `at` is about: the innermost key whose name or
/// value covers it, with its path.
fn locate<'v, 'de>(
    value: &'v Spanned<DeValue<'de>>,
    at: &Range<usize>,
) -> Option<(Vec<Segment>, &'v Spanned<DeValue<'de>>)> {
    let covers =
        |span: Range<usize>| span.start < span.end && span.start <= at.start && at.end <= span.end;
    let children: Vec<Child<'v, 'de>> = match value.get_ref() {
        DeValue::Table(table) => table
            .iter()
            .map(|(k, v)| (Segment::Key(k.get_ref().to_string()), Some(k.span()), v))
            .collect(),
        DeValue::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (Segment::Index(i), None, v))
            .collect(),
        _ => return None,
    };
    for (segment, key_span, child) in children {
        if let Some((mut path, entry)) = locate(child, at) {
            path.insert(0, segment);
            return Some((path, entry));
        }
        if key_span.is_some_and(covers) || covers(child.span()) {
            return Some((vec![segment], child));
        }
    }
    None
}

/// Takes the entry at `path` out of `value`; false when there is none.
fn remove(value: &mut DeValue<'_>, path: &[Segment]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut current = value;
    for segment in parents {
        let next = match (current, segment) {
            (DeValue::Table(table), Segment::Key(key)) => table
                .iter_mut()
                .find(|(k, _)| k.get_ref().as_ref() == key.as_str())
                .map(|(_, v)| v.get_mut()),
            (DeValue::Array(items), Segment::Index(i)) => items.get_mut(*i).map(Spanned::get_mut),
            _ => None,
        };
        let Some(next) = next else {
            return false;
        };
        current = next;
    }
    match (current, last) {
        (DeValue::Table(table), Segment::Key(key)) => {
            let all = std::mem::replace(table, toml::de::DeTable::new());
            let before = all.len();
            for (k, v) in all {
                if k.get_ref().as_ref() != key.as_str() {
                    table.insert(k, v);
                }
            }
            table.len() < before
        }
        (DeValue::Array(items), Segment::Index(i)) if *i < items.len() => {
            let all = std::mem::replace(items, toml::de::DeArray::new());
            *items = all
                .into_iter()
                .enumerate()
                .filter(|(j, _)| j != i)
                .map(|(_, item)| item)
                .collect();
            true
        }
        _ => false,
    }
}

/// A serde message rewritten to name the key, what was expected and what
/// was found, with a suggestion where one fits.
fn explain(message: &str, label: &str, path: &[Segment], found: &DeValue<'_>) -> String {
    let key = inner(path);
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (name, known) = split_known(rest);
        let table = inner(&path[..path.len().saturating_sub(1)]);
        let hint = did_you_mean(name, known.iter().copied());
        let listed = if hint.is_empty() && !known.is_empty() {
            format!(" (known keys: {})", known.join(", "))
        } else {
            hint
        };
        return format!("unknown key `{name}` in {label}{table}{listed}");
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (name, known) = split_known(rest);
        let hint = did_you_mean(name, known.iter().copied());
        return format!(
            "{}: unknown value \"{name}\"{hint} (expected one of: {})",
            key.trim_start_matches('.'),
            known.join(", ")
        );
    }
    let expected = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
        .and_then(|m| m.split_once(", expected "))
        .map_or(message, |(_, expected)| expected);
    format!(
        "{}: expected {}, found {}",
        key.trim_start_matches('.'),
        friendly(expected),
        describe(found)
    )
}

/// `.accept.delay_ms`, `.extra_headers[1]`: a path inside a section.
fn inner(path: &[Segment]) -> String {
    path.iter()
        .map(|segment| match segment {
            Segment::Key(key) => format!(".{key}"),
            Segment::Index(i) => format!("[{i}]"),
        })
        .collect()
}

/// `name`, then the backticked names serde lists as expected.
fn split_known(rest: &str) -> (&str, Vec<&str>) {
    let (name, tail) = rest.split_once('`').unwrap_or((rest, ""));
    let known = tail.split('`').skip(1).step_by(2).collect();
    (name, known)
}

fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// Serde's names of types, as a config file's reader knows them.
fn friendly(expected: &str) -> String {
    match expected {
        "u8" => "an integer from 0 to 255".to_owned(),
        "u16" => "an integer from 0 to 65535".to_owned(),
        "u32" => "an integer from 0 to 4294967295".to_owned(),
        "u64" | "usize" => "a whole number (0 or more)".to_owned(),
        "i64" | "i32" => "an integer".to_owned(),
        "a boolean" => "true or false".to_owned(),
        "a sequence" => "an array".to_owned(),
        "a map" => "a table".to_owned(),
        other if other.starts_with("struct ") => "a table".to_owned(),
        other if other.starts_with("enum ") => "a string".to_owned(),
        other => other.to_owned(),
    }
}

/// What a value is, for "found …".
fn describe(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(text) => format!("the string {:?}", text.as_ref()),
        DeValue::Integer(integer) => format!("the integer {}", integer.as_str()),
        DeValue::Float(float) => format!("the number {}", float.as_str()),
        DeValue::Boolean(flag) => format!("the boolean {flag}"),
        DeValue::Datetime(datetime) => format!("the date-time {datetime}"),
        DeValue::Array(_) => "an array".to_owned(),
        DeValue::Table(_) => "a table".to_owned(),
    }
}
