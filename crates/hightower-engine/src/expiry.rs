//! [`ExpiryTable`]: the expiry times of the live keys that have one, by
//! key and by time, split into the index's 64 shards.
//!
//! The log is the source of truth: an expiring put carries its absolute
//! expiry time in its record, and the index marks its entry `expiring`.
//! This table is what makes that time cheap to ask for without reading
//! the record, and what the active sweep walks in time order. It holds
//! the newest published expiring version of each key; a reader whose
//! index entry names another version (a read view older than the table,
//! or a publish in progress) reads the record instead, so the table never
//! has to be point-in-time. Keys without an expiry cost nothing here.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};

use hightower_index::{Key, SHARD_COUNT, shard_of};
use parking_lot::Mutex;
use xxhash_rust::xxh3::xxh3_64_with_seed;

#[derive(Debug, Default)]
struct Shard {
    /// A digest of each key -> the expiry time of its newest expiring
    /// write: 16 bytes a key instead of a copy of it. Two keys with one
    /// digest (random 64-bit seeded hashes: about never) cost only a
    /// record read when asked for; the answers stay right, because
    /// `by_time` holds the key itself.
    by_digest: HashMap<u64, u64>,
    /// `(expiry time, key) -> version` of every expiring write held, in
    /// the order the sweep wants them.
    by_time: BTreeMap<(u64, Key), u64>,
}

impl Shard {
    /// The version and time the shard holds for `key`.
    fn held(&self, digest: u64, key: &[u8]) -> Option<(u64, u64)> {
        let at = *self.by_digest.get(&digest)?;
        let version = *self.by_time.get(&(at, Key::from_slice(key)))?;
        Some((version, at))
    }

    /// Removes `key`, held at time `at`; returns whether it was there.
    fn remove(&mut self, digest: u64, key: &[u8], at: u64) -> bool {
        self.by_digest.remove(&digest);
        self.by_time.remove(&(at, Key::from_slice(key))).is_some()
    }
}

/// A key whose expiry time has come, as [`ExpiryTable::due`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Due {
    pub(crate) key: Key,
    /// The version that expired.
    pub(crate) version: u64,
    /// Its expiry time.
    pub(crate) at: u64,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct ExpiryTable {
    shards: [Mutex<Shard>; SHARD_COUNT],
    /// The seed of the key digests, drawn per table, so that keys crafted
    /// to collide cannot be chosen in advance.
    seed: u64,
    /// Keys in all shards, so that a store without expiring keys skips
    /// the table with one load.
    len: AtomicUsize,
}

impl Default for ExpiryTable {
    fn default() -> Self {
        ExpiryTable {
            shards: std::array::from_fn(|_| Mutex::new(Shard::default())),
            // std's RandomState carries per-process random keys.
            seed: RandomState::new().hash_one(0u64),
            len: AtomicUsize::new(0),
        }
    }
}

impl ExpiryTable {
    fn digest(&self, key: &[u8]) -> u64 {
        xxh3_64_with_seed(key, self.seed)
    }

