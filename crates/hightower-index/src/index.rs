//! [`Index`]: the live, sharded, copy-on-write key directory.
//!
//! Locking protocol: every mutation holds the gate in read mode for its
//! whole duration (one key, or a whole batch) and the shard lock of the
//! key it changes; [`Index::snapshot`] and [`Index::install`] hold the gate
//! in write mode. So a snapshot sees every mutation either entirely or not
//! at all, batches included, and the order in which it visits the shards
//! does not matter. Point reads take only their shard lock.
//!
//! The gate is never taken twice by one thread: a queued gate writer would
//! otherwise block the second read and deadlock. Methods that hold it call
//! the `_gated` helpers, never the public methods.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::RwLock;

use crate::snapshot::IndexSnapshot;
use crate::{Entry, INLINE_KEY_BYTES_MAX, Key, Location, SHARD_COUNT, ShardMap, shard_of};

/// Heap bytes per live key of the tree nodes, measured with random 16-byte
/// keys by `examples/index_memory.rs` (inline key bytes included); used
/// only by [`Index::memory_estimate_bytes`].
const NODE_BYTES_PER_KEY_ESTIMATE: usize = 80;

/// A shard aligned to its own cache line, so that writers on different
/// shards do not contend on one line.
#[repr(align(64))]
struct Shard(RwLock<ShardMap>);

