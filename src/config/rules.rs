//! Compiling rules: conditions (regexes, CIDRs, methods, transports), then
//! the policy choice (one policy, weighted outcomes or a sequence) and `every`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use regex::Regex;
use toml::Spanned;

use super::auth::AuthDefaults;
use super::delays::PolicyLimits;
use super::error::Diagnostics;
use super::model::{HeaderCondition, MatchSection, OneOrMany, RuleSection, SequenceSection};
use super::policy::PolicyCompiler;
use crate::rules::{Choice, HeaderTest, Matcher, ReplyPolicy, Rule, SequenceKey, SequenceTable};
use crate::sip::{HeaderKey, Transport, is_token};

/// Every `[[rule]]`, in order, each name used once.
pub(super) fn compile_rules(
    sections: &[toml::Spanned<crate::config::model::RuleSection>],
    limits: PolicyLimits,
    auth: &mut AuthDefaults,
    diag: &mut Diagnostics<'_>,
) -> Vec<crate::rules::Rule> {
    let mut seen = HashMap::new();
    let mut rules = Vec::new();
    for section in sections {
        let name = &section.get_ref().name;
        if let Some(first) = seen.get(name.get_ref()) {
            let (line, column) = diag.locate(first);
            diag.error(
                name.span(),
                format!(
                    "duplicate rule name `{}` (first defined at line {line}, column {column})",
                    name.get_ref()
                ),
            );
        } else {
            seen.insert(name.get_ref().clone(), name.span());
        }
        if let Some(rule) = compile_rule(section, limits, auth, diag) {
            rules.push(rule);
        }
    }
    rules
}

pub(super) fn compile_rule(
    section: &Spanned<RuleSection>,
    limits: PolicyLimits,
    auth: &mut AuthDefaults,
    diag: &mut Diagnostics<'_>,
) -> Option<Rule> {
    let rule = section.get_ref();
    let name = rule.name.get_ref();
    if name.is_empty() || name.contains(['\r', '\n']) {
        diag.error(
            rule.name.span(),
            "rule name must be a non-empty single line",
        );
    }
    let requirement = super::rule_auth::rule_requirement(rule, auth, diag);
    let mut matcher = compile_matcher(&rule.conditions, diag);
    matcher.scope = rule
        .scope
        .as_ref()
        .and_then(|scope| compile_scope(scope, diag));
    matcher.auth =
        super::rule_auth::compile_auth_test(&rule.conditions, requirement.as_ref(), auth, diag);
    let mut policies = PolicyCompiler {
        diag,
        captures: matcher
            .capture_names()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        uses_captures: false,
        limits,
    };
    let own = rule.policy();
    let has_own = own.drop
        || own.register.is_some()
        || own.accept.is_some()
        || own.reject.is_some()
        || own.reply.is_some()
        || !own.progress.is_empty()
        || own.message.is_some()
        || own.no_answer.is_some();
    let forms = usize::from(has_own)
        + usize::from(!rule.outcome.is_empty())
        + usize::from(rule.sequence.is_some());
    if forms > 1 {
        policies.diag.error(rule.name.span(), "a rule replies with its own policy, or [[rule.outcome]] entries, or a [rule.sequence]: only one of them");
        return None;
    }
    let choice = if let Some(sequence) = &rule.sequence {
        compile_sequence(&mut policies, sequence)?
    } else if !rule.outcome.is_empty() {
        let mut outcomes = Vec::new();
        for outcome in &rule.outcome {
            let weight = *outcome.get_ref().weight.get_ref();
            if weight == 0 {
                policies
                    .diag
                    .error(outcome.get_ref().weight.span(), "weight must be at least 1");
            }
            let policy = policies.policy(&outcome.get_ref().policy(), outcome.span());
            outcomes.push(policy.map(|policy| (weight, Arc::new(policy))));
        }
        Choice::weighted(outcomes.into_iter().collect::<Option<Vec<_>>>()?)
    } else {
        Choice::One(Arc::new(policies.policy(&own, rule.name.span())?))
    };
    let uses_captures = policies.uses_captures;
    let every = compile_every(rule, diag);
    warn_about_message_bodies(&matcher, &choice, name, rule, diag);
    Some(
        Rule::new(name.as_str().into(), matcher, choice, every, uses_captures)
            .with_auth(requirement),
    )
}

/// `every`: at least 1 (the default).
fn compile_every(rule: &RuleSection, diag: &mut Diagnostics<'_>) -> u64 {
    match &rule.every {
        Some(every) if *every.get_ref() == 0 => {
            diag.error(every.span(), "every must be at least 1");
            1
        }
        Some(every) => *every.get_ref(),
        None => 1,
    }
}

/// A rule's `scope`: what a request's scope can be.
fn compile_scope(scope: &Spanned<String>, diag: &mut Diagnostics<'_>) -> Option<Box<str>> {
    let text = scope.get_ref();
    let max = crate::rules::MAX_SCOPE_LEN;
    if text.is_empty()
        || text.len() > max
        || text.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        diag.error(
            scope.span(),
            format!("scope must be 1 to {max} bytes without spaces or control characters"),
        );
        return None;
    }
    Some(text.as_str().into())
}

