//! A bounded cache of verified tokens, so a token seen before skips parsing and signature work.
//!
//! - Keyed by the whole token string, without keeping it (a memory dump of the cache holds no
//!   usable token, and no way to forge one that matches): an entry is found by the token's last
//!   16 bytes (the tail of its signature, unpredictable for every signed token) and confirmed
//!   exactly: the payload byte for byte against the verified claims, the header and signature
//!   through a SHA-256 of the header and the signature's bytes ([`fingerprint`]). A token never seen costs one map probe and no pass
//!   over the token; the comparison runs when a probe finds a live entry (a hit, or a token
//!   copying a cached token's last 16 bytes, which then misses), and the hash when a verified
//!   token is inserted.
//! - An entry costs the principal (about the payload's size) plus a fixed overhead.
//! - An entry lives until its token expires (`exp` + leeway), and is dropped as soon as the key
//!   that verified it leaves its issuer's key set (it holds only a weak reference to the key).
//! - Revocation is still checked on every request; the cache only saves the verification.
//! - Bounded by [quick_cache](https://docs.rs/quick_cache): a sharded concurrent map with S3-FIFO
//!   eviction, so when more tokens are live than the cache holds, the ones seen often stay and a
//!   stream of one-off tokens cannot flush them (the benchmark `cache_hit_rate` measures it).
//!   A lookup takes one shard's read lock and allocates nothing; no I/O happens under a lock.
//! - A hit writes no memory that other tokens share: the entry is one `Arc` (its count is the
//!   token's own), the key is checked through a `Weak` without cloning it (the key's counts are
//!   shared by every token it signed), and a hot entry's S3-FIFO counter stops being written once
//!   it is saturated. What remains shared is the shard's read lock (at least 16 shards, four
//!   per core beyond), so distinct tokens spread over many locks.

use std::sync::{Arc, Weak};

use crate::keys::VerifyingKey;
use crate::principal::Principal;

/// The number of verified tokens cached unless told otherwise.
pub const DEFAULT_TOKEN_CACHE_CAPACITY: usize = 16_384;

/// Where an entry is looked for: the token's last 16 bytes.
type Tail = [u8; 16];

/// A compact token's header, payload and the rest: the signature, when the token has three
/// segments. A fourth segment is not looked for here (it would scan the signature once more):
/// a dot is outside base64url, so the exact comparison refuses it when it decodes the signature.
fn segments(token: &str) -> Option<(&str, &str, &str)> {
    let (header, rest) = token.split_once('.')?;
    rest.split_once('.')
        .map(|(payload, signature)| (header, payload, signature))
}

/// The fingerprint of a token's header and signature segments: the SHA-256 of the header's text,
/// a dot, and the signature's bytes (aws-lc, on the CPU's SHA extensions where it has them).
/// The header holds no dot and the signature is decoded canonically (one spelling), so the text
/// hashed names both segments exactly. Keyless and second-preimage resistant: knowing everything
/// in the process (a memory dump) gives no way to present another header or signature that
/// matches. The payload is compared byte for byte with the verified claims instead of hashed,
/// which keeps the hashed text short (an Entra token's payload is most of its length), and the
/// signature is hashed as bytes rather than text (256 bytes for RS256 against 342 characters:
/// two SHA-256 blocks fewer for a typical token). The text is assembled on the stack and hashed
/// in one call, which allocates nothing. `None` for a signature that is not canonical base64url
/// (such a token was never verified, so never cached).
///
/// A keyed GMAC over the whole token was measured at a sixth of the cost, and rejected: its key
/// sits in the same memory as the tags, and GHASH under a known key is linear, so with a dump
/// an attacker could solve for a different token (within the bearer alphabet, with the same
/// last 16 bytes) that hits a cached entry and takes its principal until it expires. Assume
/// breach: the cache must not turn a memory dump into a forgery.
fn fingerprint(header: &str, signature: &str) -> Option<Fingerprint> {
    use aws_lc_rs::digest::{Context, SHA256, digest};
    // Sized for the usual token, since the buffer is zeroed on every hit: an RS256 or ES256
    // signature with a header of a few hundred characters, or RSA-4096's with a short header.
    let mut text = [0u8; 768];
    let signed = header.len() + 1;
    let digest = if signed + signature.len() / 4 * 3 + 2 <= text.len() {
        text[..header.len()].copy_from_slice(header.as_bytes());
        text[header.len()] = b'.';
        let decoded = crate::base64url::decode_into(signature, &mut text[signed..])?;
        let len = signed + decoded.len();
        digest(&SHA256, &text[..len])
    } else {
        // A header carrying a certificate chain, an RSA-8192 signature.
        let decoded = crate::base64url::decode(signature)?;
        let mut context = Context::new(&SHA256);
        context.update(header.as_bytes());
        context.update(b".");
        context.update(&decoded);
        context.finish()
    };
    let mut fingerprint = [0u8; 32];
    fingerprint.copy_from_slice(digest.as_ref());
    Some(fingerprint)
}

