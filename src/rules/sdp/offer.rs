//! Late offers (RFC 3261 §13.2.1): the offer a 2xx carries when the INVITE had none, and checking the ACK's answer.

use std::fmt::Write as _;

use super::answer::{stream_port, write_session_header};
use super::codec::{dynamic_defaults, static_payload_type};
use super::parse::SessionDescription;
use super::{AnswerContext, Codec, SdpError};

/// First dynamic payload type (RFC 3551 §3).
const FIRST_DYNAMIC: u8 = 96;
/// Last RTP payload type.
const LAST_PAYLOAD_TYPE: u8 = 127;

/// The offer: one RTP/AVP m-line per media type of the codec list (in
/// order of first appearance, audio first), `a=sendrecv`, each codec with
/// its RFC 3551 static payload type or a dynamic one from 96 (RFC 3264
/// §5.1), its rtpmap, and `a=fmtp:<pt> 0-16` for telephone-event (RFC 4733
/// §2.4.1). A media type whose port would exceed 65535 is left out.
pub(super) fn late_offer(ctx: &AnswerContext<'_>) -> String {
    let mut out = String::with_capacity(512);
    write_session_header(&mut out, ctx);
    for (index, media) in media_types(ctx.codecs).into_iter().enumerate() {
        let Ok(port) = stream_port(ctx.base_port, index) else {
            break;
        };
        let codecs = ctx
            .codecs
            .iter()
            .filter(|codec| codec.media.eq_ignore_ascii_case(media));
        write_media(&mut out, media, port, codecs);
    }
    out
}

/// Media types in order of first appearance, audio first.
fn media_types(codecs: &[Codec]) -> Vec<&str> {
    let mut types: Vec<&str> = Vec::new();
    if codecs.iter().any(|c| c.media.eq_ignore_ascii_case("audio")) {
        types.push("audio");
    }
    for codec in codecs {
        if !types.iter().any(|t| t.eq_ignore_ascii_case(&codec.media)) {
            types.push(&codec.media);
        }
    }
    types
}

fn write_media<'c>(
    out: &mut String,
    media: &str,
    port: u16,
    codecs: impl Iterator<Item = &'c Codec>,
) {
    // (payload type, rtpmap value, fmtp value)
    let mut lines: Vec<(u8, String, Option<&str>)> = Vec::new();
    let mut next_dynamic = FIRST_DYNAMIC;
    for codec in codecs {
        let (payload_type, rate, params) = match static_payload_type(codec) {
            Some((pt, rate)) => (pt, rate, None),
            None => {
                let used = |pt: u8| lines.iter().any(|(used, ..)| *used == pt);
                while next_dynamic <= LAST_PAYLOAD_TYPE && used(next_dynamic) {
                    next_dynamic += 1;
                }
                if next_dynamic > LAST_PAYLOAD_TYPE {
                    continue;
                }
                let (rate, params) = dynamic_defaults(codec);
                (next_dynamic, rate, params)
            }
        };
        if lines.iter().any(|(used, ..)| *used == payload_type) {
            continue;
        }
        let rtpmap = match params {
            Some(params) => format!("{payload_type} {}/{rate}/{params}", codec.name),
            None => format!("{payload_type} {}/{rate}", codec.name),
        };
        // RFC 4733 §2.4.1: the DTMF events 0-15 and flash (16).
        let fmtp = codec.is_telephone_event().then_some("0-16");
        lines.push((payload_type, rtpmap, fmtp));
    }
    if lines.is_empty() {
        return;
    }
    let _ = write!(out, "m={media} {port} RTP/AVP");
    for (payload_type, ..) in &lines {
        let _ = write!(out, " {payload_type}");
    }
    out.push_str("\r\n");
    for (payload_type, rtpmap, fmtp) in &lines {
        let _ = write!(out, "a=rtpmap:{rtpmap}\r\n");
        if let Some(fmtp) = fmtp {
            let _ = write!(out, "a=fmtp:{payload_type} {fmtp}\r\n");
        }
    }
    out.push_str("a=sendrecv\r\n");
}

/// RFC 3264 §6: the answer has the offer's m-lines, same count, same media
/// types, same order.
pub(super) fn check_answer(
    offer: &SessionDescription,
    answer: &SessionDescription,
) -> Result<(), SdpError> {
    if offer.media.len() != answer.media.len() {
        return Err(SdpError::MediaMismatch {
            offered: offer.media.len(),
            answered: answer.media.len(),
        });
    }
    let mismatch = offer
        .media
        .iter()
        .zip(&answer.media)
        .position(|(o, a)| !o.media.eq_ignore_ascii_case(&a.media));
    match mismatch {
        Some(index) => Err(SdpError::MediaTypeMismatch {
            index,
            offered: offer.media[index].media.clone(),
            answered: answer.media[index].media.clone(),
        }),
        None => Ok(()),
    }
}