/// The live key directory: every live key, with the version and the
/// location of its newest record.
///
/// All methods take `&self`; the index is meant to be shared between
/// threads (for example in an `Arc`). See the crate docs for an example.
pub struct Index {
    /// `shards[shard_of(key)]` holds `key`, if live.
    shards: Box<[Shard; SHARD_COUNT]>,
    /// Read mode: a mutation is in progress. Write mode: a snapshot or an
    /// install is reading or replacing all shards at once.
    gate: RwLock<()>,
    /// Keys across all shards; changed only while the gate is held.
    n_live_keys: AtomicUsize,
    /// Heap bytes of keys longer than the inline capacity; changed only
    /// while the gate is held.
    spilled_key_bytes: AtomicUsize,
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Self {
            shards: Box::new(std::array::from_fn(|_| Shard(RwLock::new(ShardMap::new())))),
            gate: RwLock::new(()),
            n_live_keys: AtomicUsize::new(0),
            spilled_key_bytes: AtomicUsize::new(0),
        }
    }

    /// An index that starts out with the contents of `snapshot`.
    pub fn from_snapshot(snapshot: IndexSnapshot) -> Self {
        let index = Self::new();
        index.install(snapshot);
        index
    }

    /// The entry of `key`, if the key is live.
    pub fn get(&self, key: &[u8]) -> Option<Entry> {
        self.shard(key).read().get(key).copied()
    }

    /// Sets the entry of `key` and returns the entry it replaced, if any.
    pub fn insert(&self, key: &[u8], entry: Entry) -> Option<Entry> {
        let _gate = self.gate.read();
        self.insert_gated(key, entry)
    }

    /// Removes `key` and returns its entry, if it was live.
    pub fn remove(&self, key: &[u8]) -> Option<Entry> {
        let _gate = self.gate.read();
        self.remove_gated(key)
    }

    /// Applies a batch of updates in order: `Some(entry)` sets a key's
    /// entry, `None` removes the key.
    ///
    /// A snapshot sees either none of the batch or all of it. Concurrent
    /// readers of single keys ([`Index::get`]) may see part of it.
    ///
    /// `updates` is consumed while snapshots are held off, so it should be
    /// cheap to iterate and must not call back into this index.
    pub fn apply<'a>(&self, updates: impl IntoIterator<Item = (&'a [u8], Option<Entry>)>) {
        let _gate = self.gate.read();
        for (key, update) in updates {
            match update {
                Some(entry) => {
                    self.insert_gated(key, entry);
                }
                None => {
                    self.remove_gated(key);
                }
            }
        }
    }

    /// Moves the entry of `key` from `from` to `to`, keeping its version,
    /// but only if it still points at `from`; returns whether it moved.
    ///
    /// Compaction calls this after copying a record: a key written again
    /// in the meantime points elsewhere and is left alone.
    pub fn relocate(&self, key: &[u8], from: Location, to: Location) -> bool {
        let _gate = self.gate.read();
        let mut map = self.shard(key).write();
        // Look before taking a mutable path: `get_mut` copies the path of
        // nodes that a snapshot shares even when nothing changes.
        let points_at_from = map.get(key).is_some_and(|entry| entry.location == from);
        if !points_at_from {
            return false;
        }
        let entry = map
            .get_mut(key)
            .expect("the key was found under the same shard write lock");
        entry.location = to;
        true
    }

    /// Removes `key`, but only if its entry still points at `at`; returns
    /// whether it was removed. Compaction calls this for a put it dropped
    /// as expired: a key written again in the meantime is left alone.
    pub fn remove_if_at(&self, key: &[u8], at: Location) -> bool {
        let _gate = self.gate.read();
        let mut map = self.shard(key).write();
        // Look before removing, as `relocate` does.
        if !map.get(key).is_some_and(|entry| entry.location == at) {
            return false;
        }
        map.remove(key);
        drop(map);
        self.n_live_keys.fetch_sub(1, Ordering::Relaxed);
        self.spilled_key_bytes
            .fetch_sub(spilled_bytes(key), Ordering::Relaxed);
        true
    }

    /// A point-in-time view of the whole index, consistent across shards.
    ///
    /// Costs O(64): it clones the 64 shard roots, sharing every node.
    pub fn snapshot(&self) -> IndexSnapshot {
        let _gate = self.gate.write();
        let maps = std::array::from_fn(|shard| self.shards[shard].0.read().clone());
        let spilled_key_bytes = self.spilled_key_bytes.load(Ordering::Relaxed);
        let snapshot = IndexSnapshot::from_maps(maps, spilled_key_bytes);
        debug_assert_eq!(snapshot.len(), self.n_live_keys.load(Ordering::Relaxed));
        snapshot
    }

    /// Replaces the whole contents of the index with `snapshot`, atomically
    /// with respect to other snapshots and batches.
    ///
    /// Readers that hold an older snapshot keep it unchanged. Writes made
    /// to the index before the install are lost unless `snapshot` holds
    /// them: the caller orders installs against its own writers.
    pub fn install(&self, snapshot: IndexSnapshot) {
        let replaced: [ShardMap; SHARD_COUNT] = {
            let _gate = self.gate.write();
            let replaced = std::array::from_fn(|shard| {
                let map = snapshot.shard_map(shard).clone();
                std::mem::replace(&mut *self.shards[shard].0.write(), map)
            });
            self.n_live_keys.store(snapshot.len(), Ordering::Relaxed);
            self.spilled_key_bytes
                .store(snapshot.spilled_key_bytes(), Ordering::Relaxed);
            replaced
        };
        // Freeing the old trees can take a while; do it after the gate is
        // released so that writers are not held up.
        drop(replaced);
    }

    /// The number of live keys.
    pub fn len(&self) -> usize {
        self.n_live_keys.load(Ordering::Relaxed)
    }

    /// Whether no key is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An estimate of the heap bytes the live index holds, from the key
    /// count and the bytes of spilled keys; O(1). Nodes kept alive only by
    /// outstanding snapshots are not counted.
    pub fn memory_estimate_bytes(&self) -> usize {
        let n_live_keys = self.n_live_keys.load(Ordering::Relaxed);
        let spilled_key_bytes = self.spilled_key_bytes.load(Ordering::Relaxed);
        n_live_keys
            .saturating_mul(NODE_BYTES_PER_KEY_ESTIMATE)
            .saturating_add(spilled_key_bytes)
    }

    /// The lock of the shard that holds `key`.
    fn shard(&self, key: &[u8]) -> &RwLock<ShardMap> {
        &self.shards[shard_of(key)].0
    }

    /// [`Index::insert`] for a caller that holds the gate in read mode.
    fn insert_gated(&self, key: &[u8], entry: Entry) -> Option<Entry> {
        let previous = self.shard(key).write().insert(Key::from_slice(key), entry);
        if previous.is_none() {
            self.n_live_keys.fetch_add(1, Ordering::Relaxed);
            self.spilled_key_bytes
                .fetch_add(spilled_bytes(key), Ordering::Relaxed);
        }
        previous
    }

    /// [`Index::remove`] for a caller that holds the gate in read mode.
    fn remove_gated(&self, key: &[u8]) -> Option<Entry> {
        let removed = self.shard(key).write().remove(key);
        if removed.is_some() {
            self.n_live_keys.fetch_sub(1, Ordering::Relaxed);
            self.spilled_key_bytes
                .fetch_sub(spilled_bytes(key), Ordering::Relaxed);
        }
        removed
    }
}

impl Default for Index {
    fn default() -> Self {
        Self::new()
    }
}

impl From<IndexSnapshot> for Index {
    fn from(snapshot: IndexSnapshot) -> Self {
        Self::from_snapshot(snapshot)
    }
}

impl fmt::Debug for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Index")
            .field("n_live_keys", &self.len())
            .finish_non_exhaustive()
    }
}

