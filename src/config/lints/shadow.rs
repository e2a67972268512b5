//! A rule that can never match: an earlier rule takes every request it
//! would (rules are tried in order and the first match answers).

use super::LintInput;
use crate::config::error::Diagnostics;
use crate::rules::{HeaderTest, Matcher, Rule};
use crate::sip::HeaderKey;

pub(super) fn shadowed_rules(input: &LintInput<'_>, diag: &mut Diagnostics<'_>) {
    let rules = input.config.rules.rules();
    for (index, later) in rules.iter().enumerate() {
        let Some(earlier) = rules[..index].iter().find(|e| takes_all_of(e, later)) else {
            continue;
        };
        let spans = |name: &str| {
            input
                .sections
                .rules
                .iter()
                .map(|r| &r.get_ref().name)
                .find(|n| n.get_ref() == name)
                .map(toml::Spanned::span)
        };
        let (Some(at), Some(first)) = (spans(&later.name), spans(&earlier.name)) else {
            continue;
        };
        let (line, _) = diag.locate(&first);
        diag.warn(
            at,
            format!(
                "rule `{}` can never match: rule `{}` (line {line}) comes first and takes every request it would",
                later.name, earlier.name
            ),
        );
    }
}

/// Whether `earlier` matches every request `later` matches, and takes each
/// (`every` above 1 lets requests through to later rules).
pub(crate) fn takes_all_of(earlier: &Rule, later: &Rule) -> bool {
    earlier.every == 1 && covers(&earlier.matcher, &later.matcher)
}

/// Whether every condition of `a` holds whenever `b`'s conditions hold. Regex
/// conditions count only when written the same; a list left empty by a
/// config error covers nothing; it errs towards "no".
fn covers(a: &Matcher, b: &Matcher) -> bool {
    let same_regex = |x: Option<&regex::Regex>, y: Option<&regex::Regex>| match (x, y) {
        (None, _) => true,
        (Some(x), Some(y)) => x.as_str() == y.as_str(),
        (Some(_), None) => false,
    };
    let methods = match (&a.methods, &b.methods) {
        (None, _) => true,
        (Some(x), Some(y)) => !y.is_empty() && y.iter().all(|m| x.contains(m)),
        (Some(_), None) => false,
    };
    let transports = match (&a.transports, &b.transports) {
        (None, _) => true,
        (Some(x), Some(y)) => !y.is_empty() && y.iter().all(|t| x.contains(t)),
        (Some(_), None) => false,
    };
    let sources = match (&a.sources, &b.sources) {
        (None, _) => true,
        (Some(x), Some(y)) => {
            !y.is_empty() && y.iter().all(|net| x.iter().any(|n| n.contains(net)))
        }
        (Some(_), None) => false,
    };
    let body = match (&a.body, &b.body) {
        (None, _) => true,
        (Some(x), Some(y)) => x.as_str() == y.as_str(),
        (Some(_), None) => false,
    };
    let scope = match (&a.scope, &b.scope) {
        (None, _) => true,
        (Some(x), Some(y)) => x == y,
        (Some(_), None) => false,
    };
    let headers = a.headers.iter().all(|(_, key, test)| {
        b.headers
            .iter()
            .any(|(_, other_key, other)| same_key(key, other_key) && same_test(test, other))
    });
    scope
        && methods
        && transports
        && sources
        && body
        && headers
        && same_regex(a.request_uri.as_ref(), b.request_uri.as_ref())
        && same_regex(a.from.as_ref(), b.from.as_ref())
        && same_regex(a.to.as_ref(), b.to.as_ref())
}

fn same_key(a: &HeaderKey, b: &HeaderKey) -> bool {
    match (a, b) {
        (HeaderKey::Known(x), HeaderKey::Known(y)) => x == y,
        (HeaderKey::Extension(x), HeaderKey::Extension(y)) => x.eq_ignore_ascii_case(y),
        _ => false,
    }
}

fn same_test(a: &HeaderTest, b: &HeaderTest) -> bool {
    match (a, b) {
        (HeaderTest::Matches(x), HeaderTest::Matches(y)) => x.as_str() == y.as_str(),
        (HeaderTest::Present, HeaderTest::Present | HeaderTest::Matches(_)) => true,
        (HeaderTest::Absent, HeaderTest::Absent) => true,
        _ => false,
    }
}
