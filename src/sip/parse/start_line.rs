//! The start line: a Request-Line or a Status-Line (RFC 3261 §7.1, §7.2).

use crate::sip::error::ParseError;
use crate::sip::header::is_token;
use crate::sip::message::{Span, StartLine};
use crate::sip::syntax::{split_once_byte, trim_whitespace};

/// Parses `line`, a slice of `head`. A request line's defects (version,
/// whitespace) are noted in `defect` so the request can still be answered;
/// a line that is neither is an error.
pub(super) fn parse_start_line(
    head: &str,
    line: &str,
    defect: &mut Option<ParseError>,
) -> Result<StartLine, ParseError> {
    if let Some(rest) = line.strip_prefix("SIP/") {
        return parse_status_line(head, rest);
    }
    let (method, rest) = split_once_byte(line, b' ').ok_or(ParseError::NotSip)?;
    if !is_token(method) {
        return Err(ParseError::NotSip);
    }
    // Request-Line = Method SP Request-URI SP SIP-Version (single spaces).
    // Most end in " SIP/2.0", whose space is the last one.
    let (uri, version) = match rest.strip_suffix(" SIP/2.0") {
        Some(uri) => (uri, "SIP/2.0"),
        None => rest.rsplit_once(' ').unwrap_or((rest, "")),
    };
    if version.is_empty() {
        defect.get_or_insert(ParseError::BadRequestLine(
            "trailing whitespace or missing version",
        ));
    } else if version != "SIP/2.0" {
        // Only a well-formed other version (`SIP/1*DIGIT.1*DIGIT`, short) is
        // 505 and named in the error, which is logged: anything else, CR or
        // other control bytes included, is a malformed request line.
        if is_sip_version(version) {
            defect.get_or_insert(ParseError::UnsupportedVersion(version.to_owned()));
        } else {
            defect.get_or_insert(ParseError::BadRequestLine("bad SIP version"));
        }
    }
    if uri.is_empty() || uri.bytes().any(|b| b.is_ascii_whitespace()) {
        defect.get_or_insert(ParseError::BadRequestLine(
            "whitespace in or around the Request-URI",
        ));
    }
    Ok(StartLine::Request {
        method: Span::of(head, method),
        uri: Span::of(head, trim_whitespace(uri)),
    })
}

/// `SIP/1*DIGIT "." 1*DIGIT` (RFC 3261 §25.1), at most 16 bytes.
fn is_sip_version(version: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    version.len() <= 16
        && version
            .strip_prefix("SIP/")
            .and_then(|number| number.split_once('.'))
            .is_some_and(|(major, minor)| digits(major) && digits(minor))
}

/// Status-Line = SIP-Version SP Status-Code SP Reason-Phrase.
fn parse_status_line(head: &str, rest: &str) -> Result<StartLine, ParseError> {
    let rest = rest.strip_prefix("2.0 ").ok_or(ParseError::BadStatusLine)?;
    // No reason phrase: an empty one at the end of the line (a slice of
    // `head`, as every span must be).
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, &rest[rest.len()..]));
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::BadStatusLine);
    }
    let status: u16 = code.parse().map_err(|_| ParseError::BadStatusLine)?;
    if !(100..=699).contains(&status) {
        return Err(ParseError::BadStatusLine);
    }
    Ok(StartLine::Response {
        status,
        reason: Span::of(head, reason),
    })
}