/// `[rule.sequence]`: its key, its policies (every one compiled, so all
/// their errors are reported) and its bounded memory.
fn compile_sequence(
    policies: &mut PolicyCompiler<'_, '_>,
    sequence: &Spanned<SequenceSection>,
) -> Option<Choice> {
    let section = sequence.get_ref();
    let Some(key) = SequenceKey::parse(section.key.get_ref()) else {
        policies.diag.error(
            section.key.span(),
            format!(
                "unknown sequence key `{}` (call_id, from_user, request_uri)",
                section.key.get_ref()
            ),
        );
        return None;
    };
    if section.policy.is_empty() {
        policies.diag.error(
            sequence.span(),
            "a sequence needs at least one [[rule.sequence.policy]]",
        );
        return None;
    }
    // Every policy is compiled (and its errors reported) before any
    // failure gives the rule up.
    let list: Vec<Option<Arc<ReplyPolicy>>> = section
        .policy
        .iter()
        .map(|p| policies.policy(p, sequence.span()).map(Arc::new))
        .collect();
    let list = list.into_iter().collect::<Option<Vec<_>>>()?;
    let keys = *section.max_keys.get_ref();
    if !(1..=10_000_000).contains(&keys) {
        policies.diag.error(
            section.max_keys.span(),
            "max_keys must be from 1 to 10000000",
        );
    }
    let seen = SequenceTable::new(keys, Duration::from_millis(section.ttl_ms));
    Some(Choice::sequence(key, seen, list))
}

/// RFC 3428 §7: a 2xx to MESSAGE carries no body; `check` warns.
fn warn_about_message_bodies(
    matcher: &Matcher,
    choice: &Choice,
    name: &str,
    rule: &RuleSection,
    diag: &mut Diagnostics<'_>,
) {
    let answers_message = matcher
        .methods
        .as_ref()
        .is_some_and(|m| m.iter().any(|m| &**m == "MESSAGE"));
    let accept_with_body = choice
        .policies()
        .iter()
        .any(|policy| match policy.as_ref() {
            ReplyPolicy::Respond {
                final_step: Some(step),
                ..
            } => {
                step.verb == crate::sip::Verb::Accept
                    && !matches!(step.body, crate::rules::Body::None)
            }
            _ => false,
        });
    if answers_message && accept_with_body {
        diag.warn(rule.name.span(), format!("rule `{name}`: a 2xx to MESSAGE carries no body (RFC 3428 §7); send it as an auto-reply instead"));
    }
}

fn compile_matcher(section: &MatchSection, diag: &mut Diagnostics<'_>) -> Matcher {
    let methods = section.method.as_ref().map(|methods| {
        methods
            .get_ref()
            .items()
            .iter()
            .filter_map(|m| {
                if is_token(m) {
                    Some(m.as_str().into())
                } else {
                    diag.error(methods.span(), format!("`{m}` is not a SIP method name"));
                    None
                }
            })
            .collect()
    });
    let mut headers = Vec::new();
    for (name, condition) in &section.headers {
        if !is_token(name) {
            diag.error(condition.span(), format!("`{name}` is not a header name"));
            continue;
        }
        let test = match condition.get_ref() {
            HeaderCondition::Present(true) => HeaderTest::Present,
            HeaderCondition::Present(false) => HeaderTest::Absent,
            HeaderCondition::Pattern(pattern) => match Regex::new(pattern) {
                Ok(re) => HeaderTest::Matches(re),
                Err(error) => {
                    diag.error(
                        condition.span(),
                        format!(
                            "bad regex for header {name}: {}",
                            first_line(&error.to_string())
                        ),
                    );
                    continue;
                }
            },
        };
        headers.push((name.as_str().into(), HeaderKey::new(name), test));
    }
    let sources = section.source.as_ref().map(|sources| {
        sources
            .get_ref()
            .items()
            .iter()
            .filter_map(|s| match parse_cidr(s) {
                Some(net) => Some(net),
                None => {
                    diag.error(
                        sources.span(),
                        format!(
                            "`{s}` is not a CIDR (like 10.0.0.0/8 or 2001:db8::/32) or IP address"
                        ),
                    );
                    None
                }
            })
            .collect()
    });
    let transports = section
        .transport
        .as_ref()
        .map(|transports| parse_transports(transports, diag));
    Matcher {
        scope: None,
        methods,
        request_uri: regex(section.request_uri.as_ref(), "request_uri", diag),
        from: regex(section.from.as_ref(), "from", diag),
        to: regex(section.to.as_ref(), "to", diag),
        headers,
        body: section.body.as_ref().and_then(|pattern| {
            regex::bytes::Regex::new(pattern.get_ref())
                .map_err(|error| {
                    diag.error(
                        pattern.span(),
                        format!("bad regex for body: {}", first_line(&error.to_string())),
                    )
                })
                .ok()
        }),
        sources,
        transports,
        auth: None,
    }
}

fn parse_transports(transports: &Spanned<OneOrMany>, diag: &mut Diagnostics<'_>) -> Vec<Transport> {
    transports
        .get_ref()
        .items()
        .iter()
        .filter_map(|t| {
            t.parse::<Transport>()
                .map_err(|()| {
                    diag.error(
                        transports.span(),
                        format!("unknown transport `{t}` (expected udp, tcp, tls, ws or wss)"),
                    )
                })
                .ok()
        })
        .collect()
}

fn regex(
    pattern: Option<&Spanned<String>>,
    label: &str,
    diag: &mut Diagnostics<'_>,
) -> Option<Regex> {
    let pattern = pattern?;
    Regex::new(pattern.get_ref())
        .map_err(|error| {
            diag.error(
                pattern.span(),
                format!("bad regex for {label}: {}", first_line(&error.to_string())),
            )
        })
        .ok()
}

pub(super) fn parse_cidr(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}

/// The useful line of a regex error (the crate's message spans lines).
fn first_line(text: &str) -> &str {
    text.lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| text.lines().next().unwrap_or(text))
}