/// The heap bytes a key of this length costs beyond the inline capacity.
pub(crate) fn spilled_bytes(key: &[u8]) -> usize {
    if key.len() > INLINE_KEY_BYTES_MAX {
        key.len()
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(version: u64) -> Entry {
        Entry {
            version,
            location: location(version as u32),
            expiring: false,
        }
    }

    fn location(segment_id: u32) -> Location {
        Location {
            segment_id,
            offset: 0,
            len: 16,
        }
    }

    #[test]
    fn insert_get_remove() {
        let index = Index::new();
        assert!(index.is_empty());
        assert_eq!(index.insert(b"a", entry(1)), None);
        assert_eq!(index.get(b"a"), Some(entry(1)));
        assert_eq!(index.get(b"b"), None);
        assert_eq!(index.len(), 1);
        assert_eq!(index.remove(b"a"), Some(entry(1)));
        assert_eq!(index.remove(b"a"), None);
        assert_eq!(index.get(b"a"), None);
        assert!(index.is_empty());
    }

    #[test]
    fn overwrite_returns_previous_and_keeps_count() {
        let index = Index::new();
        index.insert(b"k", entry(1));
        assert_eq!(index.insert(b"k", entry(2)), Some(entry(1)));
        assert_eq!(index.get(b"k"), Some(entry(2)));
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn long_keys_work_and_are_counted() {
        let index = Index::new();
        let long = [0xabu8; 100];
        index.insert(&long, entry(1));
        index.insert(&long[..16], entry(2));
        assert_eq!(index.get(&long), Some(entry(1)));
        assert_eq!(index.get(&long[..16]), Some(entry(2)));
        assert_eq!(index.get(&long[..99]), None);
        assert_eq!(index.spilled_key_bytes.load(Ordering::Relaxed), 100);
        index.remove(&long);
        assert_eq!(index.spilled_key_bytes.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn relocate_moves_only_from_the_expected_location() {
        let index = Index::new();
        index.insert(b"k", entry(5));
        assert!(!index.relocate(b"k", location(9), location(7)));
        assert_eq!(index.get(b"k"), Some(entry(5)));
        assert!(index.relocate(b"k", location(5), location(7)));
        let moved = index.get(b"k").expect("relocate keeps the key");
        assert_eq!(moved.version, 5);
        assert_eq!(moved.location, location(7));
        assert!(!index.relocate(b"absent", location(5), location(7)));
        assert_eq!(index.get(b"absent"), None);
    }

    #[test]
    fn remove_if_at_removes_only_from_the_expected_location() {
        let index = Index::new();
        index.insert(b"k", entry(5));
        assert!(!index.remove_if_at(b"k", location(9)));
        assert_eq!(index.len(), 1);
        let before = index.snapshot();
        assert!(index.remove_if_at(b"k", location(5)));
        assert_eq!((index.get(b"k"), index.len()), (None, 0));
        assert_eq!(before.get(b"k"), Some(entry(5)), "a snapshot keeps it");
        assert!(!index.remove_if_at(b"k", location(5)));
    }

    #[test]
    fn relocate_does_not_change_an_earlier_snapshot() {
        let index = Index::new();
        index.insert(b"k", entry(5));
        let before = index.snapshot();
        assert!(index.relocate(b"k", location(5), location(7)));
        assert_eq!(before.get(b"k"), Some(entry(5)));
    }

    #[test]
    fn apply_inserts_and_removes_in_order() {
        let index = Index::new();
        index.insert(b"gone", entry(1));
        index.apply([
            (b"a".as_slice(), Some(entry(2))),
            (b"gone".as_slice(), None),
            (b"a".as_slice(), Some(entry(3))),
            (b"b".as_slice(), Some(entry(4))),
            (b"b".as_slice(), None),
            (b"never".as_slice(), None),
        ]);
        assert_eq!(index.get(b"a"), Some(entry(3)));
        assert_eq!(index.get(b"b"), None);
        assert_eq!(index.get(b"gone"), None);
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn install_replaces_everything_and_resets_counts() {
        let index = Index::new();
        index.insert(b"old", entry(1));
        index.insert(&[1u8; 40], entry(1));
        let other = Index::new();
        other.insert(b"new", entry(2));
        index.install(other.snapshot());
        assert_eq!(index.get(b"old"), None);
        assert_eq!(index.get(b"new"), Some(entry(2)));
        assert_eq!(index.len(), 1);
        assert_eq!(index.spilled_key_bytes.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn from_snapshot_starts_with_its_contents() {
        let source = Index::new();
        source.insert(b"a", entry(1));
        source.insert(&[3u8; 20], entry(2));
        let copy = Index::from(source.snapshot());
        source.remove(b"a");
        assert_eq!(copy.get(b"a"), Some(entry(1)));
        assert_eq!(copy.len(), 2);
        assert_eq!(copy.spilled_key_bytes.load(Ordering::Relaxed), 20);
    }

    #[test]
    fn memory_estimate_grows_with_keys() {
        let index = Index::default();
        assert_eq!(index.memory_estimate_bytes(), 0);
        index.insert(b"k", entry(1));
        index.insert(&[2u8; 30], entry(1));
        assert_eq!(
            index.memory_estimate_bytes(),
            2 * NODE_BYTES_PER_KEY_ESTIMATE + 30
        );
    }

    #[test]
    fn debug_shows_the_count_only() {
        let index = Index::new();
        index.insert(b"secret-key", entry(1));
        let shown = format!("{index:?}");
        assert!(shown.contains("n_live_keys: 1"));
        assert!(!shown.contains("secret"));
    }
}
