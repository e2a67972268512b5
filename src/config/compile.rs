//! Sections → [`Config`]: every check that needs more than a type (regexes,
//! CIDRs, verb ranges, header lines, names) runs here, once, at load.

use std::sync::Arc;
use std::time::Duration;

use super::delays::PolicyLimits;
use super::error::Diagnostics;
use super::listeners::compile_listeners;
use super::model::{AdminSection, CaptureSection, SdpSection, ServerSection};
use super::policy::PolicyCompiler;
use super::rules::compile_rules;
use super::timing;
use super::{AdminSettings, Config, RateLimit, Sections, ServerSettings};
use crate::capture::CaptureSettings;
use crate::rules::sdp::Preference;
use crate::rules::{ReplyPolicy, RuleSet};
use crate::sip::{Limits, is_token};
use std::net::SocketAddr;

use toml::Spanned;

pub(crate) fn compile(
    sections: &Sections,
    name: &str,
    diag: &mut Diagnostics<'_>,
) -> Option<Config> {
    let server = compile_server(sections, diag);
    let listeners = compile_listeners(sections, diag);
    if sections.listen_entries == 0 {
        diag.error(
            0..0,
            "no listeners: add at least one [[listen]] section (transport and address)",
        );
    }
    let limits = PolicyLimits {
        media_files: true,
        ring_timeout: server.ring_timeout,
        max_duration: server.dialog.max_duration,
    };
    let mut auth = super::auth::compile_auth(sections.auth.as_ref(), diag);
    let rules = compile_rules(&sections.rules, limits, &mut auth, diag);
    let fallback = match &sections.fallback {
        Some(section) => {
            let mut compiler = PolicyCompiler {
                diag,
                captures: Vec::new(),
                uses_captures: false,
                limits,
            };
            if let Some(register) = &section.get_ref().register
                && register.get_ref().auth.is_some()
            {
                compiler.diag.error(register.span(), "the fallback cannot ask for credentials (nothing of it is a rule to take after them): answer REGISTER with a [[rule]] whose match.method = \"REGISTER\"");
            }
            compiler.policy(section.get_ref(), section.span())?
        }
        None => ReplyPolicy::default_fallback(),
    };
    let span = sections.auth.as_ref().map_or(0..0, Spanned::span);
    auth.warn_without_users(&rules, span, diag);
    Some(Config {
        source: name.to_owned(),
        server,
        listeners,
        auth: auth.finish(),
        rules: Arc::new(RuleSet::new(rules, fallback, sections.server.seed)),
        warnings: Vec::new(),
    })
}