type Fingerprint = [u8; 32];

struct Entry {
    fingerprint: Fingerprint,
    principal: Principal,
    key: Weak<VerifyingKey>,
}

impl Entry {
    /// Expired (leeway included), or its key left the key set.
    fn is_dead(&self, now: f64, leeway: f64) -> bool {
        now >= self.principal.expires_at_secs() + leeway || self.key.strong_count() == 0
    }
}

pub(crate) struct TokenCache {
    entries: quick_cache::sync::Cache<Tail, Arc<Entry>>,
    /// Inserts so far: the entries gauge is read every [`GAUGE_EVERY`] of them, since counting
    /// the entries visits every shard.
    inserts: std::sync::atomic::AtomicU64,
}

/// How often (in inserts) the cache reports its size.
const GAUGE_EVERY: u64 = 256;

/// The fewest shards the cache is split into, whatever the process may use now: a service
/// started on one core (a container's first moments, `taskset`) still spreads its callers over
/// several locks once it runs on more.
const MIN_SHARDS: usize = 16;

impl TokenCache {
    /// A cache of `capacity` tokens, in at least [`MIN_SHARDS`] shards (four per core beyond).
    pub(crate) fn new(capacity: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let shards = (cores * 4).max(MIN_SHARDS).next_power_of_two();
        let options = quick_cache::OptionsBuilder::new()
            .estimated_items_capacity(capacity)
            .weight_capacity(capacity as u64)
            .shards(shards)
            .build();
        let entries = match options {
            Ok(options) => quick_cache::sync::Cache::with_options(
                options,
                quick_cache::UnitWeighter,
                quick_cache::DefaultHashBuilder::default(),
                quick_cache::sync::DefaultLifecycle::default(),
            ),
            // The options above are always valid; quick_cache's own defaults otherwise.
            Err(_) => quick_cache::sync::Cache::new(capacity),
        };
        TokenCache {
            entries,
            inserts: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The token's tail, or `None` for a token too short to be cached (it cannot be valid).
    fn tail(token: &str) -> Option<Tail> {
        let start = token.len().checked_sub(16)?;
        token.as_bytes()[start..].try_into().ok()
    }

    /// The cached principal, if this exact token is cached, unexpired, and its key is still
    /// loaded.
    pub(crate) fn get(&self, token: &str, now: f64, leeway: f64) -> Option<Principal> {
        let tail = Self::tail(token)?;
        let entry = self.entries.get(&tail)?;
        if entry.is_dead(now, leeway) {
            // Only a dead entry is removed, so a live token sharing the tail is never dropped by
            // this probe.
            self.entries.remove_if(&tail, |e| e.is_dead(now, leeway));
            return None;
        }
        // Compared outside any lock: the token may be as long as the cap. The payload against the
        // verified claims (strict, canonical base64url: one payload, one spelling), then the
        // header and signature through their hash: together, this exact token.
        let (header, payload, signature) = segments(token)?;
        let same = crate::base64url::encodes(payload, entry.principal.claims_text().as_bytes())
            && fingerprint(header, signature) == Some(entry.fingerprint);
        same.then(|| entry.principal.clone())
    }

    /// Remembers a verified token.
    pub(crate) fn insert(&self, token: &str, principal: Principal, key: &Arc<VerifyingKey>) {
        let Some((tail, (header, _, signature))) = Self::tail(token).zip(segments(token)) else {
            return;
        };
        let Some(fingerprint) = fingerprint(header, signature) else {
            return;
        };
        let entry = Entry {
            fingerprint,
            principal,
            key: Arc::downgrade(key),
        };
        self.entries.insert(tail, Arc::new(entry));
        let inserts = self
            .inserts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if inserts.is_multiple_of(GAUGE_EVERY) {
            crate::observability::cache_entries(self.len());
        }
    }

    /// The number of cached tokens.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes held per entry besides the principal: the tail and the entry's handle in the map's
    /// slot, the entry (fingerprint, the principal's handle, the weak key) with its `Arc`
    /// counts, and the map's eviction metadata.
    pub(crate) const ENTRY_OVERHEAD: usize = std::mem::size_of::<Tail>()
        + std::mem::size_of::<Arc<Entry>>()
        + 2 * std::mem::size_of::<usize>()
        + std::mem::size_of::<Entry>()
        + 24; // hashbrown control byte, S3-FIFO links and load-factor slack, rounded up
}

#[cfg(test)]
mod tests {
    use crate::algorithm::Algorithm;

    use super::*;
    use crate::keys::{KeyMaterial, KeyType};

    fn key() -> Arc<VerifyingKey> {
        let x = [7u8; 32];
        let material = KeyMaterial::Encoded(&x);
        let key = VerifyingKey::new(
            None,
            KeyType::Ed25519,
            None,
            None,
            material,
            Algorithm::EdDSA,
        );
        Arc::new(key.unwrap())
    }

    fn principal(exp: f64) -> Principal {
        let claims = format!(r#"{{"sub":"alice","exp":{exp}}}"#);
        Principal::from_verified(claims.into_bytes(), exp, &crate::principal::identity::OAUTH)
            .unwrap()
    }

    #[test]
    fn finds_only_the_exact_token_while_it_lives_and_its_key_stays() {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let cache = TokenCache::new(16);
        let key = key();
        let claims = r#"{"sub":"alice","exp":2000}"#;
        let payload = URL_SAFE_NO_PAD.encode(claims);
        let token = format!("aGVhZGVy.{payload}.c2lnbmF0dXJlLXRhaWwtMDEyMzQ1Njc4OQ");
        let token = token.as_str();
        cache.insert(token, principal(2000.0), &key);
        assert_eq!(cache.len(), 1);
        assert!(cache.get(token, 1500.0, 0.0).is_some());
        // The same last 16 bytes with anything else changed: another header, another payload,
        // another signature start, the same payload spelled otherwise, a fourth segment.
        let other_claims = URL_SAFE_NO_PAD.encode(r#"{"sub":"mallory","exp":2000}"#);
        let spelled_otherwise = {
            // The last character's unused bits set: the same bytes, not canonical.
            let mut chars = payload.clone().into_bytes();
            let last = chars.len() - 1;
            chars[last] = if chars[last] == b'Q' {
                b'R'
            } else {
                chars[last] + 1
            };
            String::from_utf8(chars).unwrap()
        };
        for other in [
            format!("aGVhZGVZ.{payload}.c2lnbmF0dXJlLXRhaWwtMDEyMzQ1Njc4OQ"),
            format!("aGVhZGVy.{other_claims}.c2lnbmF0dXJlLXRhaWwtMDEyMzQ1Njc4OQ"),
            format!("aGVhZGVy.{payload}.X2lnbmF0dXJlLXRhaWwtMDEyMzQ1Njc4OQ"),
            format!("aGVhZGVy.{spelled_otherwise}.c2lnbmF0dXJlLXRhaWwtMDEyMzQ1Njc4OQ"),
            format!("aGVhZGVy.{payload}.x.c2lnbmF0dXJlLXRhaWwtMDEyMzQ1Njc4OQ"),
        ] {
            assert!(cache.get(&other, 1500.0, 0.0).is_none(), "{other}");
        }
        assert!(cache.get("short", 1500.0, 0.0).is_none());
        // The key leaves the key set: the entry is dead, and dropped.
        let other_key = self::key();
        cache.insert(token, principal(2000.0), &other_key);
        drop(other_key);
        assert!(cache.get(token, 1500.0, 0.0).is_none());
        assert_eq!(cache.len(), 0);
        // Expired, leeway included: served until `exp` + leeway, then dropped.
        cache.insert(token, principal(2000.0), &key);
        assert!(cache.get(token, 2009.0, 10.0).is_some());
        assert!(cache.get(token, 2010.0, 10.0).is_none());
        assert_eq!(cache.len(), 0);
    }

    /// The header's text, a dot and the signature's bytes, whether the text fits on the stack
    /// (a usual token) or not (a long header, an oversized signature); nothing for a signature
    /// that is not canonical base64url.
    #[test]
    fn fingerprints_the_header_and_the_signature_bytes_on_either_path() {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let reference = |header: &str, signature: &[u8]| {
            let mut text = header.as_bytes().to_vec();
            text.push(b'.');
            text.extend_from_slice(signature);
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &text);
            <Fingerprint>::try_from(digest.as_ref()).unwrap()
        };
        let rs256 = [7u8; 256];
        let rs4096 = [8u8; 512];
        let rs8192 = [9u8; 1024];
        for (header, signature) in [
            ("eyJhbGciOiJSUzI1NiJ9".to_owned(), &rs256[..]),
            ("eyJhbGciOiJSUzI1NiJ9".to_owned(), &rs4096[..]),
            ("eyJhbGciOiJSUzI1NiJ9".to_owned(), &rs8192[..]),
            ("A".repeat(600), &rs8192[..]),
            ("A".repeat(2000), &rs256[..]),
        ] {
            let encoded = URL_SAFE_NO_PAD.encode(signature);
            assert_eq!(
                fingerprint(&header, &encoded),
                Some(reference(&header, signature)),
                "header of {} characters, signature of {} bytes",
                header.len(),
                signature.len()
            );
        }
        // The unused bits of the last character set: the same bytes, another spelling.
        assert_eq!(fingerprint("eyJhbGciOiJSUzI1NiJ9", "QR"), None);
        assert_eq!(fingerprint(&"A".repeat(2000), "QR"), None);
    }

    #[test]
    fn stays_within_its_bound() {
        let cache = TokenCache::new(32);
        let key = key();
        for i in 0..1000 {
            let token = format!("aGVhZGVy.cGF5bG9hZA.c2lnbmF0dXJl{i:016}");
            cache.insert(&token, principal(2000.0), &key);
        }
        assert!(cache.len() <= 32, "{}", cache.len());
        assert!(cache.len() > 0);
    }
}
