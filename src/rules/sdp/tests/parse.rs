//! Parser tests: fields, line ends, session-level defaults, malformed and hostile input.

use super::{all_fixtures, fixture};
use crate::rules::sdp::{
    Direction, MAX_FORMATS, MAX_MEDIA, MAX_SDP_LEN, SdpError, Setup, answer, default_codecs, parse,
};

#[test]
fn parses_the_rfc4317_audio_and_video_offer() {
    let sd = parse(&fixture("rfc4317-2.1.offer.sdp")).expect("parses");
    assert_eq!(sd.origin.username, "alice");
    assert_eq!(sd.origin.session_id, "2890844526");
    assert_eq!(sd.origin.address, "host.atlanta.example.com");
    let connection = sd.connection.as_ref().expect("session c=");
    assert_eq!(
        (connection.addr_type.as_str(), connection.address.as_str()),
        ("IP4", "host.atlanta.example.com")
    );
    assert_eq!(sd.media.len(), 2);
    let audio = &sd.media[0];
    assert_eq!(
        (audio.media.as_str(), audio.port, audio.proto.as_str()),
        ("audio", 49170, "RTP/AVP")
    );
    assert_eq!(audio.formats, ["0", "8", "97"]);
    let ilbc = audio.rtpmap(97).expect("rtpmap 97");
    assert_eq!((ilbc.encoding.as_str(), ilbc.clock_rate), ("iLBC", 8000));
    assert_eq!(sd.media[1].formats, ["31", "32"]);
    assert_eq!(sd.direction_of(audio), Direction::SendRecv);
}

#[test]
fn crlf_and_lf_line_ends_parse_the_same() {
    for (name, text) in all_fixtures() {
        let lf = text.replace("\r\n", "\n");
        assert_eq!(parse(&text), parse(&lf), "{name}");
        // Blank lines and trailing blanks are tolerated too.
        let sloppy = format!("\n{}\n\n", lf.replace('\n', "  \n"));
        assert_eq!(parse(&text), parse(&sloppy), "{name}");
    }
}

#[test]
fn chrome_offer_fields() {
    let sd = parse(&fixture("webrtc-sipjs-chrome.offer.sdp")).expect("parses");
    let group = sd.bundle_group().expect("BUNDLE");
    assert_eq!(group.mids, ["0"]);
    let audio = &sd.media[0];
    assert_eq!(audio.proto, "UDP/TLS/RTP/SAVPF");
    assert!(audio.is_rtp() && audio.is_srtp() && audio.is_dtls_proto());
    assert_eq!(audio.mid.as_deref(), Some("0"));
    assert!(audio.rtcp_mux);
    assert_eq!(audio.candidates.len(), 3);
    assert_eq!(
        sd.ice_credentials(audio),
        Some(("Vq3x", "y8N3JGxGv3eD0LQp5Xm1b0Ue"))
    );
    assert_eq!(sd.setup_of(audio), Some(Setup::ActPass));
    assert_eq!(sd.fingerprints_of(audio).len(), 1);
    assert_eq!(sd.fingerprints_of(audio)[0].hash, "sha-256");
    assert_eq!(audio.rtcp_fb.len(), 1);
    let fmtp = audio.fmtp("111").expect("fmtp 111");
    assert_eq!(fmtp.params, "minptime=10;useinbandfec=1");
    // a=ssrc is dropped; other unknown attributes are kept in order.
    assert!(audio.attributes.iter().all(|a| a.name != "ssrc"));
    assert_eq!(audio.attributes[0].name, "rtcp");
    assert!(sd.attributes.iter().any(|a| a.name == "extmap-allow-mixed"));
}

