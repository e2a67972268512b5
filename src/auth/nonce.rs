//! Stateless nonces (RFC 7616 §3.3, §5.4): a nonce carries the time it was
//! issued and a random salt, sealed with an HMAC-SHA-256 (ring) under a
//! secret made at start-up, bound to its realm. Checking one needs no
//! state: the seal says it is ours, the time whether it has expired.

use std::fmt::Write as _;
use std::time::Duration;

use ring::hmac;
use tokio::time::Instant;

/// Bytes of the seal kept in a nonce (128 bits).
const SEAL_BYTES: usize = 16;
/// Hex digits of a nonce: issued time (8 bytes), salt (8), seal (16).
pub(super) const NONCE_HEX_LEN: usize = 2 * (8 + 8 + SEAL_BYTES);

/// What a nonce from a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceState {
    /// Ours, issued `issued_ms` after the keys were made, within its
    /// lifetime.
    Fresh { issued_ms: u64 },
    /// Ours but older than its lifetime: the client gets `stale=true`.
    Expired,
    /// Not ours (another daemon's, a previous run's, or made up).
    Foreign,
}

/// The daemon's nonce secret and clock origin (kept across reloads: a
/// reload does not invalidate the nonces out there).
#[derive(Debug)]
pub struct NonceKeys {
    key: hmac::Key,
    /// Nonces count time from here (tokio's clock: tests can pause it).
    epoch: Instant,
    /// Returned unchanged by clients (RFC 7616 §3.3 `opaque`); made with
    /// the secret, so a previous run's is told apart.
    opaque: String,
}

impl NonceKeys {
    /// Fresh keys from the system's random source.
    pub fn new() -> Self {
        let rng = ring::rand::SystemRandom::new();
        // A failing system random source leaves a key from fastrand: the
        // nonces stay unforgeable to anyone who cannot predict it, which
        // is still better than no start-up.
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).unwrap_or_else(|_| {
            let seed: Vec<u8> = (0..32).map(|_| fastrand::u8(..)).collect();
            hmac::Key::new(hmac::HMAC_SHA256, &seed)
        });
        let tag = hmac::sign(&key, b"opaque");
        Self {
            opaque: hex(&tag.as_ref()[..SEAL_BYTES]),
            key,
            epoch: Instant::now(),
        }
    }

    pub fn opaque(&self) -> &str {
        &self.opaque
    }

    /// A new nonce for `realm`.
    pub fn issue(&self, realm: &str) -> String {
        let issued_ms = self.now_ms();
        let mut payload = [0u8; 16];
        payload[..8].copy_from_slice(&issued_ms.to_be_bytes());
        payload[8..].copy_from_slice(&fastrand::u64(..).to_be_bytes());
        let seal = self.seal(&payload, realm);
        let mut nonce = hex(&payload);
        nonce.push_str(&hex(&seal.as_ref()[..SEAL_BYTES]));
        nonce
    }

    /// Whether `nonce` is ours for `realm`, and fresh within `lifetime`.
    pub fn check(&self, nonce: &str, realm: &str, lifetime: Duration) -> NonceState {
        let Some(bytes) = unhex::<{ NONCE_HEX_LEN / 2 }>(nonce) else {
            return NonceState::Foreign;
        };
        let mut payload = [0u8; 16];
        payload.copy_from_slice(&bytes[..16]);
        let expected = self.seal(&payload, realm);
        if !seal_matches(&expected.as_ref()[..SEAL_BYTES], &bytes[16..]) {
            return NonceState::Foreign;
        }
        let mut issued = [0u8; 8];
        issued.copy_from_slice(&payload[..8]);
        let issued_ms = u64::from_be_bytes(issued);
        let now = self.now_ms();
        if issued_ms > now {
            return NonceState::Foreign;
        }
        if Duration::from_millis(now - issued_ms) > lifetime {
            return NonceState::Expired;
        }
        NonceState::Fresh { issued_ms }
    }

    fn seal(&self, payload: &[u8; 16], realm: &str) -> hmac::Tag {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(payload);
        context.update(realm.as_bytes());
        context.sign()
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(Instant::now().duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }
}

impl Default for NonceKeys {
    fn default() -> Self {
        Self::new()
    }
}

/// Constant-time comparison of two seals.
fn seal_matches(expected: &[u8], given: &[u8]) -> bool {
    expected.len() == given.len()
        && expected
            .iter()
            .zip(given)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Exactly `N` bytes of hex, or `None`.
fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in text.as_bytes().chunks(2).enumerate() {
        let digit = |b: u8| (b as char).to_digit(16);
        out[i] = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIFETIME: Duration = Duration::from_secs(30);

    #[tokio::test(start_paused = true)]
    async fn a_nonce_is_fresh_then_expired() {
        let keys = NonceKeys::new();
        let nonce = keys.issue("lab");
        assert_eq!(nonce.len(), NONCE_HEX_LEN);
        assert!(matches!(
            keys.check(&nonce, "lab", LIFETIME),
            NonceState::Fresh { .. }
        ));
        tokio::time::advance(LIFETIME + Duration::from_millis(1)).await;
        assert_eq!(keys.check(&nonce, "lab", LIFETIME), NonceState::Expired);
    }

    #[tokio::test(start_paused = true)]
    async fn a_nonce_is_bound_to_its_realm_and_its_keys() {
        let keys = NonceKeys::new();
        let nonce = keys.issue("lab");
        assert_eq!(keys.check(&nonce, "other", LIFETIME), NonceState::Foreign);
        assert_eq!(
            NonceKeys::new().check(&nonce, "lab", LIFETIME),
            NonceState::Foreign,
            "another run's secret"
        );
        assert_ne!(keys.opaque(), NonceKeys::new().opaque());
        // A changed time field breaks the seal: nobody extends a nonce.
        let mut forged = nonce.clone().into_bytes();
        forged[15] = if forged[15] == b'0' { b'1' } else { b'0' };
        let forged = String::from_utf8(forged).expect("ascii");
        assert_eq!(keys.check(&forged, "lab", LIFETIME), NonceState::Foreign);
        for junk in ["", "zz", &"0".repeat(NONCE_HEX_LEN), &nonce[1..]] {
            assert_eq!(keys.check(junk, "lab", LIFETIME), NonceState::Foreign);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn two_nonces_issued_at_once_differ() {
        let keys = NonceKeys::new();
        assert_ne!(keys.issue("lab"), keys.issue("lab"));
    }
}
