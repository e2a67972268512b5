//! Late offer tests: the 2xx's offer, the ACK's answer, and the codec list's text form.

use super::{codecs_with_vp8, ctx, fixture, sections};
use crate::rules::sdp::{
    AnswerContext, Codec, SdpError, accept_answer, answer, check_answer, default_codecs, negotiate,
    offer, parse,
};

#[test]
fn late_offer_lists_the_audio_codecs() {
    let codecs = default_codecs();
    let sdp = offer(&ctx(&codecs));
    assert!(sdp.starts_with(
        "v=0\r\no=- 1234 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
    ));
    assert_eq!(
        sections(&sdp),
        [vec![
            "m=audio 40000 RTP/AVP 0 8 9 96 97",
            "a=rtpmap:0 PCMU/8000",
            "a=rtpmap:8 PCMA/8000",
            "a=rtpmap:9 G722/8000",
            "a=rtpmap:96 opus/48000/2",
            "a=rtpmap:97 telephone-event/8000",
            "a=fmtp:97 0-16",
            "a=sendrecv"
        ]]
    );
    accept_answer(&sdp).expect("our own offer parses");
}

#[test]
fn late_offer_adds_configured_video() {
    let codecs = codecs_with_vp8();
    let sdp = offer(&ctx(&codecs));
    let sections = sections(&sdp);
    assert_eq!(sections.len(), 2);
    assert_eq!(
        sections[1],
        [
            "m=video 40002 RTP/AVP 96",
            "a=rtpmap:96 VP8/90000",
            "a=sendrecv"
        ]
    );
    // Nothing configured: a session without media (RFC 4317 §5.1 style).
    let sdp = offer(&ctx(&[]));
    assert!(sections_empty(&sdp));
}

fn sections_empty(sdp: &str) -> bool {
    parse(sdp).expect("parses").media.is_empty()
}

#[test]
fn late_offer_round_trips_through_our_answerer() {
    let codecs = default_codecs();
    let our_offer = offer(&ctx(&codecs));
    let peer = AnswerContext {
        session_id: 5678,
        base_port: 30000,
        ..ctx(&codecs)
    };
    let result = negotiate(&our_offer, &peer).expect("answers");
    assert_eq!(result.accepted, 1);
    accept_answer(&result.sdp).expect("the ACK's answer is accepted");
    check_answer(&our_offer, &result.sdp).expect("mirrors the offer");
    assert!(result.sdp.contains("m=audio 30000 RTP/AVP 0 97\r\n"));
}

#[test]
fn answers_from_the_ack_are_checked() {
    accept_answer(&fixture("rfc4317-2.1.answer.sdp")).expect("RFC answer");
    assert!(accept_answer("").is_err());
    assert!(accept_answer("v=0\r\nm=audio x RTP/AVP 0\r\n").is_err());

    let our_offer = offer(&ctx(&default_codecs()));
    let two_lines = fixture("rfc4317-2.1.answer.sdp");
    assert_eq!(
        check_answer(&our_offer, &two_lines),
        Err(SdpError::MediaMismatch {
            offered: 1,
            answered: 2
        })
    );
    let video = "v=0\r\no=- 1 1 IN IP4 a\r\nm=video 0 RTP/AVP 31\r\n";
    assert!(matches!(
        check_answer(&our_offer, video),
        Err(SdpError::MediaTypeMismatch { index: 0, .. })
    ));
}

#[test]
fn codec_text_form() {
    let codec: Codec = "video/VP8/90000".parse().expect("parses");
    assert_eq!(codec, Codec::new("video", "VP8", Some(90000)));
    assert_eq!(codec.to_string(), "video/VP8/90000");
    let codec: Codec = "audio/telephone-event".parse().expect("parses");
    assert_eq!(codec.clock_rate, None);
    assert!(codec.is_telephone_event());
    for bad in [
        "",
        "audio",
        "audio/",
        "audio/PCMU/x",
        "audio/PCMU/8000/1",
        "a b/PCMU",
    ] {
        assert!(bad.parse::<Codec>().is_err(), "{bad:?}");
    }
}

#[test]
fn late_offer_port_overflow_drops_the_extra_stream() {
    let codecs = codecs_with_vp8();
    let ctx = AnswerContext {
        base_port: 65534,
        ..ctx(&codecs)
    };
    let sdp = offer(&ctx);
    assert_eq!(sections(&sdp).len(), 1);
    // And answering it with a video-capable peer still works.
    let answered = answer(&sdp, &ctx).expect("answers");
    assert!(answered.contains("m=audio 65534 RTP/AVP 0 97\r\n"));
}
