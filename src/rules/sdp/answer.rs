//! RFC 3264 §6 answers: each offered m-line accepted with its first common codec or rejected with port 0, then written.

use std::fmt::Write as _;

use super::codec::{Format, resolve_formats};
use super::parse::{Direction, Group, MediaDescription, SessionDescription, Setup};
use super::srtp::answer_crypto;
use super::webrtc::{IceCredentials, answer_setup, write_dtls, write_ice};
use super::{AnswerContext, Codec, Preference, SdpError};

/// An answer and what it accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The answer, CRLF line ends.
    pub sdp: String,
    /// How many m-lines it accepts (non-zero port).
    pub accepted: usize,
    /// How many m-lines the offer did not disable itself (non-zero port,
    /// or bundle-only in its BUNDLE group).
    pub offered: usize,
    /// Whether one of those is of a media type `codecs` has a codec for
    /// (so no common format is RFC 3261 §20.43 warning 305, not 304).
    pub media_known: bool,
}

/// How the media of an accepted stream is secured.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Security {
    /// RTP/AVP, RTP/AVPF.
    Plain,
    /// DTLS-SRTP with this role (RFC 5763, RFC 5764).
    Dtls(Setup),
    /// SDES with this `a=crypto` value (RFC 4568).
    Sdes(String),
}

/// An offered m-line the answer accepts.
#[derive(Debug, Clone)]
struct Accepted {
    /// The chosen format, then telephone-event when one is kept.
    formats: Vec<Format>,
    direction: Direction,
    security: Security,
    ice: bool,
    rtcp_mux: bool,
    /// In the offer's BUNDLE group: shares the group's port.
    bundled: bool,
}

/// Answers a parsed offer.
pub(super) fn negotiate(
    offer: &SessionDescription,
    ctx: &AnswerContext<'_>,
) -> Result<Answer, SdpError> {
    negotiate_serving(offer, ctx, None)
}

/// Answers a parsed offer; with `served`, the media engine's port: the
/// first accepted plain RTP audio stream gets it, and the other streams are
/// declined (RFC 3264 §6) rather than pointed at ports nothing serves.
/// Without such a stream the answer is as without `served`.
pub(super) fn negotiate_serving(
    offer: &SessionDescription,
    ctx: &AnswerContext<'_>,
    served: Option<u16>,
) -> Result<Answer, SdpError> {
    let bundle = offer.bundle_group();
    let mut plans: Vec<Option<Accepted>> = offer
        .media
        .iter()
        .enumerate()
        .map(|(index, media)| plan(offer, media, index, bundle, ctx))
        .collect();
    let served = served.and_then(|port| {
        let index = offer.media.iter().zip(&plans).position(|(media, plan)| {
            media.media.eq_ignore_ascii_case("audio")
                && plan
                    .as_ref()
                    .is_some_and(|a| a.security == Security::Plain && !a.ice && !a.bundled)
        })?;
        for (other, plan) in plans.iter_mut().enumerate() {
            if other != index {
                *plan = None;
            }
        }
        Some((index, port))
    });

    // RFC 8843 §7.3.1: bundled m-lines share the answerer's BUNDLE port,
    // the first bundled stream's own.
    let mut bundle_port = None;
    let mut ports = Vec::with_capacity(plans.len());
    for (index, plan) in plans.iter().enumerate() {
        ports.push(match plan {
            None => 0,
            Some(_) if served.is_some_and(|(i, _)| i == index) => {
                served.map_or(0, |(_, port)| port)
            }
            Some(accepted) => {
                let own = stream_port(ctx.base_port, index)?;
                if accepted.bundled {
                    *bundle_port.get_or_insert(own)
                } else {
                    own
                }
            }
        });
    }

    let mut out = String::with_capacity(512 + 256 * plans.len());
    write_session_header(&mut out, ctx);
    let ice = plans.iter().flatten().any(|accepted| accepted.ice);
    if ice {
        // RFC 8839 §5.3: we never run connectivity checks of our own.
        out.push_str("a=ice-lite\r\n");
    }
    if let Some(group) = bundle {
        write_bundle_group(&mut out, group, offer, &plans);
    }
    let credentials = ice.then(|| ctx.dtls.ice_credentials(ctx.session_id));
    for ((media, plan), port) in offer.media.iter().zip(&plans).zip(ports) {
        match plan {
            Some(accepted) => {
                write_accepted(&mut out, media, accepted, port, ctx, credentials.as_ref());
            }
            None => write_rejected(&mut out, media),
        }
    }
    let live: Vec<&MediaDescription> = offer
        .media
        .iter()
        .filter(|media| media.port != 0 || (media.bundle_only && is_bundled(media, bundle)))
        .collect();
    Ok(Answer {
        sdp: out,
        accepted: plans.iter().flatten().count(),
        offered: live.len(),
        media_known: live.iter().any(|media| {
            ctx.codecs
                .iter()
                .any(|codec| codec.media.eq_ignore_ascii_case(&media.media))
        }),
    })
}

