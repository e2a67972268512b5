//! `a=` lines: the attributes an answer depends on, parsed into the session or the current m-line.

use super::malformed;
use super::model::{
    Attribute, Crypto, Direction, Fingerprint, Fmtp, Group, MediaDescription, Rtpmap,
    SessionDescription, Setup, Transport,
};
use crate::rules::sdp::SdpError;

/// Applies `a=<value>` to the last m-line, or to the session before the
/// first m-line (RFC 8866 §5.13).
pub(super) fn apply(sd: &mut SessionDescription, value: &str, line: usize) -> Result<(), SdpError> {
    let (name, arg) = match value.split_once(':') {
        Some((name, arg)) => (name, Some(arg)),
        None => (value, None),
    };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(malformed(line, "attribute name"));
    }
    let lower = name.to_ascii_lowercase();
    match sd.media.last_mut() {
        Some(media) => media_attribute(media, &lower, name, arg, line),
        None => session_attribute(sd, &lower, name, arg, line),
    }
}

fn session_attribute(
    sd: &mut SessionDescription,
    lower: &str,
    name: &str,
    arg: Option<&str>,
    line: usize,
) -> Result<(), SdpError> {
    if let Some(direction) = Direction::from_attribute(lower) {
        sd.direction = Some(direction);
        return Ok(());
    }
    if transport_attribute(&mut sd.transport, lower, arg, line)? {
        return Ok(());
    }
    match lower {
        // RFC 5888 §5: a=group:<semantics> *(SP <identification-tag>)
        "group" => {
            let mut fields = required(arg, line, "a=group")?.split_whitespace();
            let semantics = fields.next().ok_or_else(|| malformed(line, "a=group"))?;
            sd.groups.push(Group {
                semantics: semantics.to_owned(),
                mids: fields.map(str::to_owned).collect(),
            });
        }
        "ice-lite" => sd.ice_lite = true,
        "ice-options" => sd.ice_options = arg.map(|v| v.trim().to_owned()),
        _ => sd.attributes.push(other(name, arg)),
    }
    Ok(())
}

fn media_attribute(
    media: &mut MediaDescription,
    lower: &str,
    name: &str,
    arg: Option<&str>,
    line: usize,
) -> Result<(), SdpError> {
    if let Some(direction) = Direction::from_attribute(lower) {
        media.direction = Some(direction);
        return Ok(());
    }
    if transport_attribute(&mut media.transport, lower, arg, line)? {
        return Ok(());
    }
    match lower {
        "rtpmap" => media
            .rtpmaps
            .push(rtpmap(required(arg, line, "a=rtpmap")?, line)?),
        "fmtp" => media
            .fmtps
            .push(format_specific(required(arg, line, "a=fmtp")?)),
        "rtcp-fb" => media
            .rtcp_fb
            .push(format_specific(required(arg, line, "a=rtcp-fb")?)),
        // RFC 5888 §4: a=mid:<identification-tag>, a token.
        "mid" => {
            let mid = required(arg, line, "a=mid")?.trim();
            if mid.is_empty() || mid.contains(char::is_whitespace) {
                return Err(malformed(line, "a=mid"));
            }
            media.mid = Some(mid.to_owned());
        }
        "rtcp-mux" => media.rtcp_mux = true,
        "bundle-only" => media.bundle_only = true,
        "candidate" => media
            .candidates
            .push(required(arg, line, "a=candidate")?.to_owned()),
        "crypto" => media
            .crypto
            .push(crypto(required(arg, line, "a=crypto")?, line)?),
        // Sources the answerer never uses (RFC 5576): not kept.
        "ssrc" | "ssrc-group" => {}
        _ => media.attributes.push(other(name, arg)),
    }
    Ok(())
}

/// ICE credentials (RFC 8839 §5.4), fingerprints (RFC 8122 §5) and the
/// setup role (RFC 4145 §4), legal at both levels. Returns whether `name`
/// was one of them.
fn transport_attribute(
    transport: &mut Transport,
    lower: &str,
    arg: Option<&str>,
    line: usize,
) -> Result<bool, SdpError> {
    match lower {
        "ice-ufrag" => transport.ice_ufrag = Some(ice_credential(arg, line, "a=ice-ufrag")?),
        "ice-pwd" => transport.ice_pwd = Some(ice_credential(arg, line, "a=ice-pwd")?),
        "fingerprint" => {
            let mut fields = required(arg, line, "a=fingerprint")?.split_whitespace();
            let (Some(hash), Some(value), None) = (fields.next(), fields.next(), fields.next())
            else {
                return Err(malformed(line, "a=fingerprint"));
            };
            transport.fingerprints.push(Fingerprint {
                hash: hash.to_owned(),
                value: value.to_owned(),
            });
        }
        "setup" => {
            let value = required(arg, line, "a=setup")?.trim();
            let setup = Setup::from_value(value).ok_or_else(|| malformed(line, "a=setup"))?;
            transport.setup = Some(setup);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn required<'v>(
    arg: Option<&'v str>,
    line: usize,
    what: &'static str,
) -> Result<&'v str, SdpError> {
    arg.ok_or_else(|| malformed(line, what))
}

/// ufrag and pwd are 1*ice-char, no blanks (RFC 8839 §5.4).
fn ice_credential(arg: Option<&str>, line: usize, what: &'static str) -> Result<String, SdpError> {
    let value = required(arg, line, what)?.trim();
    if value.is_empty() || value.contains(char::is_whitespace) {
        return Err(malformed(line, what));
    }
    Ok(value.to_owned())
}

/// `<payload type> <encoding name>/<clock rate>[/<encoding parameters>]`.
fn rtpmap(value: &str, line: usize) -> Result<Rtpmap, SdpError> {
    let bad = || malformed(line, "a=rtpmap");
    let (pt, encoding) = value.trim().split_once(' ').ok_or_else(bad)?;
    let payload_type = pt
        .parse::<u8>()
        .ok()
        .filter(|pt| *pt <= 127)
        .ok_or_else(bad)?;
    let mut parts = encoding.trim().splitn(3, '/');
    let name = parts.next().filter(|n| !n.is_empty()).ok_or_else(bad)?;
    let clock_rate = parts
        .next()
        .and_then(|r| r.parse::<u32>().ok())
        .ok_or_else(bad)?;
    if !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(Rtpmap {
        payload_type,
        encoding: name.to_owned(),
        clock_rate,
        params: parts.next().map(str::to_owned),
    })
}

/// `<format> <parameters>` of `a=fmtp` and `a=rtcp-fb`.
fn format_specific(value: &str) -> Fmtp {
    let value = value.trim();
    let (format, params) = value.split_once(' ').unwrap_or((value, ""));
    Fmtp {
        format: format.to_owned(),
        params: params.trim().to_owned(),
    }
}

/// `<tag> <crypto-suite> <key-params> [<session-params>]` (RFC 4568 §9.1).
fn crypto(value: &str, line: usize) -> Result<Crypto, SdpError> {
    let mut fields = value.split_whitespace();
    let (Some(tag), Some(suite), Some(key_params)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(malformed(line, "a=crypto"));
    };
    if !tag.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(line, "a=crypto"));
    }
    Ok(Crypto {
        tag: tag.to_owned(),
        suite: suite.to_owned(),
        key_params: key_params.to_owned(),
    })
}

fn other(name: &str, arg: Option<&str>) -> Attribute {
    Attribute {
        name: name.to_owned(),
        value: arg.map(str::to_owned),
    }
}
