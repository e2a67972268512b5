//! The parsed form of an SDP description: session, media descriptions and the attributes answers use.

/// A parsed SDP description (RFC 8866 §5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=` (RFC 8866 §5.2).
    pub origin: Origin,
    /// `s=` (RFC 8866 §5.3); empty when absent.
    pub name: String,
    /// Session-level `c=` (RFC 8866 §5.7), the default of every m-line.
    pub connection: Option<Connection>,
    /// Session-level direction attribute, the default of every m-line
    /// (RFC 3264 §5.1).
    pub direction: Option<Direction>,
    /// `a=group:` lines (RFC 5888 §5), e.g. BUNDLE (RFC 8843).
    pub groups: Vec<Group>,
    /// `a=ice-lite` (RFC 8839 §5.3).
    pub ice_lite: bool,
    /// `a=ice-options:` (RFC 8839 §5.6), e.g. `trickle`.
    pub ice_options: Option<String>,
    /// Session-level ICE credentials, fingerprints and setup role: the
    /// defaults of every m-line.
    pub transport: Transport,
    /// Other session-level attributes, in order.
    pub attributes: Vec<Attribute>,
    /// The media descriptions, in order.
    pub media: Vec<MediaDescription>,
}

impl SessionDescription {
    /// The direction of `media`: its own attribute, else the session's,
    /// else `sendrecv` (RFC 3264 §5.1).
    pub fn direction_of(&self, media: &MediaDescription) -> Direction {
        media
            .direction
            .or(self.direction)
            .unwrap_or(Direction::SendRecv)
    }

    /// The first `a=group:BUNDLE` group (RFC 8843 §7.1).
    pub fn bundle_group(&self) -> Option<&Group> {
        self.groups
            .iter()
            .find(|group| group.semantics.eq_ignore_ascii_case("BUNDLE"))
    }

    /// The ICE ufrag and pwd of `media`, from the m-line or the session
    /// (RFC 8839 §5.4), when both are present.
    pub fn ice_credentials<'s>(
        &'s self,
        media: &'s MediaDescription,
    ) -> Option<(&'s str, &'s str)> {
        let ufrag = media.transport.ice_ufrag.as_ref();
        let pwd = media.transport.ice_pwd.as_ref();
        let ufrag = ufrag.or(self.transport.ice_ufrag.as_ref())?;
        let pwd = pwd.or(self.transport.ice_pwd.as_ref())?;
        Some((ufrag, pwd))
    }

    /// The fingerprints of `media`: its own, else the session's (RFC 8122 §5).
    pub fn fingerprints_of<'s>(&'s self, media: &'s MediaDescription) -> &'s [Fingerprint] {
        if media.transport.fingerprints.is_empty() {
            &self.transport.fingerprints
        } else {
            &media.transport.fingerprints
        }
    }

    /// The setup role of `media`: its own, else the session's (RFC 4145 §4).
    pub fn setup_of(&self, media: &MediaDescription) -> Option<Setup> {
        media.transport.setup.or(self.transport.setup)
    }
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`.
/// The numbers are kept as the digit strings received (clients send values
/// beyond `u64`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// `<username>`, `-` when none.
    pub username: String,
    /// `<sess-id>`, digits.
    pub session_id: String,
    /// `<sess-version>`, digits.
    pub session_version: String,
    /// `<nettype>`, `IN`.
    pub net_type: String,
    /// `<addrtype>`, `IP4` or `IP6`.
    pub addr_type: String,
    /// `<unicast-address>`: an address or a host name.
    pub address: String,
}

/// `c=<nettype> <addrtype> <connection-address>` (RFC 8866 §5.7).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connection {
    /// `<nettype>`, `IN`.
    pub net_type: String,
    /// `<addrtype>`, `IP4` or `IP6`.
    pub addr_type: String,
    /// `<connection-address>` as written (may carry `/ttl`; `0.0.0.0` is
    /// the RFC 2543 hold or "address not known yet", RFC 3264 §8.4).
    pub address: String,
}

/// A media stream's direction (RFC 3264 §5.1, RFC 8866 §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `a=sendrecv`, the default.
    SendRecv,
    /// `a=sendonly`.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl Direction {
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }

    /// The direction an answer gives to a stream offered with this one
    /// (RFC 3264 §6.1): sendonly ↔ recvonly, inactive and sendrecv kept.
    pub fn mirrored(self) -> Self {
        match self {
            Self::SendOnly => Self::RecvOnly,
            Self::RecvOnly => Self::SendOnly,
            other => other,
        }
    }

    /// Parses an attribute name.
    pub fn from_attribute(name: &str) -> Option<Self> {
        [
            Self::SendRecv,
            Self::SendOnly,
            Self::RecvOnly,
            Self::Inactive,
        ]
        .into_iter()
        .find(|direction| direction.as_str().eq_ignore_ascii_case(name))
    }
}

/// The DTLS (or TCP) connection role, `a=setup:` (RFC 4145 §4, RFC 5763 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// `active`: this side opens the connection (is the DTLS client).
    Active,
    /// `passive`: this side waits for it.
    Passive,
    /// `actpass`: either; the answerer decides.
    ActPass,
    /// `holdconn`: no connection for now.
    HoldConn,
}

impl Setup {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Passive => "passive",
            Self::ActPass => "actpass",
            Self::HoldConn => "holdconn",
        }
    }

    /// Parses an attribute value.
    pub fn from_value(value: &str) -> Option<Self> {
        [Self::Active, Self::Passive, Self::ActPass, Self::HoldConn]
            .into_iter()
            .find(|setup| setup.as_str().eq_ignore_ascii_case(value))
    }
}

/// `a=group:<semantics> <mid> ...` (RFC 5888 §5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    /// `BUNDLE`, `LS`, `FID`, ...
    pub semantics: String,
    /// The identification tags, in order.
    pub mids: Vec<String>,
}

/// ICE and DTLS parameters, at session or media level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transport {
    /// `a=ice-ufrag:` (RFC 8839 §5.4).
    pub ice_ufrag: Option<String>,
    /// `a=ice-pwd:` (RFC 8839 §5.4).
    pub ice_pwd: Option<String>,
    /// `a=fingerprint:` lines (RFC 8122 §5).
    pub fingerprints: Vec<Fingerprint>,
    /// `a=setup:` (RFC 4145 §4).
    pub setup: Option<Setup>,
}

/// `a=fingerprint:<hash-func> <fingerprint>` (RFC 8122 §5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprint {
    /// The hash function, e.g. `sha-256`.
    pub hash: String,
    /// Upper-case hex bytes joined by `:`, as received.
    pub value: String,
}

/// `a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>]`
/// (RFC 8866 §6.6).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rtpmap {
    /// 0–127.
    pub payload_type: u8,
    /// As written, e.g. `opus`, `PCMU`, `telephone-event`.
    pub encoding: String,
    /// Hz.
    pub clock_rate: u32,
    /// e.g. the channel count `2` of `opus/48000/2`.
    pub params: Option<String>,
}

/// `a=fmtp:<format> <parameters>` (RFC 8866 §6.15); also used for
/// `a=rtcp-fb:<format> <feedback>` (RFC 4585 §4.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fmtp {
    /// The format (payload type) it applies to, or `*`.
    pub format: String,
    /// The rest of the line.
    pub params: String,
}

/// `a=crypto:<tag> <crypto-suite> <key-params> ...` (SDES, RFC 4568 §9.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Crypto {
    /// The tag, decimal.
    pub tag: String,
    /// e.g. `AES_CM_128_HMAC_SHA1_80`.
    pub suite: String,
    /// e.g. `inline:<base64 key||salt>`.
    pub key_params: String,
}

/// Any other attribute, `a=<name>[:<value>]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attribute {
    /// The attribute name.
    pub name: String,
    /// Its value, when it has one.
    pub value: Option<String>,
}

