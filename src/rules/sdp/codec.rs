//! Codecs: the responder's preference list, the RFC 3551 static payload types, and what an offered format is.

use std::fmt;
use std::str::FromStr;

use super::parse::MediaDescription;

/// A codec the responder accepts: media type, encoding name and, when it
/// matters, clock rate. Matching is case-insensitive on media and name
/// (RFC 4855 §3: media subtype names are case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Codec {
    /// The m-line media type: `audio`, `video`, ...
    pub media: String,
    /// The encoding name: `PCMU`, `opus`, `telephone-event`, `VP8`, ...
    pub name: String,
    /// The RTP clock rate in Hz; `None` accepts any.
    pub clock_rate: Option<u32>,
}

impl Codec {
    /// A codec from its parts.
    pub fn new(media: &str, name: &str, clock_rate: Option<u32>) -> Self {
        Self {
            media: media.to_owned(),
            name: name.to_owned(),
            clock_rate,
        }
    }

    /// Whether an offered format of `media` type, encoded `name` at
    /// `clock_rate`, is this codec.
    pub fn matches(&self, media: &str, name: &str, clock_rate: u32) -> bool {
        self.media.eq_ignore_ascii_case(media)
            && self.name.eq_ignore_ascii_case(name)
            && self.clock_rate.is_none_or(|rate| rate == clock_rate)
    }

    /// Whether this is the RFC 4733 DTMF event payload.
    pub fn is_telephone_event(&self) -> bool {
        is_telephone_event(&self.name)
    }
}

/// `media/name[/clock rate]`, e.g. `audio/PCMU/8000` or `video/VP8`: the
/// form a configuration file can use.
impl FromStr for Codec {
    type Err = CodecParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut parts = text.split('/');
        let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic());
        let media = parts.next().filter(|s| token(s)).ok_or(CodecParseError)?;
        let name = parts.next().filter(|s| token(s)).ok_or(CodecParseError)?;
        let clock_rate = match parts.next() {
            Some(rate) => Some(rate.parse().map_err(|_| CodecParseError)?),
            None => None,
        };
        if parts.next().is_some() {
            return Err(CodecParseError);
        }
        Ok(Self::new(media, name, clock_rate))
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.media, self.name)?;
        match self.clock_rate {
            Some(rate) => write!(f, "/{rate}"),
            None => Ok(()),
        }
    }
}

/// A codec string that is not `media/name[/clock rate]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a codec is written media/name[/clock rate], e.g. audio/PCMU/8000")]
pub struct CodecParseError;

/// The default list: audio PCMU, PCMA, G722, opus and telephone-event; no
/// video, so video streams are rejected unless the caller adds e.g.
/// `video/VP8`.
pub fn default_codecs() -> Vec<Codec> {
    vec![
        Codec::new("audio", "PCMU", Some(8000)),
        Codec::new("audio", "PCMA", Some(8000)),
        // RFC 3551 §4.5.2: G722's RTP clock rate is 8000 though it samples at 16 kHz.
        Codec::new("audio", "G722", Some(8000)),
        Codec::new("audio", "opus", Some(48000)),
        Codec::new("audio", "telephone-event", None),
    ]
}

/// RTP encoding names SIP stacks offer: the static ones of RFC 3551 §6 and
/// the common dynamic ones (`check` warns about a codec not listed here).
pub const KNOWN_ENCODINGS: &[&str] = &[
    "PCMU",
    "GSM",
    "G723",
    "DVI4",
    "LPC",
    "PCMA",
    "G722",
    "L16",
    "QCELP",
    "CN",
    "MPA",
    "G728",
    "G729",
    "CelB",
    "JPEG",
    "nv",
    "H261",
    "MPV",
    "MP2T",
    "H263",
    "opus",
    "telephone-event",
    "iLBC",
    "speex",
    "AMR",
    "AMR-WB",
    "G7221",
    "G726-16",
    "G726-24",
    "G726-32",
    "G726-40",
    "G729D",
    "G729E",
    "GSM-EFR",
    "SILK",
    "EVS",
    "L8",
    "red",
    "ulpfec",
    "flexfec",
    "rtx",
    "VP8",
    "VP9",
    "H264",
    "H265",
    "AV1",
    "H263-1998",
    "H263-2000",
    "t140",
];

