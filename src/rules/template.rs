//! `${...}` substitutions in replies, compiled once at load: request fields,
//! headers, addresses, the rule's counter, a random token and the named
//! captures of the rule's regexes. `$$` writes a literal `$`.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::SocketAddr;

use thiserror::Error;

use crate::sip::{HeaderKey, Request, Transport, sip_host_port, sip_user};

/// Why a template does not compile.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    #[error("unknown template variable `${{{0}}}`")]
    UnknownVariable(String),
    #[error("unterminated `${{` (write `$$` for a literal `$`)")]
    Unterminated,
}

/// A part of a From or To header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameAddrField {
    Uri,
    User,
    Host,
    Display,
    Tag,
}

/// One substitution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Variable {
    Method,
    RequestUri,
    RequestUser,
    RequestHost,
    From(NameAddrField),
    To(NameAddrField),
    CallId,
    CSeq,
    Header(HeaderKey),
    Body,
    SourceIp,
    SourcePort,
    Transport,
    LocalIp,
    LocalPort,
    Rule,
    Counter,
    Random,
    /// Who authenticated (empty when the rule asked no credentials).
    AuthUser,
    AuthRealm,
    Match(Box<str>),
}

#[derive(Debug, Clone)]
enum Part {
    Text(Box<str>),
    Var(Variable),
}

/// Text with substitutions. A template without any renders to its text
/// with no allocation.
#[derive(Debug, Clone)]
pub struct Template {
    /// The text as configured (`$$` already a single `$` when static).
    raw: Box<str>,
    /// Empty when the template has no variables.
    parts: Box<[Part]>,
}

/// What the variables of one request resolve to.
#[derive(Debug, Clone, Copy)]
pub struct Vars<'a> {
    pub request: &'a Request,
    pub source: SocketAddr,
    pub transport: Transport,
    pub local: SocketAddr,
    pub rule: &'a str,
    /// How many requests this rule has matched, this one included.
    pub counter: u64,
    /// Named captures of the rule's regexes.
    pub captures: &'a [(Box<str>, String)],
    /// Who authenticated, when the rule asked for credentials.
    pub auth: Option<&'a crate::auth::Identity>,
}

impl Template {
    /// A template that substitutes nothing.
    pub fn literal(text: &str) -> Self {
        Self {
            raw: text.into(),
            parts: Box::new([]),
        }
    }

    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        Self::parse_all(text).map_err(|mut errors| errors.swap_remove(0).1)
    }

    /// Like [`Template::parse`], but every error, each with the byte offset
    /// of the `${` it is about.
    pub fn parse_all(text: &str) -> Result<Self, Vec<(usize, TemplateError)>> {
        let mut parts = Vec::new();
        let mut errors = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(dollar) = rest.find('$') {
            let offset = text.len() - rest.len() + dollar;
            literal.push_str(&rest[..dollar]);
            let after = &rest[dollar + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                literal.push('$');
                rest = tail;
            } else if let Some(body) = after.strip_prefix('{') {
                let Some(close) = body.find('}') else {
                    errors.push((offset, TemplateError::Unterminated));
                    break;
                };
                if !literal.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut literal).into()));
                }
                match variable(&body[..close]) {
                    Ok(var) => parts.push(Part::Var(var)),
                    Err(error) => errors.push((offset, error)),
                }
                rest = &body[close + 1..];
            } else {
                literal.push('$');
                rest = after;
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        literal.push_str(rest);
        if parts.is_empty() {
            return Ok(Self::literal(&literal));
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal.into()));
        }
        Ok(Self {
            raw: text.into(),
            parts: parts.into(),
        })
    }

    /// Whether rendering can give anything but the configured text.
    pub fn is_static(&self) -> bool {
        self.parts.is_empty()
    }

    /// Whether it renders the same for the same request (no `${counter}`,
    /// no `${random}`).
    pub fn is_deterministic(&self) -> bool {
        !self
            .variables()
            .any(|v| matches!(v, Variable::Counter | Variable::Random))
    }

    /// The configured text (the safe fallback when a substitution is refused).
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The variables used, in order.
    pub fn variables(&self) -> impl Iterator<Item = &Variable> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v),
            Part::Text(_) => None,
        })
    }

    pub fn render<'t>(&'t self, vars: &Vars<'_>) -> Cow<'t, str> {
        if self.parts.is_empty() {
            return Cow::Borrowed(&self.raw);
        }
        let mut out = String::with_capacity(self.raw.len() + 32);
        for part in self.parts.iter() {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Var(var) => write_variable(&mut out, var, vars),
            }
        }
        Cow::Owned(out)
    }

    /// Renders text bound for a header line: a substituted value that would
    /// put CR, LF, NUL or another control character (HTAB aside) into the
    /// message is refused (no header injection) and `Err` carries the
    /// unsubstituted form instead.
    pub fn render_header<'t>(&'t self, vars: &Vars<'_>) -> Result<Cow<'t, str>, &'t str> {
        let rendered = self.render(vars);
        // RFC 3261 §25.1: no control character but HTAB in a header line
        // (a quoted-pair from the request included: this is a new line).
        let control = |b: u8| (b < 0x20 && b != b'\t') || b == 0x7F;
        if matches!(rendered, Cow::Owned(_)) && rendered.bytes().any(control) {
            return Err(&self.raw);
        }
        Ok(rendered)
    }
}