    /// Records that `key` was published at `version`, expiring at
    /// `expires_at_ms` or never (`None`, which is also what a delete
    /// passes). An older version never replaces a newer one.
    pub(crate) fn set(&self, key: &[u8], version: u64, expires_at_ms: Option<u64>) {
        let digest = self.digest(key);
        let mut shard = self.shards[shard_of(key)].lock();
        if let Some((held, at)) = shard.held(digest, key) {
            if held > version {
                return;
            }
            if shard.remove(digest, key, at) {
                self.len.fetch_sub(1, Ordering::AcqRel);
            }
        }
        if let Some(at) = expires_at_ms {
            shard.by_digest.insert(digest, at);
            if shard
                .by_time
                .insert((at, Key::from_slice(key)), version)
                .is_none()
            {
                self.len.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    /// The expiry time of `key` at exactly `version`, if the table holds
    /// that version.
    pub(crate) fn get(&self, key: &[u8], version: u64) -> Option<u64> {
        let digest = self.digest(key);
        let shard = self.shards[shard_of(key)].lock();
        shard
            .held(digest, key)
            .filter(|(held, _)| *held == version)
            .map(|(_, at)| at)
    }

    /// Up to `limit` keys whose time has come at `now_ms`, with the
    /// version that expires and its time, soonest first within each
    /// shard.
    pub(crate) fn due(&self, now_ms: u64, limit: usize) -> Vec<Due> {
        let mut due = Vec::new();
        for shard in &self.shards {
            let shard = shard.lock();
            for ((at, key), version) in &shard.by_time {
                if *at > now_ms || due.len() >= limit {
                    break;
                }
                due.push(Due {
                    key: key.clone(),
                    version: *version,
                    at: *at,
                });
            }
            if due.len() >= limit {
                break;
            }
        }
        due
    }

    /// Forgets a due entry the sweep found changed, if the table still
    /// holds it at its version.
    pub(crate) fn forget(&self, due: &Due) {
        let digest = self.digest(&due.key);
        let mut shard = self.shards[shard_of(&due.key)].lock();
        let slot = (due.at, due.key.clone());
        if shard.by_time.get(&slot) != Some(&due.version) {
            return;
        }
        shard.by_time.remove(&slot);
        if shard.by_digest.get(&digest) == Some(&due.at) {
            shard.by_digest.remove(&digest);
        }
        self.len.fetch_sub(1, Ordering::AcqRel);
    }

    /// Forgets `key` if the table holds it at `version` (a replicated
    /// sweep found it changed).
    pub(crate) fn forget_version(&self, key: &[u8], version: u64) {
        let digest = self.digest(key);
        let at = {
            let shard = self.shards[shard_of(key)].lock();
            match shard.held(digest, key) {
                Some((held, at)) if held == version => at,
                _ => return,
            }
        };
        self.forget(&Due {
            key: Key::from_slice(key),
            version,
            at,
        });
    }

    /// Forgets every key (the store was replaced).
    pub(crate) fn clear(&self) {
        for shard in &self.shards {
            let mut shard = shard.lock();
            self.len.fetch_sub(shard.by_time.len(), Ordering::AcqRel);
            *shard = Shard::default();
        }
    }

    /// Number of keys with an expiry.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Whether no key has an expiry.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_version_wins_and_a_plain_write_clears() {
        let table = ExpiryTable::default();
        table.set(b"k", 2, Some(100));
        table.set(b"k", 1, Some(50));
        assert_eq!(table.get(b"k", 2), Some(100));
        assert_eq!(table.get(b"k", 1), None, "only the version it holds");
        table.set(b"k", 3, None);
        assert_eq!(table.get(b"k", 2), None);
        assert_eq!(table.len(), 0);
        assert!(table.due(u64::MAX, 10).is_empty());
    }

    #[test]
    fn due_keys_come_by_time_up_to_the_limit() {
        let table = ExpiryTable::default();
        for n in 0..100u64 {
            table.set(&n.to_be_bytes(), n + 1, Some(1_000 + n));
        }
        assert!(table.due(999, 10).is_empty());
        let due = table.due(1_009, 1_000);
        assert_eq!(due.len(), 10);
        for entry in &due {
            let n = u64::from_be_bytes(entry.key.as_slice().try_into().unwrap());
            assert!(n < 10);
            assert_eq!((entry.version, entry.at), (n + 1, 1_000 + n));
        }
        assert_eq!(table.due(u64::MAX, 7).len(), 7);
        table.clear();
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn a_forgotten_due_entry_leaves_the_rest() {
        let table = ExpiryTable::default();
        table.set(b"a", 1, Some(10));
        table.set(b"b", 2, Some(20));
        let due = table.due(15, 10);
        assert_eq!(due.len(), 1);
        table.set(b"a", 3, Some(30));
        table.forget(&due[0]);
        assert_eq!(table.get(b"a", 3), Some(30), "a newer version stays");
        table.set(b"a", 4, None);
        let stale = Due {
            key: Key::from_slice(b"b"),
            version: 1,
            at: 20,
        };
        table.forget(&stale);
        assert_eq!(table.get(b"b", 2), Some(20), "only the exact version goes");
        table.forget(&table.due(20, 10)[0]);
        assert!(table.is_empty());
    }

    #[test]
    fn keys_that_share_a_digest_are_answered_right() {
        // A table whose seed is fixed and a shard where two keys collide
        // cannot be built on demand; the same state is made by hand: the
        // digest of `a` points at `b`'s time.
        let table = ExpiryTable::default();
        table.set(b"a", 1, Some(10));
        table.set(b"b", 2, Some(20));
        {
            let digest = table.digest(b"a");
            let mut shard = table.shards[shard_of(b"a")].lock();
            shard.by_digest.insert(digest, 20);
        }
        assert_eq!(
            table.get(b"a", 1),
            None,
            "unknown: the reader reads the record"
        );
        assert_eq!(table.get(b"b", 2), Some(20));
        let due = table.due(u64::MAX, 10);
        assert!(
            due.iter()
                .any(|d| d.key.as_slice() == b"a" && d.version == 1)
        );
        for entry in &due {
            table.forget(entry);
        }
        assert!(table.is_empty());
    }
}