#[test]
fn firefox_session_level_defaults_apply_to_media() {
    let sd = parse(&fixture("webrtc-jssip-firefox.offer.sdp")).expect("parses");
    assert_eq!(sd.direction, Some(Direction::SendRecv));
    assert_eq!(sd.transport.fingerprints.len(), 1);
    assert_eq!(sd.ice_options.as_deref(), Some("trickle"));
    for media in &sd.media {
        assert!(media.transport.fingerprints.is_empty());
        assert_eq!(
            sd.fingerprints_of(media),
            sd.transport.fingerprints.as_slice()
        );
        assert_eq!(
            sd.ice_credentials(media),
            Some(("7f2c9a1e", "3ba1b0c5f2e4a1d7c8e9f0a1b2c3d4e5"))
        );
    }
    let g722 = sd.media[0].rtpmap(9).expect("rtpmap 9");
    assert_eq!(g722.params.as_deref(), Some("1"));
}

#[test]
fn media_level_connection_and_port_count() {
    let sd = parse(&fixture("rfc4317-4.1.second-offer.sdp")).expect("parses");
    let tones = &sd.media[1];
    let connection = tones.connection.as_ref().expect("media c=");
    assert_eq!(connection.address, "mediaserver.biloxi.example.com");
    assert_eq!(tones.direction, Some(Direction::RecvOnly));

    let sd = parse("v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 49170/2 RTP/AVP 31\r\n").expect("parses");
    assert_eq!((sd.media[0].port, sd.media[0].port_count), (49170, Some(2)));
}

#[test]
fn malformed_offers_are_errors() {
    let head = "v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nt=0 0\r\n";
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "empty"),
        ("\r\n\r\n".to_owned(), "blank"),
        ("hello world".to_owned(), "not SDP"),
        ("v=1\r\no=- 1 1 IN IP4 a\r\n".to_owned(), "version 1"),
        ("o=- 1 1 IN IP4 a\r\nv=0\r\n".to_owned(), "v= not first"),
        ("v=0\r\ns=-\r\nt=0 0\r\n".to_owned(), "no o="),
        (
            "v=0\r\nv=0\r\no=- 1 1 IN IP4 a\r\n".to_owned(),
            "repeated v=",
        ),
        ("v=0\r\no=- 1 1 IN IP4\r\n".to_owned(), "o= with 5 fields"),
        (
            "v=0\r\no=- x 1 IN IP4 a\r\n".to_owned(),
            "o= session id not digits",
        ),
        (format!("{head}c=IN IP4\r\n"), "c= with 2 fields"),
        (format!("{head}no equals sign\r\n"), "not <type>=<value>"),
        (format!("{head}A=b\r\n"), "upper-case type"),
        (format!("{head}m=audio\r\n"), "m= without port"),
        (format!("{head}m=audio 70000 RTP/AVP 0\r\n"), "port > 65535"),
        (
            format!("{head}m=audio x RTP/AVP 0\r\n"),
            "port not a number",
        ),
        (format!("{head}m=audio 4000 RTP/AVP\r\n"), "no format"),
        (
            format!("{head}m=audio 4000 RTP/AVP 128\r\n"),
            "payload type 128",
        ),
        (
            format!("{head}m=audio 4000 RTP/AVP PCMU\r\n"),
            "payload type not a number",
        ),
        (
            format!("{head}m=audio 4000 RTP/AVP 96\r\na=rtpmap:96\r\n"),
            "rtpmap without encoding",
        ),
        (
            format!("{head}m=audio 4000 RTP/AVP 96\r\na=rtpmap:96 opus\r\n"),
            "rtpmap without rate",
        ),
        (
            format!("{head}m=audio 4000 RTP/AVP 96\r\na=rtpmap:200 x/8000\r\n"),
            "rtpmap pt 200",
        ),
        (
            format!("{head}a=fingerprint:sha-256\r\n"),
            "fingerprint without value",
        ),
        (format!("{head}a=setup:sideways\r\n"), "unknown setup role"),
        (
            format!("{head}m=audio 4000 RTP/AVP 0\r\na=mid:\r\n"),
            "empty mid",
        ),
        (
            format!("{head}m=audio 4000 RTP/AVP 0\r\na=mid:a b\r\n"),
            "mid with blank",
        ),
        (
            format!("{head}m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES\r\n"),
            "crypto too short",
        ),
        (format!("{head}a=ice-ufrag\r\n"), "ufrag without value"),
        (format!("{head}a=\r\n"), "empty attribute"),
        (format!("{head}s=a\0b\r\n"), "NUL"),
        (
            format!("{head}m=audio 4000 RTP/AVP 0\r\na=mid:0\rm=video 1 RTP/AVP 0\r\n"),
            "bare CR",
        ),
    ];
    for (text, why) in cases {
        let result = parse(&text);
        assert!(result.is_err(), "{why}: {result:?}");
        // An offer that does not parse cannot be answered either.
        let codecs = default_codecs();
        assert!(answer(&text, &super::ctx(&codecs)).is_err(), "{why}");
    }
}

