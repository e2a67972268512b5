//! Sections → [`Config`]: every check that needs more than a type (regexes,
//! CIDRs, verb ranges, header lines, names) runs here, once, at load.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ipnet::IpNet;
use regex::Regex;
use toml::Spanned;

use super::error::Diagnostics;
use super::model::{
    HeaderCondition, MatchSection, MessageSection, OneOrMany, PolicySection, RuleSection,
    StepSection, TimersSection,
};
use super::{Config, ListenerSpec, Sections, ServerSettings};
use crate::rules::{AutoMessage, HeaderTest, Matcher, ReplyPolicy, Rule, RuleSet, Step};
use crate::sip::{HeaderKey, HeaderName, Limits, Timers, Transport, Verb, is_token, reason_phrase};

pub(crate) fn compile(
    sections: Sections,
    name: &str,
    diag: &mut Diagnostics<'_>,
) -> Option<Config> {
    let server = compile_server(&sections, diag);
    let listeners = compile_listeners(&sections, diag);
    if sections.listen.is_empty() {
        diag.error(
            0..0,
            "no listeners: add at least one [[listen]] section (transport and address)",
        );
    }
    let mut seen = HashSet::new();
    let mut rules = Vec::new();
    for section in &sections.rules {
        let rule_name = section.get_ref().name.get_ref();
        if !seen.insert(rule_name.clone()) {
            diag.error(
                section.get_ref().name.span(),
                format!("duplicate rule name `{rule_name}`"),
            );
        }
        if let Some(rule) = compile_rule(section, diag) {
            rules.push(rule);
        }
    }
    let fallback = match &sections.fallback {
        Some(section) => compile_policy(section.get_ref(), section.span(), diag)?,
        None => ReplyPolicy::default_fallback(),
    };
    Some(Config {
        source: name.to_owned(),
        server,
        listeners,
        rules: RuleSet::new(rules, fallback),
        warnings: Vec::new(),
    })
}

fn compile_server(sections: &Sections, diag: &mut Diagnostics<'_>) -> ServerSettings {
    let server = &sections.server;
    let size = server.max_message_size.get_ref();
    if !(1024..=16 * 1024 * 1024).contains(size) {
        diag.error(
            server.max_message_size.span(),
            "max_message_size must be from 1024 to 16777216 bytes",
        );
    }
    if *server.max_headers.get_ref() == 0 {
        diag.error(server.max_headers.span(), "max_headers must be at least 1");
    }
    if let Some(address) = &server.public_address
        && (address.get_ref().is_empty()
            || address
                .get_ref()
                .contains(|c: char| c.is_whitespace() || c == '<' || c == '>'))
    {
        diag.error(
            address.span(),
            "public_address must be a host name or IP address",
        );
    }
    let udp_workers = match &server.udp_workers {
        Some(workers) if *workers.get_ref() == 0 || *workers.get_ref() > 256 => {
            diag.error(workers.span(), "udp_workers must be from 1 to 256");
            1
        }
        Some(workers) => *workers.get_ref(),
        None => std::thread::available_parallelism().map_or(2, |n| n.get()),
    };
    if !is_header_safe(&server.user_agent) {
        diag.error(0..0, "user_agent must not contain CR, LF or NUL");
    }
    let max_transactions = *server.max_transactions.get_ref();
    if max_transactions == 0 {
        diag.error(
            server.max_transactions.span(),
            "max_transactions must be at least 1",
        );
    }
    let allowed_methods = server.allowed_methods.as_ref().map(|methods| {
        for method in methods.get_ref() {
            if !is_token(method) {
                diag.error(
                    methods.span(),
                    format!("`{method}` is not a SIP method name"),
                );
            }
        }
        methods.get_ref().clone()
    });
    ServerSettings {
        max_transactions,
        allowed_methods,
        timers: compile_timers(&sections.timers, diag),
        user_agent: server.user_agent.clone(),
        public_address: server.public_address.as_ref().map(|a| a.get_ref().clone()),
        force_rport: server.force_rport,
        limits: Limits {
            max_message_size: *size,
            max_headers: *server.max_headers.get_ref(),
        },
        udp_workers,
    }
}

fn compile_timers(section: &TimersSection, diag: &mut Diagnostics<'_>) -> Timers {
    let (t1, t2, t4) = (
        *section.t1_ms.get_ref(),
        *section.t2_ms.get_ref(),
        *section.t4_ms.get_ref(),
    );
    if t1 == 0 || t1 > 60_000 {
        diag.error(section.t1_ms.span(), "t1_ms must be from 1 to 60000");
    }
    if t2 < t1 || t2 > 600_000 {
        diag.error(
            section.t2_ms.span(),
            "t2_ms must be at least t1_ms and at most 600000",
        );
    }
    if t4 > 600_000 {
        diag.error(section.t4_ms.span(), "t4_ms must be at most 600000");
    }
    Timers {
        t1: Duration::from_millis(t1),
        t2: Duration::from_millis(t2),
        t4: Duration::from_millis(t4),
    }
}