/// Every variable name a template may use but `header.NAME` and
/// `match.NAME` (for "did you mean" hints).
pub const VARIABLE_NAMES: &[&str] = &[
    "method",
    "ruri",
    "ruri.user",
    "ruri.host",
    "request_uri",
    "request_uri.user",
    "request_uri.host",
    "from",
    "from.uri",
    "from.user",
    "from.host",
    "from.display",
    "from.tag",
    "to",
    "to.uri",
    "to.user",
    "to.host",
    "to.display",
    "to.tag",
    "call_id",
    "cseq",
    "body",
    "source.ip",
    "source.port",
    "transport",
    "local.ip",
    "local.port",
    "rule",
    "counter",
    "random",
    "auth.user",
    "auth.realm",
];

fn variable(name: &str) -> Result<Variable, TemplateError> {
    let unknown = || TemplateError::UnknownVariable(name.to_owned());
    if let Some(header) = name.strip_prefix("header.") {
        if !crate::sip::is_token(header) {
            return Err(unknown());
        }
        return Ok(Variable::Header(HeaderKey::new(header)));
    }
    if let Some(capture) = name.strip_prefix("match.") {
        if capture.is_empty()
            || !capture
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(unknown());
        }
        return Ok(Variable::Match(capture.into()));
    }
    let field = |suffix: &str| match suffix {
        "uri" => Some(NameAddrField::Uri),
        "user" => Some(NameAddrField::User),
        "host" => Some(NameAddrField::Host),
        "display" => Some(NameAddrField::Display),
        "tag" => Some(NameAddrField::Tag),
        _ => None,
    };
    if let Some(suffix) = name.strip_prefix("from.") {
        return field(suffix).map(Variable::From).ok_or_else(unknown);
    }
    if let Some(suffix) = name.strip_prefix("to.") {
        return field(suffix).map(Variable::To).ok_or_else(unknown);
    }
    Ok(match name {
        "method" => Variable::Method,
        "ruri" | "request_uri" => Variable::RequestUri,
        "ruri.user" | "request_uri.user" => Variable::RequestUser,
        "ruri.host" | "request_uri.host" => Variable::RequestHost,
        "from" => Variable::From(NameAddrField::Uri),
        "to" => Variable::To(NameAddrField::Uri),
        "call_id" => Variable::CallId,
        "cseq" => Variable::CSeq,
        "body" => Variable::Body,
        "source.ip" => Variable::SourceIp,
        "source.port" => Variable::SourcePort,
        "transport" => Variable::Transport,
        "local.ip" => Variable::LocalIp,
        "local.port" => Variable::LocalPort,
        "rule" => Variable::Rule,
        "counter" => Variable::Counter,
        "random" => Variable::Random,
        "auth.user" => Variable::AuthUser,
        "auth.realm" => Variable::AuthRealm,
        _ => return Err(unknown()),
    })
}

fn write_variable(out: &mut String, var: &Variable, vars: &Vars<'_>) {
    let request = vars.request;
    match var {
        Variable::Method => out.push_str(request.method()),
        Variable::RequestUri => out.push_str(request.uri()),
        Variable::RequestUser => out.push_str(sip_user(request.uri()).unwrap_or("")),
        Variable::RequestHost => out.push_str(host_of(request.uri())),
        Variable::From(field) => write_field(
            out,
            *field,
            request.from_uri(),
            request.from_display(),
            request.from_tag(),
        ),
        Variable::To(field) => write_field(
            out,
            *field,
            request.to_uri(),
            request.to_display(),
            request.to_tag(),
        ),
        Variable::CallId => out.push_str(request.call_id()),
        Variable::CSeq => {
            let _ = write!(out, "{}", request.cseq());
        }
        Variable::Header(key) => {
            if let Some((_, _, value)) = request
                .message()
                .header_fields()
                .find(|(kind, raw, _)| key.matches(*kind, raw))
            {
                out.push_str(value);
            }
        }
        Variable::Body => out.push_str(&String::from_utf8_lossy(request.body())),
        Variable::SourceIp => {
            let _ = write!(out, "{}", vars.source.ip().to_canonical());
        }
        Variable::SourcePort => {
            let _ = write!(out, "{}", vars.source.port());
        }
        Variable::Transport => out.push_str(vars.transport.name()),
        Variable::LocalIp => {
            let _ = write!(out, "{}", vars.local.ip());
        }
        Variable::LocalPort => {
            let _ = write!(out, "{}", vars.local.port());
        }
        Variable::Rule => out.push_str(vars.rule),
        Variable::Counter => {
            let _ = write!(out, "{}", vars.counter);
        }
        Variable::Random => out.push_str(&crate::transaction::new_tag()),
        Variable::AuthUser => out.push_str(vars.auth.map_or("", |a| &a.user)),
        Variable::AuthRealm => out.push_str(vars.auth.map_or("", |a| &a.realm)),
        Variable::Match(name) => {
            if let Some((_, value)) = vars.captures.iter().find(|(n, _)| n == name) {
                out.push_str(value);
            }
        }
    }
}

fn write_field(
    out: &mut String,
    field: NameAddrField,
    uri: &str,
    display: Option<&str>,
    tag: Option<&str>,
) {
    match field {
        NameAddrField::Uri => out.push_str(uri),
        NameAddrField::User => out.push_str(sip_user(uri).unwrap_or("")),
        NameAddrField::Host => out.push_str(host_of(uri)),
        NameAddrField::Display => out.push_str(display.map(|d| d.trim_matches('"')).unwrap_or("")),
        NameAddrField::Tag => out.push_str(tag.unwrap_or("")),
    }
}

fn host_of(uri: &str) -> &str {
    sip_host_port(uri).map_or("", |(host, _)| host)
}

#[cfg(test)]
mod tests;