pub(super) fn compile_server(sections: &Sections, diag: &mut Diagnostics<'_>) -> ServerSettings {
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
    if !super::header_lines::is_header_safe(server.user_agent.get_ref()) {
        diag.error(
            server.user_agent.span(),
            "user_agent must not contain CR, LF or NUL",
        );
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
    let log_level = sections.log.level.as_ref().map(|level| {
        if let Some(problem) = super::log_level::problem(level.get_ref()) {
            diag.error(level.span(), format!("level: {problem}"));
        }
        level.get_ref().clone()
    });
    let admin = sections
        .admin
        .as_ref()
        .map(|admin| compile_admin(admin.get_ref(), diag));
    let rate_limit = compile_rate_limit(server, diag);
    let (sdp_codecs, rtp_port) = compile_sdp(&sections.sdp, diag);
    let sdp_prefer = compile_prefer(&sections.sdp, diag);
    let capture = sections
        .capture
        .as_ref()
        .and_then(|capture| compile_capture(capture.get_ref(), diag));
    ServerSettings {
        scope: compile_scope(server, diag),
        capture,
        media: super::media::compile_settings(&sections.media, diag),
        sdp_codecs,
        sdp_prefer,
        rtp_port,
        rate_limit,
        reliable_provisionals: server.reliable_provisionals,
        unverified_udp: compile_unverified_udp(server, diag),
        admin,
        drain_timeout: Duration::from_millis(*server.drain_timeout_ms.get_ref()),
        log_level,
        max_transactions,
        allowed_methods,
        timers: timing::compile_timers(&sections.timers, diag),
        ring_timeout: timing::compile_ring_timeout(&sections.timers, diag),
        dialog: timing::compile_dialog(&sections.dialog, diag),
        user_agent: server.user_agent.get_ref().clone(),
        public_address: server.public_address.as_ref().map(|a| a.get_ref().clone()),
        force_rport: server.force_rport,
        limits: Limits {
            max_message_size: *size,
            max_headers: *server.max_headers.get_ref(),
        },
        udp_workers,
    }
}

fn compile_admin(section: &AdminSection, diag: &mut Diagnostics<'_>) -> AdminSettings {
    let address = match &section.address {
        Some(address) => address.get_ref().parse().unwrap_or_else(|_| {
            diag.error(
                address.span(),
                format!("`{}` is not an IP:port address", address.get_ref()),
            );
            SocketAddr::from(([127, 0, 0, 1], 9060))
        }),
        None => SocketAddr::from(([127, 0, 0, 1], 9060)),
    };
    if let Some(token) = &section.token
        && (token.get_ref().is_empty() || !token.get_ref().bytes().all(|b| b.is_ascii_graphic()))
    {
        diag.error(token.span(), "token must be non-empty visible ASCII");
    }
    if let Some(spanned) = &section.address
        && section.token.is_none()
        && !address.ip().to_canonical().is_loopback()
    {
        diag.warn(
            spanned.span(),
            format!("the admin listener on {address} is reachable from other hosts and has no `token`: anyone who reaches it reads the journal and registrations and can empty the journal"),
        );
    }
    let journal_size = *section.journal_size.get_ref();
    if !(1..=1_000_000).contains(&journal_size) {
        diag.error(
            section.journal_size.span(),
            "journal_size must be from 1 to 1000000",
        );
    }
    let journal_max_bytes = *section.journal_max_bytes.get_ref();
    if !(64 * 1024..=1 << 32).contains(&journal_max_bytes) {
        diag.error(
            section.journal_max_bytes.span(),
            "journal_max_bytes must be from 65536 to 4294967296",
        );
    }
    let journal_file_max_bytes = *section.journal_file_max_bytes.get_ref();
    if journal_file_max_bytes < 64 * 1024 {
        diag.error(
            section.journal_file_max_bytes.span(),
            "journal_file_max_bytes must be at least 65536",
        );
    }
    if let Some(file) = &section.journal_file
        && let Some(problem) = unwritable_directory(std::path::Path::new(file.get_ref()))
    {
        diag.warn(
            file.span(),
            format!(
                "journal_file {}: {problem}: the daemon cannot create or rotate the file there",
                file.get_ref()
            ),
        );
    }
    AdminSettings {
        address,
        token: section.token.as_ref().map(|t| t.get_ref().clone()),
        journal_size,
        journal_max_bytes: usize::try_from(journal_max_bytes).unwrap_or(usize::MAX),
        journal_file: section.journal_file.as_ref().map(|f| f.get_ref().into()),
        journal_file_max_bytes,
    }
}

/// Why the journal file's directory cannot take the file and its rotation
/// (`None`: it can, as far as this user can tell).
fn unwritable_directory(file: &std::path::Path) -> Option<String> {
    use rustix::fs::{Access, access};
    let directory = match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => std::path::Path::new("."),
    };
    match std::fs::metadata(directory) {
        Err(error) => Some(format!(
            "directory {} unusable: {error}",
            directory.display()
        )),
        Ok(meta) if !meta.is_dir() => Some(format!("{} is not a directory", directory.display())),
        Ok(_) => access(directory, Access::WRITE_OK | Access::EXEC_OK)
            .err()
            .map(|error| format!("directory {} is not writable: {error}", directory.display())),
    }
}

fn compile_capture(
    section: &CaptureSection,
    diag: &mut Diagnostics<'_>,
) -> Option<CaptureSettings> {
    let hep = match section.hep.get_ref().parse::<SocketAddr>() {
        Ok(address) if address.port() != 0 => Some(address),
        _ => {
            diag.error(
                section.hep.span(),
                format!(
                    "hep: `{}` is not the collector's IP:port (like 127.0.0.1:9060)",
                    section.hep.get_ref()
                ),
            );
            None
        }
    };
    if let Some(password) = &section.password
        && password.get_ref().is_empty()
    {
        diag.error(password.span(), "password: empty (leave it out instead)");
    }
    Some(CaptureSettings {
        hep: hep?,
        node_id: section.node_id,
        password: section.password.as_ref().map(|p| p.get_ref().clone()),
    })
}