fn compile_listeners(sections: &Sections, diag: &mut Diagnostics<'_>) -> Vec<ListenerSpec> {
    let mut listeners = Vec::new();
    for section in &sections.listen {
        let listen = section.get_ref();
        let transport = match listen.transport.get_ref().parse::<Transport>() {
            Ok(Transport::Udp) => Some(Transport::Udp),
            Ok(other) => {
                diag.error(
                    listen.transport.span(),
                    format!("transport `{other}` is not supported yet (supported: udp)"),
                );
                None
            }
            Err(()) => {
                diag.error(
                    listen.transport.span(),
                    format!(
                        "unknown transport `{}` (expected udp, tcp, tls, ws or wss)",
                        listen.transport.get_ref()
                    ),
                );
                None
            }
        };
        let address = match listen.address.get_ref().parse::<SocketAddr>() {
            Ok(address) => Some(address),
            Err(_) => {
                diag.error(
                    listen.address.span(),
                    format!(
                        "`{}` is not an IP:port address (IPv6 as [::1]:5060)",
                        listen.address.get_ref()
                    ),
                );
                None
            }
        };
        if let (Some(transport), Some(address)) = (transport, address) {
            let spec = ListenerSpec { transport, address };
            if address.port() != 0 && listeners.contains(&spec) {
                diag.error(
                    listen.address.span(),
                    format!("{transport} {address} is listed twice"),
                );
            }
            listeners.push(spec);
        }
    }
    listeners
}

