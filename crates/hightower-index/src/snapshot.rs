//! [`IndexSnapshot`]: an immutable, point-in-time view of the index.

use std::fmt;
use std::ops::Bound;
use std::sync::Arc;

use crate::iter::SnapshotIter;
use crate::{Entry, Key, SHARD_COUNT, ShardMap, shard_of};

/// A point-in-time view of an [`Index`](crate::Index), or the output of an
/// [`IndexBuilder`](crate::IndexBuilder).
///
/// A snapshot never changes after it is taken. Cloning it is O(1), and
/// its iterators own a clone, so they may outlive the borrow they came
/// from and move to other threads.
#[derive(Clone)]
pub struct IndexSnapshot {
    /// Shared by every clone of the snapshot and by its iterators.
    inner: Arc<SnapshotInner>,
}

/// The immutable contents of a snapshot.
struct SnapshotInner {
    /// `maps[shard_of(key)]` holds `key`, if live.
    maps: [ShardMap; SHARD_COUNT],
    /// Keys across all shards: the sum of the shard lengths.
    n_live_keys: usize,
    /// Heap bytes of the keys longer than the inline capacity.
    spilled_key_bytes: usize,
}

impl IndexSnapshot {
    /// A snapshot of an empty index.
    pub fn empty() -> Self {
        Self::from_maps(std::array::from_fn(|_| ShardMap::new()), 0)
    }

    /// Wraps 64 shard maps; `maps[shard]` must hold exactly the keys for
    /// which [`shard_of`] returns `shard`.
    pub(crate) fn from_maps(maps: [ShardMap; SHARD_COUNT], spilled_key_bytes: usize) -> Self {
        let n_live_keys = maps.iter().map(ShardMap::len).sum();
        Self {
            inner: Arc::new(SnapshotInner {
                maps,
                n_live_keys,
                spilled_key_bytes,
            }),
        }
    }

    /// The entry of `key`, if the key was live when the snapshot was taken.
    pub fn get(&self, key: &[u8]) -> Option<Entry> {
        self.inner.maps[shard_of(key)].get(key).copied()
    }

    /// The number of live keys in the snapshot.
    pub fn len(&self) -> usize {
        self.inner.n_live_keys
    }

    /// Whether the snapshot holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every entry, in ascending key order.
    pub fn iter(&self) -> SnapshotIter {
        SnapshotIter::new(self.clone(), Bound::Unbounded, Bound::Unbounded)
    }

    /// The entries whose keys lie between `start` and `end`, in ascending
    /// key order. A range whose start lies after its end is empty.
    pub fn range(&self, start: Bound<&[u8]>, end: Bound<&[u8]>) -> SnapshotIter {
        SnapshotIter::new(self.clone(), owned_bound(start), owned_bound(end))
    }

    /// The entries whose keys start with `prefix`, in ascending key order.
    /// The empty prefix matches every key.
    pub fn prefix(&self, prefix: &[u8]) -> SnapshotIter {
        let end = match prefix_successor(prefix) {
            Some(successor) => Bound::Excluded(successor),
            None => Bound::Unbounded,
        };
        SnapshotIter::new(self.clone(), Bound::Included(Key::from_slice(prefix)), end)
    }

    /// The map of one shard.
    pub(crate) fn shard_map(&self, shard: usize) -> &ShardMap {
        &self.inner.maps[shard]
    }

    /// Heap bytes of the keys longer than the inline capacity.
    pub(crate) fn spilled_key_bytes(&self) -> usize {
        self.inner.spilled_key_bytes
    }
}

impl Default for IndexSnapshot {
    fn default() -> Self {
        Self::empty()
    }
}

impl IntoIterator for &IndexSnapshot {
    type Item = (Key, Entry);
    type IntoIter = SnapshotIter;

    fn into_iter(self) -> SnapshotIter {
        self.iter()
    }
}

impl fmt::Debug for IndexSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IndexSnapshot")
            .field("n_live_keys", &self.len())
            .finish_non_exhaustive()
    }
}

/// `bound` with an owned key.
fn owned_bound(bound: Bound<&[u8]>) -> Bound<Key> {
    bound.map(Key::from_slice)
}

