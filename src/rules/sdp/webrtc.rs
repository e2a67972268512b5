//! WebRTC answer parts: the start-up DTLS identity and its fingerprint, ICE credentials and candidates, the setup role.

use std::fmt;
use std::fmt::Write as _;
use std::net::IpAddr;

use ring::digest;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use super::SdpError;
use super::parse::Setup;

/// The certificate whose fingerprint WebRTC answers carry (RFC 5763 §5,
/// RFC 8122 §5), generated once at start-up, plus a random secret from
/// which per-session ICE credentials and SDES keys are derived (so that a
/// re-answer in the same dialog keeps them: no ICE restart, RFC 8839
/// §4.4.1.1.1).
pub struct DtlsIdentity {
    certificate_der: Vec<u8>,
    private_key_der: Vec<u8>,
    fingerprint: String,
    secret: hmac::Key,
}

impl DtlsIdentity {
    /// Generates a self-signed ECDSA P-256 certificate (rcgen) and the
    /// secret.
    pub fn generate() -> Result<Self, SdpError> {
        let certificate_error = |e: rcgen::Error| SdpError::Certificate(e.to_string());
        let key_pair = rcgen::KeyPair::generate().map_err(certificate_error)?;
        let mut params =
            rcgen::CertificateParams::new(Vec::<String>::new()).map_err(certificate_error)?;
        let mut name = rcgen::DistinguishedName::new();
        name.push(rcgen::DnType::CommonName, "sip-autoresponder");
        params.distinguished_name = name;
        let certificate = params.self_signed(&key_pair).map_err(certificate_error)?;
        let certificate_der = certificate.der().to_vec();
        let mut secret = [0_u8; 32];
        SystemRandom::new()
            .fill(&mut secret)
            .map_err(|_| SdpError::Random)?;
        Ok(Self {
            fingerprint: sha256_fingerprint(&certificate_der),
            certificate_der,
            private_key_der: key_pair.serialize_der(),
            secret: hmac::Key::new(hmac::HMAC_SHA256, &secret),
        })
    }

    /// The SHA-256 fingerprint of the certificate's DER: 32 upper-case hex
    /// bytes joined by `:` (RFC 8122 §5), without the `sha-256 ` prefix.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }

    /// The certificate's private key, PKCS#8 DER (for a DTLS stack, should
    /// one ever terminate the media).
    pub fn private_key_der(&self) -> &[u8] {
        &self.private_key_der
    }

    /// Fills `out` with HMAC-SHA256(secret, label ‖ session id ‖ index ‖
    /// counter) blocks: keying material bound to one session and stream.
    pub(super) fn derive(&self, label: &[u8], session_id: u64, index: u32, out: &mut [u8]) {
        for (counter, chunk) in (0_u32..).zip(out.chunks_mut(digest::SHA256_OUTPUT_LEN)) {
            let mut context = hmac::Context::with_key(&self.secret);
            context.update(label);
            context.update(&session_id.to_be_bytes());
            context.update(&index.to_be_bytes());
            context.update(&counter.to_be_bytes());
            let tag = context.sign();
            chunk.copy_from_slice(&tag.as_ref()[..chunk.len()]);
        }
    }

    /// The ICE credentials of a session.
    pub(super) fn ice_credentials(&self, session_id: u64) -> IceCredentials {
        let mut bytes = [0_u8; 32];
        self.derive(b"ice", session_id, 0, &mut bytes);
        let (ufrag, pwd) = bytes.split_at(UFRAG_LEN);
        IceCredentials {
            ufrag: ice_chars(ufrag),
            pwd: ice_chars(pwd),
        }
    }
}

/// The key stays out of logs.
impl fmt::Debug for DtlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DtlsIdentity")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// SHA-256 of `der` as upper-case hex bytes joined by `:` (RFC 8122 §5,
/// RFC 4572 §5).
pub fn sha256_fingerprint(der: &[u8]) -> String {
    let hash = digest::digest(&digest::SHA256, der);
    let mut text = String::with_capacity(hash.as_ref().len() * 3);
    for (i, byte) in hash.as_ref().iter().enumerate() {
        if i > 0 {
            text.push(':');
        }
        let _ = write!(text, "{byte:02X}");
    }
    text
}

/// ufrag length: RFC 8839 §5.4 wants at least 4 ice-chars (24 bits).
const UFRAG_LEN: usize = 8;

/// ICE credentials of an answer (RFC 8839 §5.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct IceCredentials {
    /// 8 ice-chars.
    pub(super) ufrag: String,
    /// 24 ice-chars (144 bits; at least 22 and 128 bits required).
    pub(super) pwd: String,
}

/// RFC 8839 §5.4: ice-char = ALPHA / DIGIT / "+" / "/", 64 characters, so
/// that the low 6 bits of a uniform byte pick one uniformly.
fn ice_chars(bytes: &[u8]) -> String {
    const ICE_CHARS: &[u8; 64] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    bytes
        .iter()
        .map(|b| char::from(ICE_CHARS[usize::from(b & 0x3f)]))
        .collect()
}

/// The answerer's role for the offered one (RFC 4145 §4.1, RFC 5763 §5):
/// actpass → active (the answerer is the DTLS client), active → passive,
/// passive → active, holdconn kept; absent means the offerer is active
/// (RFC 4145 §4), so passive.
pub(super) fn answer_setup(offered: Option<Setup>) -> Setup {
    match offered {
        Some(Setup::ActPass | Setup::Passive) => Setup::Active,
        Some(Setup::Active) | None => Setup::Passive,
        Some(Setup::HoldConn) => Setup::HoldConn,
    }
}

/// The ICE lines of an accepted m-line: credentials, one host candidate
/// per component at the answer's address and port (the answer declares
/// `a=ice-lite`, RFC 8839 §5.3: a lite agent gathers host candidates
/// only), and end-of-candidates (RFC 8840 §8.2).
pub(super) fn write_ice(
    out: &mut String,
    credentials: &IceCredentials,
    address: IpAddr,
    port: u16,
    rtcp_mux: bool,
) {
    let _ = write!(
        out,
        "a=ice-ufrag:{}\r\na=ice-pwd:{}\r\n",
        credentials.ufrag, credentials.pwd
    );
    // RFC 8839 §5.1: candidate:<foundation> <component> <transport>
    // <priority> <address> <port> typ host; priority per RFC 8445 §5.1.2.1
    // with type preference 126, local preference 65535.
    let _ = write!(
        out,
        "a=candidate:1 1 udp 2130706431 {address} {port} typ host\r\n"
    );
    if !rtcp_mux {
        let rtcp = port.saturating_add(1);
        let _ = write!(
            out,
            "a=candidate:1 2 udp 2130706430 {address} {rtcp} typ host\r\n"
        );
    }
    out.push_str("a=end-of-candidates\r\n");
}

/// The DTLS lines of an accepted m-line (RFC 5763 §5, RFC 8842 §5).
pub(super) fn write_dtls(out: &mut String, identity: &DtlsIdentity, setup: Setup) {
    let _ = write!(
        out,
        "a=fingerprint:sha-256 {}\r\na=setup:{}\r\n",
        identity.fingerprint(),
        setup.as_str()
    );
}
