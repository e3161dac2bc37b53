//! [`ValueCache`]: recently read values, so that a `GET` of a hot key
//! does not read the log again.
//!
//! Every entry holds a key's value together with the version it was
//! written at. A lookup first asks the engine's in-memory index for the
//! key's current version and serves the cached value only when the
//! versions match; versions are never reused, so a value cached at the
//! index's version is the key's current value, whatever was written,
//! deleted or compacted since it was cached. Nothing needs invalidating,
//! and a stale entry is just a miss.
//!
//! Bounds: the cache is split in [`SHARDS`] shards under their own locks,
//! each holding at most its share of the configured bytes; a shard that
//! would grow past its share is emptied first. Values larger than an
//! eighth of a shard's share are not cached.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use parking_lot::Mutex;

/// Number of independently locked shards.
pub const SHARDS: usize = 64;

/// Bytes an entry costs beyond its key and value (map slot, boxes).
const ENTRY_OVERHEAD_BYTES: usize = 64;

#[derive(Debug)]
struct Cached {
    version: u64,
    value: Box<[u8]>,
}

#[derive(Debug, Default)]
struct Shard {
    entries: HashMap<Box<[u8]>, Cached>,
    bytes: usize,
}

/// See the module docs.
#[derive(Debug)]
pub struct ValueCache {
    shards: Box<[Mutex<Shard>]>,
    /// Picks the shard; keyed randomly, so clients cannot aim at one.
    shard_hasher: RandomState,
    shard_bytes_max: usize,
}

impl ValueCache {
    /// A cache of at most `bytes_max` bytes, or `None` for 0 (off).
    pub fn new(bytes_max: usize) -> Option<Self> {
        (bytes_max > 0).then(|| ValueCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            shard_hasher: RandomState::new(),
            shard_bytes_max: bytes_max / SHARDS,
        })
    }

    fn shard(&self, key: &[u8]) -> &Mutex<Shard> {
        let hash = self.shard_hasher.hash_one(key) as usize;
        &self.shards[hash % SHARDS]
    }

    /// Calls `read` with the cached value of `key` when it was cached at
    /// `version`; returns whether it did.
    pub fn read_at(&self, key: &[u8], version: u64, read: impl FnOnce(&[u8])) -> bool {
        let shard = self.shard(key).lock();
        match shard.entries.get(key) {
            Some(cached) if cached.version == version => {
                read(&cached.value);
                true
            }
            _ => false,
        }
    }

    /// Caches `value` as the value of `key` at `version` (a newer version
    /// already cached is kept).
    pub fn insert(&self, key: &[u8], version: u64, value: &[u8]) {
        let cost = key.len() + value.len() + ENTRY_OVERHEAD_BYTES;
        if cost > self.shard_bytes_max / 8 {
            return;
        }
        let mut guard = self.shard(key).lock();
        let shard = &mut *guard;
        if let Some(cached) = shard.entries.get(key) {
            if cached.version >= version {
                return;
            }
            shard.bytes -= key.len() + cached.value.len() + ENTRY_OVERHEAD_BYTES;
            shard.entries.remove(key);
        }
        if shard.bytes + cost > self.shard_bytes_max {
            shard.entries = HashMap::new();
            shard.bytes = 0;
        }
        shard.bytes += cost;
        shard.entries.insert(
            key.into(),
            Cached {
                version,
                value: value.into(),
            },
        );
    }

    /// Bytes held, as counted against the bound.
    pub fn bytes(&self) -> usize {
        self.shards.iter().map(|shard| shard.lock().bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(cache: &ValueCache, key: &[u8], version: u64) -> Option<Vec<u8>> {
        let mut found = None;
        cache.read_at(key, version, |value| found = Some(value.to_vec()));
        found
    }

    #[test]
    fn a_value_is_served_only_at_its_version() {
        let cache = ValueCache::new(1024 * 1024).expect("on");
        cache.insert(b"k", 7, b"seven");
        assert_eq!(cached(&cache, b"k", 7).as_deref(), Some(&b"seven"[..]));
        assert_eq!(cached(&cache, b"k", 8), None);
        cache.insert(b"k", 9, b"nine");
        cache.insert(b"k", 8, b"eight");
        assert_eq!(cached(&cache, b"k", 9).as_deref(), Some(&b"nine"[..]));
        assert_eq!(
            cached(&cache, b"k", 8),
            None,
            "an older version does not replace"
        );
    }

    #[test]
    fn the_bound_holds_and_large_values_are_skipped() {
        let bytes_max = SHARDS * 4096;
        let cache = ValueCache::new(bytes_max).expect("on");
        for i in 0..10_000_u32 {
            cache.insert(&i.to_le_bytes(), 1, &[0_u8; 100]);
            assert!(cache.bytes() <= bytes_max);
        }
        cache.insert(b"big", 1, &vec![0_u8; 4096]);
        assert_eq!(cached(&cache, b"big", 1), None);
        assert!(ValueCache::new(0).is_none());
    }
}
