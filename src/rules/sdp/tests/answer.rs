//! RFC 3264 answer tests over the RFC 4317 examples and hand-written offers.

use std::net::{IpAddr, Ipv6Addr};

use super::{all_fixtures, codecs_with_vp8, ctx, fixture, lines, sections, session_lines};
use crate::rules::sdp::{
    AnswerContext, Codec, SdpError, answer, check_answer, default_codecs, negotiate, parse,
};

fn answer_default(name: &str) -> String {
    let codecs = default_codecs();
    answer(&fixture(name), &ctx(&codecs)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn session_lines_use_the_context() {
    let sdp = answer_default("rfc4317-2.1.offer.sdp");
    assert_eq!(
        session_lines(&sdp),
        [
            "v=0",
            "o=- 1234 1 IN IP4 192.0.2.1",
            "s=-",
            "c=IN IP4 192.0.2.1",
            "t=0 0"
        ]
    );
}

/// RFC 4317 §2.1: PCMU, PCMA, iLBC offered; the default list keeps the
/// first common one, PCMU, and rejects the H261/MPV video with port 0 and
/// one of its formats.
#[test]
fn audio_and_video_offer_keeps_first_common_codec_and_rejects_video() {
    let sdp = answer_default("rfc4317-2.1.offer.sdp");
    assert_eq!(
        sections(&sdp),
        [
            vec![
                "m=audio 40000 RTP/AVP 0",
                "a=rtpmap:0 PCMU/8000",
                "a=sendrecv"
            ],
            vec!["m=video 0 RTP/AVP 31"],
        ]
    );
}

#[test]
fn video_is_accepted_when_configured() {
    let mut codecs = default_codecs();
    codecs.push(Codec::new("video", "MPV", None));
    let sdp = answer(&fixture("rfc4317-2.1.offer.sdp"), &ctx(&codecs)).expect("answers");
    let sections = sections(&sdp);
    assert_eq!(
        sections[1],
        [
            "m=video 40002 RTP/AVP 32",
            "a=rtpmap:32 MPV/90000",
            "a=sendrecv"
        ]
    );
    // Media type matters: an audio codec named MPV would not match video.
    let codecs = vec![Codec::new("audio", "MPV", None)];
    let answer = negotiate(&fixture("rfc4317-2.1.offer.sdp"), &ctx(&codecs)).expect("answers");
    assert_eq!(answer.accepted, 0);
}

/// RFC 4317 §2.5 offers only iLBC and H261: nothing in common with the
/// default list, so both streams get port 0.
#[test]
fn no_common_codec_rejects_every_stream() {
    let codecs = default_codecs();
    let result = negotiate(&fixture("rfc4317-2.5.offer.sdp"), &ctx(&codecs)).expect("answers");
    assert_eq!(result.accepted, 0);
    assert_eq!(
        sections(&result.sdp),
        [vec!["m=audio 0 RTP/AVP 97"], vec!["m=video 0 RTP/AVP 31"]]
    );
    // G729 + iLBC + telephone-event: telephone-event alone does not make a
    // voice stream, so it is rejected too, keeping the first offered format.
    let result = negotiate(&fixture("no-common-codec.offer.sdp"), &ctx(&codecs)).expect("answers");
    assert_eq!(result.accepted, 0);
    assert_eq!(sections(&result.sdp), [vec!["m=audio 0 RTP/AVP 18"]]);
}

/// RFC 4317 §2.4: a second, send-only stream of telephone-event only is
/// accepted as receive-only on its own port.
#[test]
fn dtmf_only_stream_is_accepted_and_mirrored() {
    let sdp = answer_default("rfc4317-2.4.offer.sdp");
    assert_eq!(
        sections(&sdp),
        [
            vec![
                "m=audio 40000 RTP/AVP 0",
                "a=rtpmap:0 PCMU/8000",
                "a=sendrecv"
            ],
            vec![
                "m=audio 40002 RTP/AVP 98",
                "a=rtpmap:98 telephone-event/8000",
                "a=recvonly"
            ],
        ]
    );
}

/// RFC 4317 §2.6: the second stream offers iLBC and telephone-event; iLBC
/// is not in the list, so the stream is rejected, and the first (PCMU)
/// accepted — the opposite of the RFC's Bob, who prefers iLBC.
#[test]
fn multiple_streams_are_answered_independently() {
    let sdp = answer_default("rfc4317-2.6.offer.sdp");
    let sections = sections(&sdp);
    assert_eq!(sections[0][0], "m=audio 40000 RTP/AVP 0");
    assert_eq!(sections[1], ["m=audio 0 RTP/AVP 97"]);
}

/// The offer's order wins over the list's (RFC 3264 §6.1): PCMA is offered
/// before PCMU, so PCMA is kept; telephone-event comes second with its fmtp.
#[test]
fn offer_order_and_telephone_event_with_fmtp() {
    let sdp = answer_default("hold-inactive.offer.sdp");
    assert_eq!(
        sections(&sdp),
        [vec![
            "m=audio 40000 RTP/AVP 9 101",
            "a=rtpmap:9 G722/8000",
            "a=rtpmap:101 telephone-event/8000",
            "a=fmtp:101 0-15",
            "a=inactive"
        ]]
    );
    let codecs = default_codecs();
    let sdp = answer(&fixture("ipv6-static-types.offer.sdp"), &ctx(&codecs)).expect("answers");
    // Static payload types without rtpmap are recognised (RFC 3551 §6),
    // and the answer writes their rtpmap.
    assert_eq!(
        sections(&sdp),
        [vec![
            "m=audio 40000 RTP/AVP 8",
            "a=rtpmap:8 PCMA/8000",
            "a=sendrecv"
        ]]
    );
}

/// RFC 4317 §3.2's second offer puts the first stream on hold (sendonly)
/// and keeps the tone stream recvonly: the answer mirrors both.
#[test]
fn hold_directions_are_mirrored() {
    let mut codecs = default_codecs();
    codecs.push(Codec::new("audio", "iLBC", Some(8000)));
    let sdp = answer(&fixture("rfc4317-3.2.second-offer.sdp"), &ctx(&codecs)).expect("answers");
    let sections = sections(&sdp);
    assert_eq!(sections[0].last(), Some(&"a=recvonly"));
    assert_eq!(sections[1].last(), Some(&"a=sendonly"));
    // Session-level a=inactive applies to the stream and stays inactive.
    let sdp = answer_default("hold-inactive.offer.sdp");
    assert!(lines(&sdp).contains(&"a=inactive"));
}

/// RFC 4317 §4.3's second offer disables the video stream with port 0: it
/// stays disabled even when video is configured (RFC 3264 §8.2).
#[test]
fn stream_offered_with_port_zero_stays_rejected() {
    let mut codecs = default_codecs();
    codecs.push(Codec::new("video", "H261", Some(90000)));
    codecs.push(Codec::new("audio", "iLBC", None));
    let result =
        negotiate(&fixture("rfc4317-4.3.second-offer.sdp"), &ctx(&codecs)).expect("answers");
    assert_eq!(result.accepted, 1);
    assert_eq!(sections(&result.sdp)[1], ["m=video 0 RTP/AVP 31"]);
    // The same list accepts both in the first offer, iLBC keeping 97.
    let sdp = answer(&fixture("rfc4317-4.3.offer.sdp"), &ctx(&codecs)).expect("answers");
    let sections = sections(&sdp);
    assert_eq!(
        sections[0][..2],
        ["m=audio 40000 RTP/AVP 97", "a=rtpmap:97 iLBC/8000"]
    );
    assert_eq!(sections[1][0], "m=video 40002 RTP/AVP 31");
}

/// RFC 4317 §5.1: an offer without media gets an answer without media.
#[test]
fn offer_without_media_gets_session_only_answer() {
    let sdp = answer_default("rfc4317-5.1.offer.sdp");
    assert_eq!(lines(&sdp).len(), 5);
    assert!(sections(&sdp).is_empty());
}

/// RFC 4317 §5.2: c=0.0.0.0 in the offer does not change the answer.
#[test]
fn black_holed_offer_is_answered_normally() {
    let mut codecs = default_codecs();
    codecs.push(Codec::new("audio", "iLBC", Some(8000)));
    let result = negotiate(&fixture("rfc4317-5.2.offer.sdp"), &ctx(&codecs)).expect("answers");
    assert_eq!(result.accepted, 1);
    assert!(result.sdp.contains("c=IN IP4 192.0.2.1\r\n"));
}

#[test]
fn session_version_comes_from_the_context() {
    let codecs = default_codecs();
    let offer = fixture("rfc4317-3.1.offer.sdp");
    let first = answer(&offer, &ctx(&codecs)).expect("answers");
    let later_ctx = AnswerContext {
        session_version: 2,
        ..ctx(&codecs)
    };
    let later = answer(&offer, &later_ctx).expect("answers");
    assert!(first.contains("o=- 1234 1 IN IP4 192.0.2.1\r\n"));
    assert!(later.contains("o=- 1234 2 IN IP4 192.0.2.1\r\n"));
    let differing: Vec<_> = lines(&first)
        .into_iter()
        .zip(lines(&later))
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(differing.len(), 1, "only o= changes");
}

#[test]
fn ipv6_context_writes_ip6() {
    let codecs = default_codecs();
    let ctx = AnswerContext {
        address: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        ..ctx(&codecs)
    };
    let sdp = answer(&fixture("ipv6-static-types.offer.sdp"), &ctx).expect("answers");
    assert!(sdp.contains("o=- 1234 1 IN IP6 2001:db8::1\r\n"));
    assert!(sdp.contains("c=IN IP6 2001:db8::1\r\n"));
}

#[test]
fn ports_step_by_two_and_overflow_is_an_error() {
    let codecs = default_codecs();
    let ctx = AnswerContext {
        base_port: 65534,
        ..ctx(&codecs)
    };
    let result = answer(&fixture("rfc4317-2.4.offer.sdp"), &ctx);
    assert_eq!(
        result,
        Err(SdpError::PortRange {
            base: 65534,
            index: 1
        })
    );
    // Rejected streams need no port: the same base answers 2.1.
    let sdp = answer(&fixture("rfc4317-2.1.offer.sdp"), &ctx).expect("answers");
    assert!(sdp.contains("m=audio 65534 RTP/AVP 0\r\n"));
}

#[test]
fn preference_list_matches_case_insensitively_and_by_clock_rate() {
    let offer = "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 1 RTP/AVP 96 97\r\n\
                 a=rtpmap:96 OPUS/16000/2\r\na=rtpmap:97 Opus/48000/2\r\n";
    let codecs = default_codecs();
    let sdp = answer(offer, &ctx(&codecs)).expect("answers");
    assert_eq!(
        sections(&sdp)[0][..2],
        ["m=audio 40000 RTP/AVP 97", "a=rtpmap:97 Opus/48000/2"]
    );
    let any_rate = vec![Codec::new("AUDIO", "opus", None)];
    let sdp = answer(offer, &ctx(&any_rate)).expect("answers");
    assert_eq!(sections(&sdp)[0][0], "m=audio 40000 RTP/AVP 96");
}

/// Property: every fixture (offers and the RFC's answers alike) is
/// answered; the answer is CRLF-only, re-parses, mirrors the offer's
/// m-lines (RFC 3264 §6), and does not depend on the offer's line ends.
#[test]
fn every_fixture_answers_and_reparses() {
    let fixtures = all_fixtures();
    assert!(fixtures.len() >= 60, "fixtures found: {}", fixtures.len());
    for codecs in [default_codecs(), codecs_with_vp8()] {
        for (name, offer) in &fixtures {
            let ctx = ctx(&codecs);
            let sdp = answer(offer, &ctx).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                sdp.ends_with("\r\n") && !sdp.replace("\r\n", "").contains(['\r', '\n']),
                "{name}: CRLF only"
            );
            let reparsed = parse(&sdp).unwrap_or_else(|e| panic!("{name}: {e}\n{sdp}"));
            let offered = parse(offer).expect("fixture parses");
            assert_eq!(reparsed.media.len(), offered.media.len(), "{name}");
            check_answer(offer, &sdp).unwrap_or_else(|e| panic!("{name}: {e}"));
            let lf = answer(&offer.replace("\r\n", "\n"), &ctx).expect("LF offer answers");
            assert_eq!(sdp, lf, "{name}: line ends matter");
            // An answer offered back is answered too (any SDP can be offered).
            answer(&sdp, &ctx).unwrap_or_else(|e| panic!("{name}: re-offer: {e}"));
        }
    }
}

/// The RFC's own answers answer the RFC's offers, m-line for m-line.
#[test]
fn rfc4317_answers_check_against_their_offers() {
    let fixtures = all_fixtures();
    let mut checked = 0;
    for (name, answer) in &fixtures {
        let Some(offer_name) = name
            .strip_suffix("answer.sdp")
            .map(|stem| format!("{stem}offer.sdp"))
            .filter(|_| name.starts_with("rfc4317-"))
        else {
            continue;
        };
        let offer = fixture(&offer_name);
        check_answer(&offer, answer).unwrap_or_else(|e| panic!("{name}: {e}"));
        checked += 1;
    }
    assert_eq!(checked, 27);
}