/// Whether `media` is in the offer's BUNDLE group.
fn is_bundled(media: &MediaDescription, bundle: Option<&Group>) -> bool {
    bundle.is_some_and(|group| {
        media
            .mid
            .as_ref()
            .is_some_and(|mid| group.mids.contains(mid))
    })
}

/// `v=`, `o=`, `s=`, `c=` and `t=` of an answer or offer from us
/// (RFC 8866 §5.1–§5.9): one address for the session and all its media.
pub(super) fn write_session_header(out: &mut String, ctx: &AnswerContext<'_>) {
    let family = if ctx.address.is_ipv4() { "IP4" } else { "IP6" };
    let _ = write!(
        out,
        "v=0\r\no=- {} {} IN {family} {address}\r\ns=-\r\nc=IN {family} {address}\r\nt=0 0\r\n",
        ctx.session_id,
        ctx.session_version,
        address = ctx.address,
    );
}

/// The RTP port of m-line `index`: `base + 2 * index`.
pub(super) fn stream_port(base: u16, index: usize) -> Result<u16, SdpError> {
    index
        .checked_mul(2)
        .and_then(|offset| usize::from(base).checked_add(offset))
        .and_then(|port| u16::try_from(port).ok())
        .ok_or(SdpError::PortRange { base, index })
}

/// Accept or reject one offered m-line.
fn plan(
    offer: &SessionDescription,
    media: &MediaDescription,
    index: usize,
    bundle: Option<&Group>,
    ctx: &AnswerContext<'_>,
) -> Option<Accepted> {
    let bundled = is_bundled(media, bundle);
    // RFC 3264 §8.2: a stream offered with port 0 is answered with port 0,
    // except a bundle-only stream of the BUNDLE group (RFC 8843 §7.3.1).
    if media.port == 0 && !(media.bundle_only && bundled) {
        return None;
    }
    // Not RTP: SCTP data channels (RFC 8841), T.38, MSRP — not implemented,
    // so rejected (RFC 3264 §6).
    if !media.is_rtp() {
        return None;
    }
    let formats = select_formats(media, ctx.codecs, ctx.prefer)?;
    let fingerprinted = !offer.fingerprints_of(media).is_empty();
    let security = if media.is_dtls_proto() || (media.is_srtp() && fingerprinted) {
        // RFC 5763 §5: DTLS-SRTP needs the offerer's fingerprint; RFC 5764
        // §8 only defines it for the SAVP profiles.
        if !fingerprinted || !media.is_srtp() {
            return None;
        }
        Security::Dtls(answer_setup(offer.setup_of(media)))
    } else if media.is_srtp() {
        // RFC 4568 §7.1.2: without a usable a=crypto the stream is rejected.
        let stream = u32::try_from(index).unwrap_or(u32::MAX);
        Security::Sdes(answer_crypto(
            &media.crypto,
            ctx.dtls,
            ctx.session_id,
            stream,
        )?)
    } else {
        Security::Plain
    };
    Some(Accepted {
        formats,
        direction: offer.direction_of(media).mirrored(),
        security,
        ice: offer.ice_credentials(media).is_some(),
        rtcp_mux: media.rtcp_mux,
        bundled,
    })
}

