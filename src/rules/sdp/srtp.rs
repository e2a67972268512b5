//! SDES (RFC 4568): the `a=crypto` line that answers an RTP/SAVP offer keyed in the SDP.

use super::parse::Crypto;
use super::webrtc::DtlsIdentity;

/// The suites answered and their master key ‖ salt lengths in bytes.
const SUITES: &[(&str, usize)] = &[
    // RFC 4568 §6.2: 128-bit key, 112-bit salt.
    ("AES_CM_128_HMAC_SHA1_80", 30),
    ("AES_CM_128_HMAC_SHA1_32", 30),
    // RFC 6188 §7: 192- and 256-bit keys, 112-bit salt.
    ("AES_192_CM_HMAC_SHA1_80", 38),
    ("AES_192_CM_HMAC_SHA1_32", 38),
    ("AES_256_CM_HMAC_SHA1_80", 46),
    ("AES_256_CM_HMAC_SHA1_32", 46),
    // RFC 7714 §14.2: 96-bit salt.
    ("AEAD_AES_128_GCM", 28),
    ("AEAD_AES_256_GCM", 44),
];

/// The `a=crypto` value answering the first offered line with a known
/// suite (RFC 4568 §7.1.2: same tag and suite, the answerer's own key), or
/// `None` when no suite is known. The key is derived from the identity's
/// secret for this session and stream.
pub(super) fn answer_crypto(
    offered: &[Crypto],
    identity: &DtlsIdentity,
    session_id: u64,
    stream: u32,
) -> Option<String> {
    offered.iter().find_map(|crypto| {
        let &(suite, len) = SUITES
            .iter()
            .find(|(suite, _)| suite.eq_ignore_ascii_case(&crypto.suite))?;
        let mut key = [0_u8; 46];
        let key = &mut key[..len];
        identity.derive(b"sdes", session_id, stream, key);
        Some(format!("{} {suite} inline:{}", crypto.tag, base64(key)))
    })
}

/// Standard base64 with padding (RFC 4648 §4), as `inline:` key params
/// use (RFC 4568 §6.1).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sextet = |n: u32, shift: u32| char::from(ALPHABET[((n >> shift) & 0x3f) as usize]);
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0_u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        out.push(sextet(n, 18));
        out.push(sextet(n, 12));
        out.push(if chunk.len() > 1 { sextet(n, 6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(n, 0) } else { '=' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        // RFC 4648 §10.
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, expected) in vectors {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }
}
