//! SDP parsing (RFC 8866, obsoleting RFC 4566): text → [`SessionDescription`], lenient but bounded.
//!
//! Lenient where real clients deviate: CRLF or bare LF line ends, blank
//! lines, trailing blanks, missing `s=` / `t=` / `c=`, unknown line types
//! and attributes (kept in `attributes`, or ignored). Strict where the
//! answer depends on it: `v=0` first, a well-formed `o=`, `m=`, `c=`,
//! `a=rtpmap`, `a=fingerprint`, `a=setup`, `a=crypto`, RTP payload types
//! 0–127, no control characters (so nothing copied into the answer can
//! inject a line). Work is linear in the input, which is capped at
//! [`MAX_SDP_LEN`] bytes, [`MAX_MEDIA`] m-lines and [`MAX_FORMATS`] formats
//! per m-line.

use super::SdpError;

mod attr;
mod model;

pub use model::{
    Attribute, Connection, Crypto, Direction, Fingerprint, Fmtp, Group, MediaDescription, Origin,
    Rtpmap, SessionDescription, Setup, Transport,
};

/// Largest SDP body accepted, in bytes.
pub const MAX_SDP_LEN: usize = 64 * 1024;
/// Most m-lines accepted in one description.
pub const MAX_MEDIA: usize = 64;
/// Most formats accepted on one m-line.
pub const MAX_FORMATS: usize = 128;

/// Parses an SDP description.
pub fn parse(text: &str) -> Result<SessionDescription, SdpError> {
    if text.len() > MAX_SDP_LEN {
        return Err(SdpError::TooLarge {
            len: text.len(),
            max: MAX_SDP_LEN,
        });
    }
    let mut session: Option<SessionDescription> = None;
    let mut seen_origin = false;
    for (index, raw) in text.split('\n').enumerate() {
        let line_no = index + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let line = line.trim_end_matches([' ', '\t']);
        if line.is_empty() {
            continue;
        }
        // RFC 8866 §5.1: the description starts with v=0, and only once.
        let Some(sd) = session.as_mut() else {
            if line != "v=0" {
                return Err(SdpError::Version { line: line_no });
            }
            session = Some(SessionDescription::default());
            continue;
        };
        if line
            .chars()
            .any(|c| (c.is_control() && c != '\t') || c == '\u{7f}')
        {
            return Err(malformed(line_no, "line: control character"));
        }
        let (kind, value) =
            split_line(line).ok_or_else(|| malformed(line_no, "line: not <type>=<value>"))?;
        match kind {
            b'v' => return Err(malformed(line_no, "description: repeated v=")),
            b'o' if sd.media.is_empty() => {
                sd.origin = parse_origin(value).ok_or_else(|| malformed(line_no, "o= line"))?;
                seen_origin = true;
            }
            b's' if sd.media.is_empty() => value.clone_into(&mut sd.name),
            b'c' => {
                let connection =
                    parse_connection(value).ok_or_else(|| malformed(line_no, "c= line"))?;
                match sd.media.last_mut() {
                    Some(media) => media.connection = Some(connection),
                    None => sd.connection = Some(connection),
                }
            }
            b'm' => {
                if sd.media.len() == MAX_MEDIA {
                    return Err(SdpError::TooManyMedia { max: MAX_MEDIA });
                }
                sd.media.push(parse_media(value, line_no)?);
            }
            b'a' => attr::apply(sd, value, line_no)?,
            // i u e p b t r z k and unknown types carry nothing an answer
            // needs (RFC 8866 §5: a parser may ignore what it does not use).
            _ => {}
        }
    }
    let sd = session.ok_or(SdpError::Empty)?;
    if !seen_origin {
        return Err(SdpError::Missing('o'));
    }
    Ok(sd)
}

/// The error for a malformed line.
pub(super) fn malformed(line: usize, what: &'static str) -> SdpError {
    SdpError::Malformed { line, what }
}

/// `<type>=<value>` with a lower-case ASCII letter type (RFC 8866 §5).
fn split_line(line: &str) -> Option<(u8, &str)> {
    let bytes = line.as_bytes();
    match bytes {
        [kind @ b'a'..=b'z', b'=', ..] => Some((*kind, &line[2..])),
        _ => None,
    }
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`
/// (RFC 8866 §5.2).
fn parse_origin(value: &str) -> Option<Origin> {
    let mut fields = value.split_whitespace();
    let mut next = || fields.next().map(str::to_owned);
    let origin = Origin {
        username: next()?,
        session_id: next()?,
        session_version: next()?,
        net_type: next()?,
        addr_type: next()?,
        address: next()?,
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (fields.next().is_none() && digits(&origin.session_id) && digits(&origin.session_version))
        .then_some(origin)
}

/// `c=<nettype> <addrtype> <connection-address>` (RFC 8866 §5.7).
fn parse_connection(value: &str) -> Option<Connection> {
    let mut fields = value.split_whitespace();
    let connection = Connection {
        net_type: fields.next()?.to_owned(),
        addr_type: fields.next()?.to_owned(),
        address: fields.next()?.to_owned(),
    };
    fields.next().is_none().then_some(connection)
}

/// `m=<media> <port>[/<number of ports>] <proto> <fmt> ...` (RFC 8866 §5.14).
fn parse_media(value: &str, line: usize) -> Result<MediaDescription, SdpError> {
    let bad = || malformed(line, "m= line");
    let mut fields = value.split_whitespace();
    let media = fields.next().ok_or_else(bad)?;
    let port_field = fields.next().ok_or_else(bad)?;
    let proto = fields.next().ok_or_else(bad)?;
    let (port, port_count) = match port_field.split_once('/') {
        Some((port, count)) => (port, Some(count.parse::<u16>().map_err(|_| bad())?)),
        None => (port_field, None),
    };
    let port = port.parse::<u16>().map_err(|_| bad())?;
    let valid_token = |s: &str| s.bytes().all(|b| b.is_ascii_graphic());
    if !valid_token(media) || !valid_token(proto) {
        return Err(bad());
    }
    let mut md = MediaDescription {
        media: media.to_owned(),
        port,
        port_count,
        proto: proto.to_owned(),
        ..MediaDescription::default()
    };
    let rtp = md.is_rtp();
    for format in fields {
        if md.formats.len() == MAX_FORMATS {
            return Err(SdpError::TooManyFormats {
                line,
                max: MAX_FORMATS,
            });
        }
        // RTP formats are payload types 0–127 (RFC 3551 §3, RFC 8866 §5.14).
        if rtp && !matches!(format.parse::<u8>(), Ok(pt) if pt <= 127) {
            return Err(malformed(line, "m= line: RTP payload type"));
        }
        md.formats.push(format.to_owned());
    }
    // RFC 8866 §9: at least one <fmt>; RFC 3264 §6 keeps one even on a
    // rejected stream.
    if md.formats.is_empty() {
        return Err(malformed(line, "m= line: no format"));
    }
    Ok(md)
}