/// One media description: an m-line and what follows up to the next
/// (RFC 8866 §5.14).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaDescription {
    /// `audio`, `video`, `application`, `image`, `text`, `message`.
    pub media: String,
    /// The transport port; 0 rejects or disables the stream (RFC 3264 §8.2).
    pub port: u16,
    /// `<number of ports>` after `/`, when given.
    pub port_count: Option<u16>,
    /// e.g. `RTP/AVP`, `RTP/SAVPF`, `UDP/TLS/RTP/SAVPF`, `UDP/DTLS/SCTP`.
    pub proto: String,
    /// The formats (RTP payload types, or e.g. `webrtc-datachannel`).
    pub formats: Vec<String>,
    /// Media-level `c=`.
    pub connection: Option<Connection>,
    /// `a=rtpmap:` lines.
    pub rtpmaps: Vec<Rtpmap>,
    /// `a=fmtp:` lines.
    pub fmtps: Vec<Fmtp>,
    /// `a=rtcp-fb:` lines (RFC 4585).
    pub rtcp_fb: Vec<Fmtp>,
    /// Media-level direction attribute.
    pub direction: Option<Direction>,
    /// `a=mid:` (RFC 5888 §4).
    pub mid: Option<String>,
    /// `a=rtcp-mux` (RFC 5761 §5.1.1).
    pub rtcp_mux: bool,
    /// `a=bundle-only` (RFC 8843 §6).
    pub bundle_only: bool,
    /// Media-level ICE credentials, fingerprints and setup role.
    pub transport: Transport,
    /// `a=candidate:` values (RFC 8839 §5.1), as received.
    pub candidates: Vec<String>,
    /// `a=crypto:` lines (RFC 4568).
    pub crypto: Vec<Crypto>,
    /// Other attributes, in order (`a=ssrc` and `a=ssrc-group` are dropped).
    pub attributes: Vec<Attribute>,
}

impl MediaDescription {
    /// Whether the proto is RTP-based (`RTP/AVP`, `UDP/TLS/RTP/SAVPF`, ...),
    /// so that formats are payload types.
    pub fn is_rtp(&self) -> bool {
        self.proto
            .split('/')
            .any(|part| part.eq_ignore_ascii_case("RTP"))
    }

    /// Whether the proto is a secure RTP profile (`SAVP`, `SAVPF`, RFC 3711).
    pub fn is_srtp(&self) -> bool {
        self.is_rtp()
            && self
                .proto
                .split('/')
                .any(|part| part.eq_ignore_ascii_case("SAVP") || part.eq_ignore_ascii_case("SAVPF"))
    }

    /// Whether the proto names DTLS (`UDP/TLS/RTP/SAVPF`, `TCP/DTLS/RTP/SAVPF`,
    /// `UDP/DTLS/SCTP`, RFC 5764 §8).
    pub fn is_dtls_proto(&self) -> bool {
        self.proto
            .split('/')
            .any(|part| part.eq_ignore_ascii_case("TLS") || part.eq_ignore_ascii_case("DTLS"))
    }

    /// The `a=rtpmap` of a payload type.
    pub fn rtpmap(&self, payload_type: u8) -> Option<&Rtpmap> {
        self.rtpmaps
            .iter()
            .find(|map| map.payload_type == payload_type)
    }

    /// The `a=fmtp` of a format.
    pub fn fmtp(&self, format: &str) -> Option<&Fmtp> {
        self.fmtps.iter().find(|fmtp| fmtp.format == format)
    }
}