/// The smallest key greater than every key that starts with `prefix`, or
/// `None` when there is none (the prefix is empty or all 0xff bytes).
fn prefix_successor(prefix: &[u8]) -> Option<Key> {
    let mut successor = Key::from_slice(prefix);
    while let Some(last) = successor.pop() {
        if last < u8::MAX {
            successor.push(last + 1);
            return Some(successor);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Index, Location};

    fn entry(version: u64) -> Entry {
        Entry {
            version,
            location: Location {
                segment_id: 1,
                offset: version as u32,
                len: 8,
            },
            expiring: false,
        }
    }

    fn index_of(keys: &[&[u8]]) -> Index {
        let index = Index::new();
        for (n, key) in keys.iter().enumerate() {
            index.insert(key, entry(n as u64));
        }
        index
    }

    fn keys(iter: SnapshotIter) -> Vec<Vec<u8>> {
        iter.map(|(key, _)| key.to_vec()).collect()
    }

    #[test]
    fn prefix_successor_handles_0xff_and_empty() {
        assert_eq!(prefix_successor(b"ab").as_deref(), Some(b"ac".as_slice()));
        assert_eq!(
            prefix_successor(&[1, 0xff, 0xff]).as_deref(),
            Some([2u8].as_slice())
        );
        assert_eq!(prefix_successor(&[0xff, 0xff]), None);
        assert_eq!(prefix_successor(b""), None);
    }

    #[test]
    fn iter_is_in_key_order_across_shards() {
        let index = Index::new();
        for n in (0..2_000u32).rev() {
            index.insert(&n.to_be_bytes(), entry(u64::from(n)));
        }
        let snapshot = index.snapshot();
        let seen: Vec<u32> = snapshot
            .iter()
            .map(|(key, found)| {
                let bytes: [u8; 4] = key.as_slice().try_into().expect("4-byte keys");
                let n = u32::from_be_bytes(bytes);
                assert_eq!(found, entry(u64::from(n)));
                n
            })
            .collect();
        assert_eq!(seen, (0..2_000).collect::<Vec<_>>());
    }

    #[test]
    fn empty_snapshot_yields_nothing() {
        let snapshot = IndexSnapshot::default();
        assert!(snapshot.is_empty());
        assert_eq!(snapshot.iter().count(), 0);
        assert_eq!(snapshot.prefix(b"").count(), 0);
        assert_eq!(snapshot.get(b"x"), None);
    }

    #[test]
    fn prefix_with_empty_prefix_and_0xff_bytes() {
        let all: [&[u8]; 7] = [b"", b"a", b"ab", b"b", &[0xff], &[0xff, 0xff], &[0xff, 0]];
        let snapshot = index_of(&all).snapshot();
        assert_eq!(snapshot.prefix(b"").count(), 7);
        assert_eq!(
            keys(snapshot.prefix(b"a")),
            vec![b"a".to_vec(), b"ab".to_vec()]
        );
        assert_eq!(
            keys(snapshot.prefix(&[0xff])),
            vec![vec![0xff], vec![0xff, 0], vec![0xff, 0xff]]
        );
        assert_eq!(keys(snapshot.prefix(&[0xff, 0xff])), vec![vec![0xff, 0xff]]);
        assert_eq!(snapshot.prefix(b"c").count(), 0);
    }

    #[test]
    fn range_bounds_included_excluded_unbounded() {
        let snapshot = index_of(&[b"a", b"b", b"c", b"d"]).snapshot();
        let range = |start, end| keys(snapshot.range(start, end));
        let abcd = |s: &str| s.bytes().map(|b| vec![b]).collect::<Vec<_>>();
        use Bound::{Excluded, Included, Unbounded};
        assert_eq!(range(Included(b"b"), Included(b"c")), abcd("bc"));
        assert_eq!(range(Excluded(b"b"), Included(b"c")), abcd("c"));
        assert_eq!(range(Included(b"b"), Excluded(b"c")), abcd("b"));
        assert_eq!(range(Excluded(b"b"), Excluded(b"c")), abcd(""));
        assert_eq!(range(Unbounded, Excluded(b"c")), abcd("ab"));
        assert_eq!(range(Excluded(b"b"), Unbounded), abcd("cd"));
        assert_eq!(range(Unbounded, Unbounded), abcd("abcd"));
        assert_eq!(range(Included(b"bb"), Included(b"zz")), abcd("cd"));
    }

    #[test]
    fn inverted_and_degenerate_ranges_are_empty() {
        let snapshot = index_of(&[b"a", b"b", b"c"]).snapshot();
        use Bound::{Excluded, Included};
        let b = b"b".as_slice();
        let c = b"c".as_slice();
        assert_eq!(snapshot.range(Included(c), Included(b)).count(), 0);
        assert_eq!(snapshot.range(Excluded(b), Excluded(b)).count(), 0);
        assert_eq!(snapshot.range(Included(b), Excluded(b)).count(), 0);
        assert_eq!(snapshot.range(Excluded(b), Included(b)).count(), 0);
        assert_eq!(snapshot.range(Included(b), Included(b)).count(), 1);
    }

    #[test]
    fn iterator_outlives_the_snapshot_it_came_from() {
        let index = index_of(&[b"x", b"y"]);
        let iter = {
            let snapshot = index.snapshot();
            snapshot.iter()
        };
        index.remove(b"x");
        assert_eq!(keys(iter), vec![b"x".to_vec(), b"y".to_vec()]);
    }

    #[test]
    fn debug_does_not_print_keys() {
        let snapshot = index_of(&[b"secret"]).snapshot();
        let shown = format!("{snapshot:?}");
        assert!(shown.contains("n_live_keys: 1"));
        assert!(!shown.contains("secret"));
    }
}
