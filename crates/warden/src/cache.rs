//! A bounded cache of verified tokens, so a token seen before skips parsing and signature work.
//!
//! - Keyed by the BLAKE3 hash of the whole token string (collision-resistant, 32 bytes, and about
//!   five times faster than SHA-256 without SHA extensions): the token itself is not kept, so an
//!   entry costs the principal (about the payload's size) plus a fixed overhead.
//! - An entry lives until its token expires (`exp` + leeway), and is dropped as soon as the key
//!   that verified it leaves its issuer's key set (it holds only a weak reference to the key).
//! - Revocation is still checked on every request; the cache only saves the verification.
//! - Bounded: 16 shards with `capacity / 16` entries each; a full shard first drops its expired
//!   entries, then the rest. Each shard has its own short read/write lock; no I/O happens under it.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, Weak};

use crate::keys::VerifyingKey;
use crate::principal::Principal;

const SHARDS: usize = 16;

/// The number of verified tokens cached unless told otherwise.
pub const DEFAULT_TOKEN_CACHE_CAPACITY: usize = 16_384;

pub(crate) type Digest = [u8; 32];

struct Entry {
    principal: Principal,
    key: Weak<VerifyingKey>,
}

pub(crate) struct TokenCache {
    shards: Vec<RwLock<HashMap<Digest, Entry>>>,
    per_shard: usize,
}

impl TokenCache {
    pub(crate) fn new(capacity: usize) -> Self {
        TokenCache {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    pub(crate) fn digest(token: &str) -> Digest {
        *blake3::hash(token.as_bytes()).as_bytes()
    }

    fn shard(&self, digest: &Digest) -> &RwLock<HashMap<Digest, Entry>> {
        &self.shards[usize::from(digest[0]) % SHARDS]
    }

    /// The cached principal, if the token is cached, unexpired, and its key is still loaded.
    pub(crate) fn get(&self, digest: &Digest, now: f64, leeway: f64) -> Option<Principal> {
        let shard = self
            .shard(digest)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = shard.get(digest)?;
        if now >= entry.principal.expires_at_secs() + leeway || entry.key.strong_count() == 0 {
            return None;
        }
        Some(entry.principal.clone())
    }

    pub(crate) fn insert(
        &self,
        digest: Digest,
        principal: Principal,
        key: &Arc<VerifyingKey>,
        now: f64,
    ) {
        // A panic elsewhere cannot leave a map half-updated: recover a poisoned lock.
        let mut shard = self
            .shard(&digest)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= self.per_shard && !shard.contains_key(&digest) {
            shard.retain(|_, e| e.principal.expires_at_secs() > now && e.key.strong_count() > 0);
            if shard.len() >= self.per_shard {
                shard.clear();
            }
        }
        shard.insert(
            digest,
            Entry {
                principal,
                key: Arc::downgrade(key),
            },
        );
    }

    /// The number of cached tokens.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    /// Bytes held per entry besides the principal: the digest, the weak key, the map slot.
    pub(crate) const ENTRY_OVERHEAD: usize =
        std::mem::size_of::<Digest>() + std::mem::size_of::<Entry>() + 8; // hashbrown control byte and load-factor slack, rounded up
}
