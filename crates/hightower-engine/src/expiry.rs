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

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};

use hightower_index::{Key, SHARD_COUNT, shard_of};
use parking_lot::Mutex;

/// The expiry of one key's newest expiring write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Expiring {
    version: u64,
    expires_at_ms: u64,
}

#[derive(Debug, Default)]
struct Shard {
    by_key: HashMap<Key, Expiring>,
    /// `(expires_at_ms, key)` of every entry of `by_key`.
    by_time: BTreeSet<(u64, Key)>,
}

impl Shard {
    /// Removes `key`; returns whether it was there.
    fn remove(&mut self, key: &[u8]) -> bool {
        let Some(old) = self.by_key.remove(key) else {
            return false;
        };
        self.by_time
            .remove(&(old.expires_at_ms, Key::from_slice(key)));
        true
    }
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct ExpiryTable {
    shards: [Mutex<Shard>; SHARD_COUNT],
    /// Keys in all shards, so that a store without expiring keys skips
    /// the table with one load.
    len: AtomicUsize,
}

impl Default for ExpiryTable {
    fn default() -> Self {
        ExpiryTable {
            shards: std::array::from_fn(|_| Mutex::new(Shard::default())),
            len: AtomicUsize::new(0),
        }
    }
}

impl ExpiryTable {
    /// Records that `key` was published at `version`, expiring at
    /// `expires_at_ms` or never (`None`, which is also what a delete
    /// passes). An older version never replaces a newer one.
    pub(crate) fn set(&self, key: &[u8], version: u64, expires_at_ms: Option<u64>) {
        let mut shard = self.shards[shard_of(key)].lock();
        if shard
            .by_key
            .get(key)
            .is_some_and(|newest| newest.version > version)
        {
            return;
        }
        if shard.remove(key) {
            self.len.fetch_sub(1, Ordering::AcqRel);
        }
        if let Some(expires_at_ms) = expires_at_ms {
            self.len.fetch_add(1, Ordering::AcqRel);
            let key = Key::from_slice(key);
            shard.by_time.insert((expires_at_ms, key.clone()));
            shard.by_key.insert(
                key,
                Expiring {
                    version,
                    expires_at_ms,
                },
            );
        }
    }

    /// The expiry time of `key` at exactly `version`, if the table holds
    /// that version.
    pub(crate) fn get(&self, key: &[u8], version: u64) -> Option<u64> {
        let shard = self.shards[shard_of(key)].lock();
        shard
            .by_key
            .get(key)
            .filter(|newest| newest.version == version)
            .map(|newest| newest.expires_at_ms)
    }

    /// Up to `limit` keys whose time has come at `now_ms`, with the
    /// version that expires, soonest first within each shard.
    pub(crate) fn due(&self, now_ms: u64, limit: usize) -> Vec<(Key, u64)> {
        let mut due = Vec::new();
        for shard in &self.shards {
            let shard = shard.lock();
            for (at, key) in &shard.by_time {
                if *at > now_ms || due.len() >= limit {
                    break;
                }
                let version = shard.by_key[key.as_slice()].version;
                due.push((key.clone(), version));
            }
            if due.len() >= limit {
                break;
            }
        }
        due
    }

    /// Forgets `key` if the table holds it at exactly `version` (a key
    /// the sweep found changed).
    pub(crate) fn forget(&self, key: &[u8], version: u64) {
        let mut shard = self.shards[shard_of(key)].lock();
        if shard
            .by_key
            .get(key)
            .is_some_and(|held| held.version == version)
            && shard.remove(key)
        {
            self.len.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Forgets every key (the store was replaced).
    pub(crate) fn clear(&self) {
        for shard in &self.shards {
            let mut shard = shard.lock();
            self.len.fetch_sub(shard.by_key.len(), Ordering::AcqRel);
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
        for (key, version) in &due {
            let n = u64::from_be_bytes(key.as_slice().try_into().unwrap());
            assert!(n < 10);
            assert_eq!(*version, n + 1);
        }
        assert_eq!(table.due(u64::MAX, 7).len(), 7);
        table.clear();
        assert_eq!(table.len(), 0);
    }
}
