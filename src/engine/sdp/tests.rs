//! Tests of the SDP service: what each request gets, session versions,
//! one session description per initial INVITE, offers refused.

use super::*;
use crate::sip::{Limits, parse_datagram};

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0 8\r\n";

fn request(method: &str, body: &str) -> Request {
    let text = format!(
        "{method} sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-1\r\n\
         Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n\
         Call-ID: sdp-unit\r\nCSeq: 1 {method}\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let message = parse_datagram(text.as_bytes(), &Limits::default()).expect("parses");
    Request::validate(message).expect("valid")
}

fn settings(codec: &str) -> SdpSettings {
    SdpSettings {
        codecs: vec![format!("audio/{codec}/8000").parse().expect("codec")],
        public_address: None,
        base_port: 40_000,
        prefer: Preference::Theirs,
        generation: 0,
    }
}

fn origin_version(sdp: &str) -> u64 {
    let origin = sdp.lines().find(|l| l.starts_with("o=")).expect("o=");
    origin
        .split(' ')
        .nth(2)
        .expect("version")
        .parse()
        .expect("number")
}

#[test]
fn what_each_request_gets() {
    assert_eq!(
        SdpReply::for_request(&request("INVITE", OFFER)),
        SdpReply::Answer
    );
    assert_eq!(
        SdpReply::for_request(&request("UPDATE", OFFER)),
        SdpReply::Answer
    );
    assert_eq!(
        SdpReply::for_request(&request("INVITE", "")),
        SdpReply::Offer
    );
    assert_eq!(
        SdpReply::for_request(&request("UPDATE", "")),
        SdpReply::Nothing
    );
    assert_eq!(
        SdpReply::for_request(&request("PRACK", " \r\n")),
        SdpReply::Nothing
    );
}

#[test]
fn new_settings_move_the_session_version_for_the_same_offer() {
    let service = SdpService::new().expect("service");
    let local = IpAddr::from([127, 0, 0, 1]);
    let update = request("UPDATE", OFFER);
    let pcmu = settings("PCMU");
    let first = service.answer(&update, local, &pcmu).expect("answers");
    assert_eq!(
        origin_version(&service.answer(&update, local, &pcmu).expect("answers")),
        origin_version(&first)
    );
    let same = pcmu.successor(&settings("PCMU"));
    assert_eq!(
        origin_version(&service.answer(&update, local, &same).expect("answers")),
        origin_version(&first),
        "a reload that changes nothing keeps the version"
    );
    let pcma = same.successor(&settings("PCMA"));
    let after = service.answer(&update, local, &pcma).expect("answers");
    assert!(after.contains("m=audio 40000 RTP/AVP 8\r\n"), "{after}");
    assert_eq!(origin_version(&after), origin_version(&first) + 1);
    assert!(
        service
            .answer(&request("UPDATE", ""), local, &pcma)
            .expect("answers")
            .is_empty()
    );
}

/// The responses to one initial INVITE repeat the last SDP sent for it,
/// also when a PRACK or UPDATE of its early dialog changed it, and a
/// reload in between changes nothing.
#[test]
fn an_initial_invite_gets_the_last_sdp_sent_for_it() {
    let service = SdpService::new().expect("service");
    let local = IpAddr::from([127, 0, 0, 1]);
    let invite = request("INVITE", OFFER);
    let pcmu = settings("PCMU");
    let early = service.answer(&invite, local, &pcmu).expect("answers");
    let pcma = pcmu.successor(&settings("PCMA"));
    assert_eq!(
        service.answer(&invite, local, &pcma).expect("answers"),
        early
    );
    let second_offer = OFFER.replace("5000", "5002");
    let reoffer = service
        .answer(&request("UPDATE", &second_offer), local, &pcma)
        .expect("answers");
    assert_eq!(origin_version(&reoffer), origin_version(&early) + 1);
    assert_eq!(
        service.answer(&invite, local, &pcma).expect("answers"),
        reoffer,
        "the 2xx repeats it"
    );
}

fn request_typed(content_type: &str, body: &str) -> Request {
    let text = format!(
        "INVITE sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-2\r\n\
         Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n\
         Call-ID: sdp-typed\r\nCSeq: 1 INVITE\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let message = parse_datagram(text.as_bytes(), &Limits::default()).expect("parses");
    Request::validate(message).expect("valid")
}

/// RFC 3261 §13.3.1.4: no answer, no 2xx; each defect has its refusal.
#[test]
fn offers_without_an_answer_are_refused() {
    let service = SdpService::new().expect("service");
    let local = IpAddr::from([127, 0, 0, 1]);
    let pcmu = settings("PCMU");
    let refusal = |request: &Request| service.answer(request, local, &pcmu).err();
    let g729 = OFFER.replace("RTP/AVP 0 8", "RTP/AVP 18");
    assert_eq!(
        refusal(&request("INVITE", &g729)),
        Some(OfferRefusal::NoCommonMedia { media_known: true })
    );
    let video = OFFER.replace("m=audio 5000 RTP/AVP 0 8", "m=video 5000 RTP/AVP 31");
    assert_eq!(
        refusal(&request("UPDATE", &video)),
        Some(OfferRefusal::NoCommonMedia { media_known: false })
    );
    let garbage = refusal(&request("INVITE", "this is no SDP"));
    assert!(
        matches!(garbage, Some(OfferRefusal::Unparseable(_))),
        "{garbage:?}"
    );
    assert_eq!(garbage.map(|r| r.status()), Some(400));
    let typed = refusal(&request_typed("aaaaaaaaa", OFFER));
    assert_eq!(typed.map(|r| r.status()), Some(415));
    // A stream the offer itself disabled leaves nothing to refuse.
    let disabled = OFFER.replace("m=audio 5000", "m=audio 0");
    assert!(
        service
            .answer(&request("UPDATE", &disabled), local, &pcmu)
            .is_ok()
    );
}

#[test]
fn the_sdp_part_of_a_multipart_offer_is_answered() {
    let service = SdpService::new().expect("service");
    let body = format!(
        "--b1\r\nContent-Type: application/sdp\r\n\r\n{OFFER}\r\n--b1\r\n\
         Content-Type: application/ISUP;version=itu-t92+\r\n\r\nxx\r\n--b1--\r\n"
    );
    let request = request_typed("multipart/mixed;boundary=b1", &body);
    let answer = service
        .answer(&request, IpAddr::from([127, 0, 0, 1]), &settings("PCMU"))
        .expect("answers");
    assert!(answer.contains("m=audio 40000 RTP/AVP 0\r\n"), "{answer}");
}

/// `[sdp] prefer = "ours"`: our first codec the offer lists, not the
/// offer's first that we have.
#[test]
fn prefer_ours_takes_our_order() {
    let offer = OFFER.replace("RTP/AVP 0 8", "RTP/AVP 8 0");
    let mut ours = SdpSettings {
        codecs: crate::rules::sdp::default_codecs(),
        ..settings("PCMU")
    };
    let local = IpAddr::from([127, 0, 0, 1]);
    let service = SdpService::new().expect("service");
    let answer = service
        .answer(&request("UPDATE", &offer), local, &ours)
        .expect("answers");
    assert!(answer.contains("RTP/AVP 8\r\n"), "{answer}");
    ours.prefer = Preference::Ours;
    let answer = service
        .answer(&request("UPDATE", &offer), local, &ours)
        .expect("answers");
    assert!(answer.contains("RTP/AVP 0\r\n"), "{answer}");
}