fn compile_rule(section: &Spanned<RuleSection>, diag: &mut Diagnostics<'_>) -> Option<Rule> {
    let rule = section.get_ref();
    let name = rule.name.get_ref();
    if name.is_empty() || name.contains(['\r', '\n']) {
        diag.error(
            rule.name.span(),
            "rule name must be a non-empty single line",
        );
    }
    let matcher = compile_matcher(&rule.conditions, diag);
    let mut policy = compile_policy(&rule.policy(), rule.name.span(), diag)?;
    if let (Some(section), ReplyPolicy::Respond { message, .. }) = (&rule.message, &mut policy) {
        *message = compile_auto_message(section, diag);
    } else if let Some(section) = &rule.message {
        diag.error(
            section.span(),
            "`message` cannot be combined with `drop = true`",
        );
    }
    let answers_message = matcher
        .methods
        .as_ref()
        .is_some_and(|m| m.iter().any(|m| &**m == "MESSAGE"));
    if answers_message && rule.accept.as_ref().is_some_and(|a| a.body.is_some()) {
        diag.warn(rule.name.span(), format!("rule `{name}`: a 2xx to MESSAGE carries no body (RFC 3428 §7); send it as an auto-reply instead"));
    }
    Some(Rule {
        name: name.as_str().into(),
        matcher,
        policy: Arc::new(policy),
    })
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

fn parse_cidr(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}

fn compile_policy(
    section: &PolicySection,
    anchor: Range<usize>,
    diag: &mut Diagnostics<'_>,
) -> Option<ReplyPolicy> {
    let finals: Vec<(Verb, &StepSection)> = [
        (Verb::Accept, &section.accept),
        (Verb::Reject, &section.reject),
        (Verb::Reply, &section.reply),
    ]
    .into_iter()
    .filter_map(|(verb, step)| step.as_ref().map(|s| (verb, s)))
    .collect();
    if section.drop {
        if !finals.is_empty() || !section.progress.is_empty() {
            diag.error(
                anchor,
                "`drop = true` answers nothing; remove progress/accept/reject/reply",
            );
            return None;
        }
        return Some(ReplyPolicy::Drop);
    }
    if finals.len() > 1 {
        diag.error(
            anchor,
            "a policy has at most one of accept, reject and reply",
        );
        return None;
    }
    if finals.is_empty() && section.progress.is_empty() {
        diag.error(anchor.clone(), "no reply given: add accept, reject, reply or progress (or `drop = true` to answer nothing)");
        return None;
    }
    let progress: Vec<Step> = section
        .progress
        .iter()
        .filter_map(|step| compile_step(Verb::Progress, step, &anchor, diag))
        .collect();
    let final_step = match finals.first() {
        Some((verb, step)) => Some(compile_step(*verb, step, &anchor, diag)?),
        None => None,
    };
    Some(ReplyPolicy::Respond {
        progress,
        final_step,
        message: None,
    })
}

fn compile_step(
    verb: Verb,
    step: &StepSection,
    anchor: &Range<usize>,
    diag: &mut Diagnostics<'_>,
) -> Option<Step> {
    let status = match (&step.status, verb.default_status()) {
        (Some(status), _) => {
            let (low, high) = verb.range();
            if !verb.allows(*status.get_ref()) {
                diag.error(
                    status.span(),
                    format!(
                        "status {} is outside {}'s range {low}-{high}",
                        status.get_ref(),
                        verb.name()
                    ),
                );
                return None;
            }
            *status.get_ref()
        }
        (None, Some(default)) => default,
        (None, None) => {
            diag.error(
                anchor.clone(),
                "`reply` needs a status (100-699); it has no default",
            );
            return None;
        }
    };
    let reason = match &step.reason {
        Some(reason) if !is_header_safe(reason.get_ref()) => {
            diag.error(reason.span(), "reason must not contain CR, LF or NUL");
            return None;
        }
        Some(reason) => reason.get_ref().clone(),
        None => reason_phrase(status).to_owned(),
    };
    let extra_headers = render_extra_headers(&step.extra_headers, diag);
    let hangup_after = match &step.hangup_after_ms {
        Some(ms) if verb != Verb::Accept => {
            diag.error(
                ms.span(),
                "hangup_after_ms belongs on `accept` (the 2xx that creates the dialog)",
            );
            None
        }
        Some(ms) => Some(Duration::from_millis(*ms.get_ref())),
        None => None,
    };
    let body = step.body.clone().unwrap_or_default();
    let content_type = match &step.content_type {
        Some(ct) if !is_header_safe(ct.get_ref()) || ct.get_ref().is_empty() => {
            diag.error(ct.span(), "content_type must be a single non-empty line");
            None
        }
        Some(ct) => Some(ct.get_ref().clone()),
        None if body.is_empty() => None,
        None if body.starts_with("v=0") => Some("application/sdp".to_owned()),
        None => Some("text/plain".to_owned()),
    };
    Some(Step {
        verb,
        status,
        reason: reason.into(),
        extra_headers,
        content_type: content_type.map(Into::into),
        body: Bytes::from(body),
        delay: Duration::from_millis(step.delay_ms),
        hangup_after,
    })
}

fn compile_auto_message(
    section: &Spanned<MessageSection>,
    diag: &mut Diagnostics<'_>,
) -> Option<AutoMessage> {
    let message = section.get_ref();
    let extra_headers = render_extra_headers(&message.extra_headers, diag);
    let content_type = match &message.content_type {
        Some(ct) if !is_header_safe(ct.get_ref()) || ct.get_ref().is_empty() => {
            diag.error(ct.span(), "content_type must be a single non-empty line");
            return None;
        }
        Some(ct) => ct.get_ref().clone(),
        None => "text/plain".to_owned(),
    };
    let target = match &message.target {
        Some(target)
            if crate::sip::sip_host_port(target.get_ref()).is_none()
                || !is_header_safe(target.get_ref()) =>
        {
            diag.error(
                target.span(),
                format!("target `{}` is not a sip: or sips: URI", target.get_ref()),
            );
            return None;
        }
        Some(target) => Some(target.get_ref().as_str().into()),
        None => None,
    };
    Some(AutoMessage {
        body: Bytes::from(message.body.clone()),
        content_type: content_type.into(),
        extra_headers,
        target,
        delay: Duration::from_millis(message.delay_ms),
    })
}

fn render_extra_headers(lines: &[Spanned<String>], diag: &mut Diagnostics<'_>) -> Bytes {
    let mut rendered = Vec::new();
    for line in lines {
        match render_extra_header(line.get_ref()) {
            Ok(text) => rendered.extend_from_slice(text.as_bytes()),
            Err(message) => diag.error(line.span(), message),
        }
    }
    Bytes::from(rendered)
}

/// Headers the engine writes itself; a rule may not set them.
const ENGINE_OWNED: [HeaderName; 6] = [
    HeaderName::Via,
    HeaderName::From,
    HeaderName::To,
    HeaderName::CallId,
    HeaderName::CSeq,
    HeaderName::ContentLength,
];

/// `Name: value` → `Name: value\r\n`, or why it is refused.
fn render_extra_header(line: &str) -> Result<String, String> {
    if !is_header_safe(line) {
        return Err(format!(
            "extra header `{}` contains CR, LF or NUL",
            line.escape_debug()
        ));
    }
    let Some((name, value)) = line.split_once(':') else {
        return Err(format!("extra header `{line}` is not `Name: value`"));
    };
    let name = name.trim();
    if !is_token(name) {
        return Err(format!("extra header `{line}` has no valid header name"));
    }
    let kind = HeaderName::classify(name);
    if ENGINE_OWNED.contains(&kind) {
        return Err(format!(
            "extra header `{name}` is written by the engine (Via, From, To, Call-ID, CSeq and Content-Length cannot be set)"
        ));
    }
    Ok(format!("{name}: {}\r\n", value.trim()))
}

fn is_header_safe(text: &str) -> bool {
    !text.contains(['\r', '\n', '\0'])
}

fn first_line(text: &str) -> &str {
    text.lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| text.lines().next().unwrap_or(text))
}