/// `[server.rate_limit]`: a token bucket per source.
fn compile_rate_limit(server: &ServerSection, diag: &mut Diagnostics<'_>) -> Option<RateLimit> {
    server.rate_limit.as_ref().and_then(|limit| {
        let section = limit.get_ref();
        let answer_503 = match section.action.get_ref().as_str() {
            "503" => true,
            "drop" => false,
            other => {
                diag.error(
                    section.action.span(),
                    format!("unknown rate_limit action `{other}` (\"503\" or \"drop\")"),
                );
                true
            }
        };
        if section.per_second == 0 {
            diag.error(limit.span(), "rate_limit.per_second must be at least 1");
            return None;
        }
        Some(RateLimit {
            per_second: section.per_second,
            burst: section.burst.unwrap_or(section.per_second).max(1),
            answer_503,
        })
    })
}

/// `[sdp]`: the codecs answers offer and the first RTP port.
fn compile_sdp(
    section: &SdpSection,
    diag: &mut Diagnostics<'_>,
) -> (Vec<crate::rules::sdp::Codec>, u16) {
    let sdp_codecs = match &section.codecs {
        Some(list) => list
            .get_ref()
            .iter()
            .filter_map(|text| {
                let full = if text.contains('/') {
                    text.clone()
                } else {
                    format!("audio/{text}")
                };
                full.parse::<crate::rules::sdp::Codec>()
                    .map_err(|error| diag.error(list.span(), format!("codec `{text}`: {error}")))
                    .ok()
            })
            .collect(),
        None => crate::rules::sdp::default_codecs(),
    };
    let rtp_port = match &section.rtp_port {
        Some(port) if *port.get_ref() % 2 == 1 || *port.get_ref() == 0 => {
            diag.error(
                port.span(),
                "rtp_port must be an even port number (RTCP takes the odd one above)",
            );
            40_000
        }
        Some(port) => *port.get_ref(),
        None => 40_000,
    };
    (sdp_codecs, rtp_port)
}

/// `scope_header` and `scope_user_separator`: where a request's scope is.
fn compile_scope(server: &ServerSection, diag: &mut Diagnostics<'_>) -> crate::rules::ScopeSource {
    let header = server.scope_header.get_ref();
    if !header.is_empty() && !is_token(header) {
        diag.error(
            server.scope_header.span(),
            format!("scope_header: `{header}` is not a header name"),
        );
    }
    let separator = server.scope_user_separator.as_ref().and_then(|spanned| {
        let text = spanned.get_ref();
        let mut chars = text.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if c.is_ascii_graphic() && c != '@' && c != ':' => Some(c),
            _ => {
                diag.error(
                    spanned.span(),
                    format!("scope_user_separator must be one visible ASCII character other than `@` and `:`, not `{text}`"),
                );
                None
            }
        }
    });
    crate::rules::ScopeSource::new((!header.is_empty()).then_some(header.as_str()), separator)
}

/// `[server.unverified_udp]`: the anti-amplification allowance.
fn compile_unverified_udp(
    server: &ServerSection,
    diag: &mut Diagnostics<'_>,
) -> crate::transport::Allowance {
    let Some(section) = &server.unverified_udp else {
        return crate::transport::Allowance::default();
    };
    let section = section.get_ref();
    let mut check = |value: &toml::Spanned<f64>, name: &str, max: f64| {
        let number = *value.get_ref();
        if !(0.0..=max).contains(&number) {
            diag.error(value.span(), format!("{name} must be from 0 to {max}"));
        }
        number
    };
    crate::transport::Allowance {
        ratio: check(&section.ratio, "ratio", 100.0),
        messages_per_second: check(
            &section.messages_per_second,
            "messages_per_second",
            10_000.0,
        ),
        bytes_per_second: check(&section.bytes_per_second, "bytes_per_second", 100_000_000.0),
    }
}

/// `[sdp] prefer`: "theirs" (the default) or "ours".
fn compile_prefer(section: &SdpSection, diag: &mut Diagnostics<'_>) -> Preference {
    let Some(prefer) = &section.prefer else {
        return Preference::Theirs;
    };
    match prefer.get_ref().as_str() {
        "theirs" => Preference::Theirs,
        "ours" => Preference::Ours,
        other => {
            diag.error(
                prefer.span(),
                format!("prefer `{other}`: expected \"ours\" or \"theirs\""),
            );
            Preference::Theirs
        }
    }
}