/// The formats an accepted stream keeps, or `None` when nothing is common.
///
/// The offered format that is in the codec list and is not
/// telephone-event: the first in the offer's order (RFC 3264 §6.1) or, with
/// [`Preference::Ours`], the one whose codec comes first in the list; then,
/// if offered and in the list, a telephone-event (RFC 4733) of the same
/// clock rate, else the first offered. A stream offering only
/// telephone-event (a DTMF stream, RFC 4317 §2.4) is accepted with it; a
/// stream whose only common format is telephone-event beside unknown voice
/// codecs is rejected.
fn select_formats(
    media: &MediaDescription,
    codecs: &[Codec],
    prefer: Preference,
) -> Option<Vec<Format>> {
    let offered = resolve_formats(media);
    let rank = |format: &Format| {
        codecs
            .iter()
            .position(|codec| codec.matches(&media.media, &format.name, format.clock_rate))
    };
    let wanted = |format: &&Format| rank(format).is_some();
    let mut events = offered
        .iter()
        .filter(|format| format.is_telephone_event())
        .filter(wanted);
    let voice = offered
        .iter()
        .filter(|format| !format.is_telephone_event())
        .filter(wanted);
    let primary = match prefer {
        Preference::Theirs => voice.clone().next(),
        // min_by_key keeps the first of equals: the offer's order breaks ties.
        Preference::Ours => voice.clone().min_by_key(|format| rank(format)),
    };
    let Some(primary) = primary else {
        let only_events =
            offered.len() == media.formats.len() && offered.iter().all(Format::is_telephone_event);
        return if only_events {
            events.next().map(|event| vec![event.clone()])
        } else {
            None
        };
    };
    let first_event = events.clone().next();
    let event = events
        .find(|event| event.clock_rate == primary.clock_rate)
        .or(first_event);
    Some(std::iter::once(primary).chain(event).cloned().collect())
}

/// `a=group:BUNDLE` with the accepted bundled mids, in the offer's group
/// order (RFC 8843 §7.3.1); no line when none is accepted.
fn write_bundle_group(
    out: &mut String,
    group: &Group,
    offer: &SessionDescription,
    plans: &[Option<Accepted>],
) {
    let accepted = |mid: &String| {
        offer
            .media
            .iter()
            .zip(plans)
            .any(|(media, plan)| plan.is_some() && media.mid.as_ref() == Some(mid))
    };
    let mut line = String::from("a=group:BUNDLE");
    let mut any = false;
    for mid in group.mids.iter().filter(|mid| accepted(mid)) {
        line.push(' ');
        line.push_str(mid);
        any = true;
    }
    if any {
        out.push_str(&line);
        out.push_str("\r\n");
    }
}

/// An accepted m-line: the offer's media type and proto, our port, the
/// kept formats with the offer's payload type numbers, rtpmap and fmtp.
fn write_accepted(
    out: &mut String,
    media: &MediaDescription,
    accepted: &Accepted,
    port: u16,
    ctx: &AnswerContext<'_>,
    credentials: Option<&IceCredentials>,
) {
    let _ = write!(out, "m={} {port} {}", media.media, media.proto);
    for format in &accepted.formats {
        let _ = write!(out, " {}", format.payload_type);
    }
    out.push_str("\r\n");
    for format in &accepted.formats {
        let _ = write!(out, "a=rtpmap:{}\r\n", format.rtpmap_value());
        let fmtp = media.fmtp(&format.payload_type.to_string());
        if let Some(fmtp) = fmtp.filter(|fmtp| !fmtp.params.is_empty()) {
            let _ = write!(out, "a=fmtp:{} {}\r\n", fmtp.format, fmtp.params);
        }
    }
    let _ = write!(out, "a={}\r\n", accepted.direction.as_str());
    if let Some(mid) = &media.mid {
        let _ = write!(out, "a=mid:{mid}\r\n");
    }
    // RFC 5761 §5.1.1: the answerer agrees to multiplex by echoing it.
    if accepted.rtcp_mux {
        out.push_str("a=rtcp-mux\r\n");
    }
    if let Some(credentials) = credentials.filter(|_| accepted.ice) {
        write_ice(out, credentials, ctx.address, port, accepted.rtcp_mux);
    }
    match &accepted.security {
        Security::Plain => {}
        Security::Dtls(setup) => write_dtls(out, ctx.dtls, *setup),
        Security::Sdes(crypto) => {
            let _ = write!(out, "a=crypto:{crypto}\r\n");
        }
    }
}

/// A rejected m-line (RFC 3264 §6): port 0, the offer's proto and first
/// format (one is required), and its mid so the offerer can match it
/// (RFC 8843 §7.3.3).
fn write_rejected(out: &mut String, media: &MediaDescription) {
    let format = media.formats.first().map_or("0", String::as_str);
    let _ = write!(out, "m={} 0 {} {format}\r\n", media.media, media.proto);
    if let Some(mid) = &media.mid {
        let _ = write!(out, "a=mid:{mid}\r\n");
    }
}