#[test]
fn errors_name_the_line() {
    let text = "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 1 RTP/AVP 0\r\na=rtpmap:0\r\n";
    assert_eq!(
        parse(text),
        Err(SdpError::Malformed {
            line: 4,
            what: "a=rtpmap"
        })
    );
    assert_eq!(parse("x"), Err(SdpError::Version { line: 1 }));
    assert_eq!(parse(""), Err(SdpError::Empty));
    assert_eq!(parse("v=0\n"), Err(SdpError::Missing('o')));
}

#[test]
fn limits_bound_the_work() {
    let head = "v=0\r\no=- 1 1 IN IP4 a\r\n";
    let huge = format!("{head}{}", "a=x\r\n".repeat(MAX_SDP_LEN / 5));
    assert!(matches!(parse(&huge), Err(SdpError::TooLarge { .. })));

    let media = format!("{head}{}", "m=audio 1 RTP/AVP 0\r\n".repeat(MAX_MEDIA + 1));
    assert_eq!(
        parse(&media),
        Err(SdpError::TooManyMedia { max: MAX_MEDIA })
    );
    let at_limit = format!("{head}{}", "m=audio 1 RTP/AVP 0\r\n".repeat(MAX_MEDIA));
    assert_eq!(
        parse(&at_limit).expect("at the limit").media.len(),
        MAX_MEDIA
    );

    let formats = " 0".repeat(MAX_FORMATS + 1);
    let text = format!("{head}m=audio 1 RTP/AVP{formats}\r\n");
    assert_eq!(
        parse(&text),
        Err(SdpError::TooManyFormats {
            line: 3,
            max: MAX_FORMATS
        })
    );
}

#[test]
fn unknown_lines_and_attributes_are_tolerated() {
    let text = "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\ni=info\r\nu=http://x\r\ne=a@b\r\n\
                b=AS:64\r\nt=0 0\r\nr=7d 1h 0 25h\r\nz=0 0\r\nk=clear:x\r\ny=unknown\r\n\
                a=tool:x\r\nm=audio 1 RTP/AVP 0\r\nb=TIAS:64000\r\na=ptime:20\r\na=x-custom\r\n";
    let sd = parse(text).expect("parses");
    assert_eq!(sd.attributes[0].name, "tool");
    assert_eq!(sd.media[0].attributes.len(), 2);
}

/// Property: mutated fixtures (bytes dropped, duplicated, replaced by SDP
/// punctuation) never panic the parser or the answerer, and whatever is
/// answered re-parses.
#[test]
fn mutated_fixtures_never_panic() {
    let codecs = super::codecs_with_vp8();
    let ctx = super::ctx(&codecs);
    let alphabet: Vec<char> = "=:/ \r\n0123456789amvcos-".chars().collect();
    let mut rng = fastrand::Rng::with_seed(0x5d9);
    for (name, text) in all_fixtures() {
        for _ in 0..40 {
            let mut chars: Vec<char> = text.chars().collect();
            for _ in 0..rng.usize(1..6) {
                let at = rng.usize(..chars.len());
                match rng.u8(..3) {
                    0 => {
                        chars.remove(at);
                    }
                    1 => chars.insert(at, chars[at]),
                    _ => chars[at] = alphabet[rng.usize(..alphabet.len())],
                }
            }
            let mutated: String = chars.into_iter().collect();
            if let Ok(answer) = answer(&mutated, &ctx) {
                parse(&answer).unwrap_or_else(|e| panic!("{name}: {e}\n{mutated}\n{answer}"));
            }
        }
    }
}
