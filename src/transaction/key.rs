//! Transaction keys (RFC 3261 §17.2.3), with the RFC 2543 fallback for
//! branches without the magic cookie. A key is a 64-bit hash of the fields
//! that identify the transaction, under a per-process random seed: no
//! allocation per request, and a peer cannot aim for collisions (two
//! transactions meet by chance with a probability near 2^-64).

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::OnceLock;

use crate::sip::{MAGIC_COOKIE, Request};

/// Identifies a server transaction. ACK maps to its INVITE's key; CANCEL
/// has its own key, and [`TransactionKey::invite_of`] finds its INVITE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransactionKey(u64);

fn seed() -> &'static std::collections::hash_map::RandomState {
    static SEED: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
    SEED.get_or_init(std::collections::hash_map::RandomState::new)
}

impl TransactionKey {
    /// The key of `request` (ACK counted as INVITE).
    pub fn of(request: &Request) -> Self {
        let method = match request.method() {
            "ACK" => "INVITE",
            other => other,
        };
        Self::with_method(request, method)
    }

    /// The key of the INVITE a CANCEL (or ACK) refers to.
    pub fn invite_of(request: &Request) -> Self {
        Self::with_method(request, "INVITE")
    }

    fn with_method(request: &Request, method: &str) -> Self {
        let via = request.top_via();
        let mut hasher = seed().build_hasher();
        match via
            .branch
            .filter(|b| b.starts_with(MAGIC_COOKIE) && b.len() > MAGIC_COOKIE.len())
        {
            // §17.2.3: branch + sent-by + method.
            Some(branch) => {
                0u8.hash(&mut hasher);
                branch.hash(&mut hasher);
            }
            // RFC 2543 §17.2.3 fallback: Call-ID, From tag, CSeq number and
            // top Via identify the transaction (RFC 4475 badbranch, inv2543).
            None => {
                1u8.hash(&mut hasher);
                request.call_id().hash(&mut hasher);
                request.from_tag().unwrap_or("").hash(&mut hasher);
                request.cseq().hash(&mut hasher);
                via.branch.unwrap_or("").hash(&mut hasher);
            }
        }
        via.host.hash(&mut hasher);
        via.port.unwrap_or(0).hash(&mut hasher);
        method.hash(&mut hasher);
        Self(hasher.finish())
    }

    /// A To-tag derived from the key under a second per-process secret: as
    /// unpredictable as a random one, and the same for a retransmission, so
    /// a stateless answer repeats itself byte for byte (as Kamailio's sl
    /// module does). The key is already a keyed hash of the request's
    /// transaction fields; a bijective mix spreads it over the tag.
    pub(crate) fn derived_tag(self) -> String {
        static SECRET: OnceLock<u64> = OnceLock::new();
        // 64 token characters: six bits each, 60 bits in ten.
        const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-.";
        let secret =
            *SECRET.get_or_init(|| std::collections::hash_map::RandomState::new().hash_one(0u8));
        let mut bits = (self.0 ^ secret).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        bits ^= bits >> 29;
        let mut tag = String::with_capacity(10);
        tag.extend((0..10).map(|n| char::from(ALPHABET[((bits >> (6 * n)) & 63) as usize])));
        tag
    }

    /// The shard of a table this key belongs to: middle bits, as the map
    /// in a shard takes its bucket from the low bits and its tag from the
    /// top ones ([`Prehashed`]).
    pub(crate) fn shard(self, shards: usize) -> usize {
        ((self.0 >> 32) as usize) % shards
    }
}

/// Hashes a key that is already a keyed 64-bit hash (a transaction or
/// dialog key) as itself: hashing it again under another seed adds
/// nothing but the cost.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by the keys; anything else still mixes.
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The map hasher for prehashed keys.
pub(crate) type Prehashed = std::hash::BuildHasherDefault<KeyHasher>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::{Limits, parse_datagram};

    fn request(method: &str, branch: &str, cseq_method: &str) -> Request {
        let text = format!(
            "{method} sip:u@h SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}\r\nFrom: <sip:a@h>;tag=f\r\nTo: <sip:u@h>\r\nCall-ID: c\r\nCSeq: 1 {cseq_method}\r\n\r\n"
        );
        Request::validate(parse_datagram(text.as_bytes(), &Limits::default()).expect("parse"))
            .expect("valid")
    }

    #[test]
    fn ack_and_cancel_find_their_invite() {
        let invite = TransactionKey::of(&request("INVITE", "z9hG4bK1", "INVITE"));
        assert_eq!(
            TransactionKey::of(&request("ACK", "z9hG4bK1", "ACK")),
            invite
        );
        let cancel = request("CANCEL", "z9hG4bK1", "CANCEL");
        assert_ne!(TransactionKey::of(&cancel), invite);
        assert_eq!(TransactionKey::invite_of(&cancel), invite);
        assert_ne!(
            TransactionKey::of(&request("INVITE", "z9hG4bK2", "INVITE")),
            invite
        );
    }

    #[test]
    fn branches_without_cookie_fall_back_to_rfc2543() {
        let bare = TransactionKey::of(&request("OPTIONS", "z9hG4bK", "OPTIONS"));
        assert_eq!(
            bare,
            TransactionKey::of(&request("OPTIONS", "z9hG4bK", "OPTIONS"))
        );
        assert_ne!(
            bare,
            TransactionKey::of(&request("OPTIONS", "z9hG4bKx", "OPTIONS"))
        );
        let other_call = request("OPTIONS", "z9hG4bK", "OPTIONS");
        assert_eq!(
            TransactionKey::of(&other_call),
            bare,
            "same fields, same key"
        );
    }

    #[test]
    fn derived_tags_repeat_for_a_retransmission_only() {
        let first = TransactionKey::of(&request("OPTIONS", "z9hG4bK1", "OPTIONS"));
        let again = TransactionKey::of(&request("OPTIONS", "z9hG4bK1", "OPTIONS"));
        let other = TransactionKey::of(&request("OPTIONS", "z9hG4bK2", "OPTIONS"));
        let tag = first.derived_tag();
        assert_eq!(tag, again.derived_tag());
        assert_ne!(tag, other.derived_tag());
        assert_eq!(tag.len(), 10);
        assert!(crate::sip::is_token(&tag), "{tag}");
    }
}
