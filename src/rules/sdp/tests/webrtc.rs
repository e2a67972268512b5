//! WebRTC (SIP.js/Chrome, JsSIP/Firefox), DTLS identity and SDES answer tests.

use super::{attribute, codecs_with_vp8, ctx, fixture, identity, lines, sections, session_lines};
use crate::rules::sdp::{
    AnswerContext, DtlsIdentity, answer, default_codecs, negotiate, parse, sha256_fingerprint,
};

fn is_ice_chars(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

fn is_sha256_fingerprint(text: &str) -> bool {
    let bytes: Vec<&str> = text.split(':').collect();
    bytes.len() == 32
        && bytes.iter().all(|byte| {
            byte.len() == 2
                && byte
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
        })
}

/// Every attribute an accepted WebRTC m-line needs, with valid values.
fn assert_webrtc_section(section: &[&str], port: u16, mid: &str) {
    let ufrag = attribute(section, "ice-ufrag").expect("ice-ufrag");
    let pwd = attribute(section, "ice-pwd").expect("ice-pwd");
    assert!(ufrag.len() >= 4 && is_ice_chars(ufrag), "ufrag {ufrag}");
    assert!(pwd.len() >= 22 && is_ice_chars(pwd), "pwd {pwd}");
    let fingerprint = attribute(section, "fingerprint").expect("fingerprint");
    let value = fingerprint.strip_prefix("sha-256 ").expect("sha-256");
    assert!(is_sha256_fingerprint(value), "{value}");
    assert_eq!(value, identity().fingerprint());
    assert_eq!(attribute(section, "setup"), Some("active"));
    assert_eq!(attribute(section, "mid"), Some(mid));
    assert!(section.contains(&"a=rtcp-mux"));
    let candidate = format!("1 1 udp 2130706431 192.0.2.1 {port} typ host");
    assert_eq!(attribute(section, "candidate"), Some(candidate.as_str()));
    assert!(section.contains(&"a=end-of-candidates"));
}

#[test]
fn sipjs_chrome_offer_gets_a_complete_webrtc_answer() {
    let codecs = default_codecs();
    let sdp = answer(&fixture("webrtc-sipjs-chrome.offer.sdp"), &ctx(&codecs)).expect("answers");
    let session = session_lines(&sdp);
    assert!(session.contains(&"a=ice-lite"));
    assert!(session.contains(&"a=group:BUNDLE 0"));
    let sections = sections(&sdp);
    assert_eq!(sections.len(), 1);
    let audio = &sections[0];
    // opus first in the offer's order; the 48 kHz telephone-event to go with it.
    assert_eq!(audio[0], "m=audio 40000 UDP/TLS/RTP/SAVPF 111 110");
    assert_eq!(
        audio[1..5],
        [
            "a=rtpmap:111 opus/48000/2",
            "a=fmtp:111 minptime=10;useinbandfec=1",
            "a=rtpmap:110 telephone-event/48000",
            "a=sendrecv"
        ]
    );
    assert_webrtc_section(audio, 40000, "0");
    // Nothing of the offerer's own transport leaks into the answer.
    assert!(!sdp.contains("Vq3x") && !sdp.contains("a=ssrc") && !sdp.contains("rtcp-fb"));
}

#[test]
fn jssip_firefox_offer_rejects_video_by_default() {
    let codecs = default_codecs();
    let result =
        negotiate(&fixture("webrtc-jssip-firefox.offer.sdp"), &ctx(&codecs)).expect("answers");
    assert_eq!(result.accepted, 1);
    let sdp = result.sdp;
    assert!(session_lines(&sdp).contains(&"a=group:BUNDLE 0"));
    let sections = sections(&sdp);
    assert_eq!(sections[0][0], "m=audio 40000 UDP/TLS/RTP/SAVPF 109 101");
    assert!(sections[0].contains(&"a=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1"));
    assert!(sections[0].contains(&"a=rtpmap:101 telephone-event/8000/1"));
    // Session-level fingerprint in the offer is enough.
    assert_webrtc_section(&sections[0], 40000, "0");
    assert_eq!(sections[1], ["m=video 0 UDP/TLS/RTP/SAVPF 120", "a=mid:1"]);
}

#[test]
fn jssip_firefox_video_bundles_when_vp8_is_configured() {
    let codecs = codecs_with_vp8();
    let sdp = answer(&fixture("webrtc-jssip-firefox.offer.sdp"), &ctx(&codecs)).expect("answers");
    assert!(session_lines(&sdp).contains(&"a=group:BUNDLE 0 1"));
    let sections = sections(&sdp);
    // Bundled m-lines share the first one's port (RFC 8843).
    assert_eq!(sections[1][0], "m=video 40000 UDP/TLS/RTP/SAVPF 120");
    assert!(sections[1].contains(&"a=fmtp:120 max-fs=12288;max-fr=60"));
    assert_webrtc_section(&sections[0], 40000, "0");
    assert_webrtc_section(&sections[1], 40000, "1");
    // One set of credentials per answer.
    assert_eq!(
        attribute(&sections[0], "ice-ufrag"),
        attribute(&sections[1], "ice-ufrag")
    );
}

/// RFC 8843 §7.3.1: a bundle-only m-line offered with port 0 is accepted
/// into the group; without bundle-only, port 0 stays rejected.
#[test]
fn bundle_only_stream_is_accepted_into_the_group() {
    let codecs = codecs_with_vp8();
    let offer = fixture("webrtc-jssip-firefox.offer.sdp").replace(
        "m=video 61733 UDP/TLS/RTP/SAVPF",
        "m=video 0 UDP/TLS/RTP/SAVPF",
    );
    let bundle_only = offer.replace("a=mid:1\r\n", "a=mid:1\r\na=bundle-only\r\n");
    let sdp = answer(&bundle_only, &ctx(&codecs)).expect("answers");
    assert!(session_lines(&sdp).contains(&"a=group:BUNDLE 0 1"));
    assert_eq!(sections(&sdp)[1][0], "m=video 40000 UDP/TLS/RTP/SAVPF 120");
    let sdp = answer(&offer, &ctx(&codecs)).expect("answers");
    assert!(session_lines(&sdp).contains(&"a=group:BUNDLE 0"));
    assert_eq!(sections(&sdp)[1][0], "m=video 0 UDP/TLS/RTP/SAVPF 120");
}

#[test]
fn data_channel_is_rejected_and_left_out_of_bundle() {
    let codecs = codecs_with_vp8();
    let sdp = answer(
        &fixture("webrtc-chrome-datachannel.offer.sdp"),
        &ctx(&codecs),
    )
    .expect("answers");
    assert!(session_lines(&sdp).contains(&"a=group:BUNDLE 0 1"));
    let sections = sections(&sdp);
    assert_eq!(sections[1][0], "m=video 40000 UDP/TLS/RTP/SAVPF 96");
    assert_eq!(
        sections[2],
        [
            "m=application 0 UDP/DTLS/SCTP webrtc-datachannel",
            "a=mid:2"
        ]
    );
    // Default list: only audio remains in the group.
    let codecs = default_codecs();
    let sdp = answer(
        &fixture("webrtc-chrome-datachannel.offer.sdp"),
        &ctx(&codecs),
    )
    .expect("answers");
    assert!(session_lines(&sdp).contains(&"a=group:BUNDLE 0"));
    assert_eq!(sections_of(&sdp, 1)[0], "m=video 0 UDP/TLS/RTP/SAVPF 96");
}

fn sections_of(sdp: &str, index: usize) -> Vec<String> {
    sections(sdp)[index]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

#[test]
fn setup_role_follows_rfc4145() {
    let codecs = default_codecs();
    let offer = fixture("webrtc-sipjs-chrome.offer.sdp");
    for (offered, answered) in [
        ("active", "passive"),
        ("passive", "active"),
        ("holdconn", "holdconn"),
    ] {
        let text = offer.replace("a=setup:actpass", &format!("a=setup:{offered}"));
        let sdp = answer(&text, &ctx(&codecs)).expect("answers");
        assert_eq!(
            attribute(&sections(&sdp)[0], "setup"),
            Some(answered),
            "{offered}"
        );
    }
    // No a=setup: the offerer is active (RFC 4145 §4), so we are passive.
    let text = offer.replace("a=setup:actpass\r\n", "");
    let sdp = answer(&text, &ctx(&codecs)).expect("answers");
    assert_eq!(attribute(&sections(&sdp)[0], "setup"), Some("passive"));
}

#[test]
fn dtls_without_fingerprint_is_rejected() {
    let codecs = default_codecs();
    let offer = fixture("webrtc-sipjs-chrome.offer.sdp");
    let start = offer.find("a=fingerprint:").expect("fingerprint");
    let end = start + offer[start..].find("\r\n").expect("line end") + 2;
    let text = format!("{}{}", &offer[..start], &offer[end..]);
    let result = negotiate(&text, &ctx(&codecs)).expect("answers");
    assert_eq!(result.accepted, 0);
    assert!(!result.sdp.contains("a=group:BUNDLE"));
    assert!(!result.sdp.contains("a=ice-lite"));
}

#[test]
fn ice_credentials_are_stable_per_session_and_differ_between_sessions() {
    let codecs = default_codecs();
    let offer = fixture("webrtc-sipjs-chrome.offer.sdp");
    let pwd_of = |ctx: &AnswerContext<'_>| {
        let sdp = answer(&offer, ctx).expect("answers");
        let section = sections(&sdp)[0]
            .iter()
            .map(|s| (*s).to_owned())
            .collect::<Vec<_>>();
        section
            .iter()
            .find_map(|line| line.strip_prefix("a=ice-pwd:").map(str::to_owned))
            .expect("ice-pwd")
    };
    let first = pwd_of(&ctx(&codecs));
    let re_answer = pwd_of(&AnswerContext {
        session_version: 7,
        ..ctx(&codecs)
    });
    let other_call = pwd_of(&AnswerContext {
        session_id: 99,
        ..ctx(&codecs)
    });
    assert_eq!(first, re_answer);
    assert_ne!(first, other_call);
}

#[test]
fn dtls_identity_fingerprint_is_the_certificate_hash() {
    let id = identity();
    assert!(is_sha256_fingerprint(id.fingerprint()));
    assert_eq!(id.fingerprint(), sha256_fingerprint(id.certificate_der()));
    assert!(!id.private_key_der().is_empty());
    let other = DtlsIdentity::generate().expect("generates");
    assert_ne!(other.fingerprint(), id.fingerprint());
    let debug = format!("{id:?}");
    assert!(debug.contains(id.fingerprint()) && !debug.contains("secret"));
    // RFC 4648-style known value: SHA-256 of the empty input.
    assert!(sha256_fingerprint(b"").starts_with("E3:B0:C4:42:98:FC:1C:14"));
}

#[test]
fn sdes_offer_gets_a_crypto_key() {
    let codecs = default_codecs();
    let sdp = answer(&fixture("sdes-srtp.offer.sdp"), &ctx(&codecs)).expect("answers");
    let sections = sections(&sdp);
    let audio = &sections[0];
    assert_eq!(audio[0], "m=audio 40000 RTP/SAVP 8 101");
    let crypto = attribute(audio, "crypto").expect("a=crypto");
    let key = crypto
        .strip_prefix("1 AES_CM_128_HMAC_SHA1_80 inline:")
        .expect("first offered suite, same tag");
    // 30 bytes of key and salt: 40 base64 characters (RFC 4568 §6.1).
    assert_eq!(key.len(), 40);
    assert!(
        key.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    );
    assert!(!sdp.contains("a=ice") && !sdp.contains("a=fingerprint"));
    // Without a usable a=crypto the SAVP stream is rejected.
    let text = fixture("sdes-srtp.offer.sdp").replace("AES_CM_128_HMAC_SHA1_", "F8_128_HMAC_SHA1_");
    let result = negotiate(&text, &ctx(&codecs)).expect("answers");
    assert_eq!(result.accepted, 0);
}

#[test]
fn webrtc_answers_reparse_with_their_attributes() {
    let codecs = codecs_with_vp8();
    for name in [
        "webrtc-sipjs-chrome.offer.sdp",
        "webrtc-jssip-firefox.offer.sdp",
        "webrtc-chrome-datachannel.offer.sdp",
    ] {
        let sdp = answer(&fixture(name), &ctx(&codecs)).expect("answers");
        let sd = parse(&sdp).expect("re-parses");
        assert!(sd.ice_lite, "{name}");
        for media in sd.media.iter().filter(|m| m.port != 0) {
            assert!(sd.ice_credentials(media).is_some(), "{name}");
            assert_eq!(sd.fingerprints_of(media).len(), 1, "{name}");
            assert_eq!(media.candidates.len(), 1, "{name}");
            assert!(media.rtcp_mux && media.mid.is_some(), "{name}");
        }
        assert!(lines(&sdp).iter().all(|line| line.len() < 200));
    }
}
