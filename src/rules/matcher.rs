//! Match conditions of a rule, compiled once at load: all must hold.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use std::sync::Arc;

use ipnet::IpNet;
use regex::Regex;

use crate::auth::{Checker, Requirement, Verdict};
use crate::sip::{HeaderKey, Request, Transport};

/// What a rule is matched against: the request and where it came from.
#[derive(Debug, Clone, Copy)]
pub struct MatchInput<'a> {
    pub request: &'a Request,
    pub source: SocketAddr,
    pub transport: Transport,
    /// The request's scope (see `scope.rs`), if it has one.
    pub scope: Option<&'a str>,
    /// Checks the request's credentials for `match.auth` (`None`: the
    /// request is taken to carry none).
    pub auth: Option<&'a Checker<'a>>,
}

/// `match.auth`: what the request's credentials must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthState {
    Valid,
    Invalid,
    /// None for this realm, or only an expired nonce.
    Absent,
}

impl AuthState {
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "valid" => Some(Self::Valid),
            "invalid" => Some(Self::Invalid),
            "absent" => Some(Self::Absent),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Invalid => "invalid",
            Self::Absent => "absent",
        }
    }
}

/// A `match.auth` condition and the requirement its credentials are
/// checked against (the rule's `auth`, else `[auth]`'s defaults).
#[derive(Debug, Clone)]
pub struct AuthTest {
    pub state: AuthState,
    pub requirement: Arc<Requirement>,
}

/// A header condition.
#[derive(Debug, Clone)]
pub enum HeaderTest {
    /// Some field of the header matches the regex.
    Matches(Regex),
    Present,
    Absent,
}

/// The compiled conditions of one rule. An empty matcher matches everything.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    /// Only requests of this scope (a test's id).
    pub scope: Option<Box<str>>,
    pub methods: Option<Vec<Box<str>>>,
    pub request_uri: Option<Regex>,
    pub from: Option<Regex>,
    pub to: Option<Regex>,
    pub headers: Vec<(Box<str>, HeaderKey, HeaderTest)>,
    pub body: Option<regex::bytes::Regex>,
    pub sources: Option<Vec<IpNet>>,
    pub transports: Option<Vec<Transport>>,
    pub auth: Option<AuthTest>,
}

/// The first condition of a rule that did not hold (for `explain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    Scope,
    Method,
    RequestUri,
    From,
    To,
    Header(Box<str>),
    Body,
    Source,
    Transport,
    Auth,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Scope => f.write_str("scope"),
            Self::Method => f.write_str("method"),
            Self::RequestUri => f.write_str("request_uri"),
            Self::From => f.write_str("from"),
            Self::To => f.write_str("to"),
            Self::Header(name) => write!(f, "headers.{name}"),
            Self::Body => f.write_str("body"),
            Self::Source => f.write_str("source"),
            Self::Transport => f.write_str("transport"),
            Self::Auth => f.write_str("auth"),
        }
    }
}

impl Matcher {
    /// Checks the conditions cheapest first; `Err` names the first that failed.
    pub fn check(&self, input: &MatchInput<'_>) -> Result<(), Mismatch> {
        let request = input.request;
        if let Some(scope) = &self.scope
            && input.scope != Some(&**scope)
        {
            return Err(Mismatch::Scope);
        }
        if let Some(methods) = &self.methods
            && !methods.iter().any(|m| **m == *request.method())
        {
            return Err(Mismatch::Method);
        }
        if let Some(transports) = &self.transports
            && !transports.contains(&input.transport)
        {
            return Err(Mismatch::Transport);
        }
        if let Some(nets) = &self.sources
            && !source_allowed(nets, input.source.ip())
        {
            return Err(Mismatch::Source);
        }
        if let Some(re) = &self.request_uri
            && !re.is_match(request.uri())
        {
            return Err(Mismatch::RequestUri);
        }
        if let Some(re) = &self.from
            && !re.is_match(request.from_uri())
        {
            return Err(Mismatch::From);
        }
        if let Some(re) = &self.to
            && !re.is_match(request.to_uri())
        {
            return Err(Mismatch::To);
        }
        for (name, key, test) in &self.headers {
            let mut values = request
                .message()
                .header_fields()
                .filter(|(kind, raw, _)| key.matches(*kind, raw))
                .map(|(_, _, value)| value);
            let holds = match test {
                HeaderTest::Present => values.next().is_some(),
                HeaderTest::Absent => values.next().is_none(),
                HeaderTest::Matches(re) => values.any(|v| re.is_match(v)),
            };
            if !holds {
                return Err(Mismatch::Header(name.clone()));
            }
        }
        if let Some(re) = &self.body
            && !re.is_match(request.body())
        {
            return Err(Mismatch::Body);
        }
        // Last: the only condition that hashes.
        if let Some(test) = &self.auth {
            let verdict = input.auth.map_or(Verdict::Absent, |checker| {
                checker.verdict(Some(&test.requirement))
            });
            if verdict.word() != test.state.name() {
                return Err(Mismatch::Auth);
            }
        }
        Ok(())
    }

    /// The requirement whose valid credentials this matcher asks for
    /// (`match.auth = "valid"`): taking the rule commits them.
    pub fn valid_credentials(&self) -> Option<&Arc<Requirement>> {
        self.auth
            .as_ref()
            .filter(|test| test.state == AuthState::Valid)
            .map(|test| &test.requirement)
    }

