//! Header lines a rule writes: `Name: value` with a plain name, no CR, LF
//! or NUL, and none of the headers the engine writes itself.

use crate::sip::{HeaderName, is_token};

/// Headers the engine writes itself; a rule may not set them.
const ENGINE_OWNED: [HeaderName; 6] = [
    HeaderName::Via,
    HeaderName::From,
    HeaderName::To,
    HeaderName::CallId,
    HeaderName::CSeq,
    HeaderName::ContentLength,
];

/// `Name: value` with a plain header name the engine does not own.
pub(super) fn check_extra_header(line: &str) -> Result<(), String> {
    if !is_header_safe(line) {
        return Err(format!(
            "extra header `{}` contains CR, LF or NUL",
            line.escape_debug()
        ));
    }
    let Some((name, _)) = line.split_once(':') else {
        return Err(format!("extra header `{line}` is not `Name: value`"));
    };
    let name = name.trim();
    if !is_token(name) {
        return Err(format!("extra header `{line}` has no valid header name"));
    }
    if ENGINE_OWNED.contains(&HeaderName::classify(name)) {
        return Err(format!(
            "extra header `{name}` is written by the engine (Via, From, To, Call-ID, CSeq and Content-Length cannot be set)"
        ));
    }
    Ok(())
}

pub(super) fn is_header_safe(text: &str) -> bool {
    !text.contains(['\r', '\n', '\0'])
}