/// The static payload types of RFC 3551 §6 (tables 4 and 5): number,
/// encoding name, clock rate, channels.
const STATIC_PAYLOAD_TYPES: &[(u8, &str, u32, Option<&str>)] = &[
    (0, "PCMU", 8000, None),
    (3, "GSM", 8000, None),
    (4, "G723", 8000, None),
    (5, "DVI4", 8000, None),
    (6, "DVI4", 16000, None),
    (7, "LPC", 8000, None),
    (8, "PCMA", 8000, None),
    (9, "G722", 8000, None),
    (10, "L16", 44100, Some("2")),
    (11, "L16", 44100, None),
    (12, "QCELP", 8000, None),
    (13, "CN", 8000, None),
    (14, "MPA", 90000, None),
    (15, "G728", 8000, None),
    (16, "DVI4", 11025, None),
    (17, "DVI4", 22050, None),
    (18, "G729", 8000, None),
    (25, "CelB", 90000, None),
    (26, "JPEG", 90000, None),
    (28, "nv", 90000, None),
    (31, "H261", 90000, None),
    (32, "MPV", 90000, None),
    (33, "MP2T", 90000, None),
    (34, "H263", 90000, None),
];

/// What an offered RTP format is: from its `a=rtpmap`, else from the
/// static table (RFC 3551 §6; RFC 8866 §6.6 makes rtpmap optional for
/// static types).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Format {
    pub(super) payload_type: u8,
    pub(super) name: String,
    pub(super) clock_rate: u32,
    pub(super) params: Option<String>,
}

impl Format {
    /// The `a=rtpmap` value for this format.
    pub(super) fn rtpmap_value(&self) -> String {
        match &self.params {
            Some(params) => format!(
                "{} {}/{}/{params}",
                self.payload_type, self.name, self.clock_rate
            ),
            None => format!("{} {}/{}", self.payload_type, self.name, self.clock_rate),
        }
    }

    pub(super) fn is_telephone_event(&self) -> bool {
        is_telephone_event(&self.name)
    }
}

/// The formats of an RTP m-line that can be identified, in offer order.
pub(super) fn resolve_formats(media: &MediaDescription) -> Vec<Format> {
    media
        .formats
        .iter()
        .filter_map(|format| format.parse::<u8>().ok())
        .filter_map(|pt| resolve(media, pt))
        .collect()
}

fn resolve(media: &MediaDescription, payload_type: u8) -> Option<Format> {
    if let Some(map) = media.rtpmap(payload_type) {
        return Some(Format {
            payload_type,
            name: map.encoding.clone(),
            clock_rate: map.clock_rate,
            params: map.params.clone(),
        });
    }
    let &(_, name, clock_rate, channels) = STATIC_PAYLOAD_TYPES
        .iter()
        .find(|(pt, ..)| *pt == payload_type)?;
    Some(Format {
        payload_type,
        name: name.to_owned(),
        clock_rate,
        params: channels.map(str::to_owned),
    })
}

/// The static payload type of a codec, when RFC 3551 assigns one.
pub(super) fn static_payload_type(codec: &Codec) -> Option<(u8, u32)> {
    STATIC_PAYLOAD_TYPES
        .iter()
        .find(|(_, name, rate, _)| {
            name.eq_ignore_ascii_case(&codec.name) && codec.clock_rate.is_none_or(|r| r == *rate)
        })
        .map(|&(pt, _, rate, _)| (pt, rate))
}

/// The clock rate and encoding parameters a late offer writes for a codec
/// with no static payload type and no configured rate.
pub(super) fn dynamic_defaults(codec: &Codec) -> (u32, Option<&'static str>) {
    let name = codec.name.to_ascii_lowercase();
    let rate = match name.as_str() {
        // RFC 7587 §7: opus/48000/2 whatever the real rate and channels.
        "opus" => return (48000, Some("2")),
        "telephone-event" | "ilbc" | "amr" | "speex" => 8000,
        "amr-wb" | "g7221" => 16000,
        _ if codec.media.eq_ignore_ascii_case("video") => 90000,
        _ => 8000,
    };
    (codec.clock_rate.unwrap_or(rate), None)
}

fn is_telephone_event(name: &str) -> bool {
    name.eq_ignore_ascii_case("telephone-event")
}