    /// Named captures of every regex condition, for `${match.NAME}` (the
    /// first header field that matches is used).
    pub fn captures(&self, input: &MatchInput<'_>) -> Vec<(Box<str>, String)> {
        let request = input.request;
        let mut out = Vec::new();
        let mut collect = |re: &Regex, text: &str| {
            if let Some(caps) = re.captures(text) {
                for name in re.capture_names().flatten() {
                    if let Some(m) = caps.name(name) {
                        out.push((name.into(), m.as_str().to_owned()));
                    }
                }
            }
        };
        for (re, text) in [
            (&self.request_uri, request.uri()),
            (&self.from, request.from_uri()),
            (&self.to, request.to_uri()),
        ] {
            if let Some(re) = re {
                collect(re, text);
            }
        }
        for (_, key, test) in &self.headers {
            if let HeaderTest::Matches(re) = test
                && let Some((_, _, value)) = request
                    .message()
                    .header_fields()
                    .find(|(kind, raw, value)| key.matches(*kind, raw) && re.is_match(value))
            {
                collect(re, value);
            }
        }
        if let Some(re) = &self.body
            && let Some(caps) = re.captures(request.body())
        {
            for name in re.capture_names().flatten() {
                if let Some(m) = caps.name(name) {
                    out.push((
                        name.into(),
                        String::from_utf8_lossy(m.as_bytes()).into_owned(),
                    ));
                }
            }
        }
        out
    }

    /// Names of the capture groups of every regex condition.
    pub fn capture_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = [&self.request_uri, &self.from, &self.to]
            .into_iter()
            .flatten()
            .flat_map(|re| re.capture_names().flatten())
            .collect();
        for (_, _, test) in &self.headers {
            if let HeaderTest::Matches(re) = test {
                names.extend(re.capture_names().flatten());
            }
        }
        if let Some(re) = &self.body {
            names.extend(re.capture_names().flatten());
        }
        names
    }

    /// How close `input` came: the conditions that held before the first
    /// that failed (they are checked in [`Self::describe`]'s order), and
    /// the verdict.
    pub fn closeness(&self, input: &MatchInput<'_>) -> (usize, Result<(), Mismatch>) {
        let verdict = self.check(input);
        let held = match &verdict {
            Ok(()) => self.conditions(),
            Err(mismatch) => self.index_of(mismatch),
        };
        (held, verdict)
    }

    /// How many conditions the rule has.
    pub fn conditions(&self) -> usize {
        usize::from(self.scope.is_some())
            + usize::from(self.methods.is_some())
            + usize::from(self.transports.is_some())
            + usize::from(self.sources.is_some())
            + usize::from(self.request_uri.is_some())
            + usize::from(self.from.is_some())
            + usize::from(self.to.is_some())
            + self.headers.len()
            + usize::from(self.body.is_some())
            + usize::from(self.auth.is_some())
    }

    /// The place of `mismatch`'s condition among the rule's conditions.
    fn index_of(&self, mismatch: &Mismatch) -> usize {
        let before = |present: &[bool]| present.iter().filter(|p| **p).count();
        let singles = [
            self.scope.is_some(),
            self.methods.is_some(),
            self.transports.is_some(),
            self.sources.is_some(),
            self.request_uri.is_some(),
            self.from.is_some(),
            self.to.is_some(),
        ];
        match mismatch {
            Mismatch::Scope => 0,
            Mismatch::Method => before(&singles[..1]),
            Mismatch::Transport => before(&singles[..2]),
            Mismatch::Source => before(&singles[..3]),
            Mismatch::RequestUri => before(&singles[..4]),
            Mismatch::From => before(&singles[..5]),
            Mismatch::To => before(&singles[..6]),
            Mismatch::Header(name) => {
                before(&singles)
                    + self
                        .headers
                        .iter()
                        .position(|(n, _, _)| n == name)
                        .unwrap_or(0)
            }
            Mismatch::Body => before(&singles) + self.headers.len(),
            Mismatch::Auth => {
                before(&singles) + self.headers.len() + usize::from(self.body.is_some())
            }
        }
    }

    /// One line per condition, for `check` and `explain`, in the order
    /// they are checked.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(scope) = &self.scope {
            out.push(format!("scope is {scope}"));
        }
        if let Some(methods) = &self.methods {
            out.push(format!("method is {}", methods.join(" | ")));
        }
        if let Some(transports) = &self.transports {
            let names: Vec<_> = transports.iter().map(|t| t.name()).collect();
            out.push(format!("transport is {}", names.join(" | ")));
        }
        if let Some(nets) = &self.sources {
            let nets: Vec<_> = nets.iter().map(ToString::to_string).collect();
            out.push(format!("source in {}", nets.join(", ")));
        }
        for (label, re) in [
            ("request_uri", &self.request_uri),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if let Some(re) = re {
                out.push(format!("{label} =~ /{re}/"));
            }
        }
        for (name, _, test) in &self.headers {
            out.push(match test {
                HeaderTest::Matches(re) => format!("header {name} =~ /{re}/"),
                HeaderTest::Present => format!("header {name} present"),
                HeaderTest::Absent => format!("header {name} absent"),
            });
        }
        if let Some(re) = &self.body {
            out.push(format!("body =~ /{re}/"));
        }
        if let Some(test) = &self.auth {
            out.push(format!(
                "credentials for realm \"{}\" are {}",
                test.requirement.realm,
                test.state.name()
            ));
        }
        out
    }
}

/// Dual-stack sockets report IPv4 peers as `::ffff:a.b.c.d`; both forms are
/// tried so either spelling in the config matches.
fn source_allowed(nets: &[IpNet], ip: IpAddr) -> bool {
    let canonical = ip.to_canonical();
    nets.iter()
        .any(|net| net.contains(&ip) || net.contains(&canonical))
}
