//! [`SnapshotIter`]: entries of a snapshot in key order, merged across the
//! shards.
//!
//! Each shard is read through a cursor that copies a batch of entries out
//! of the shard's tree at a time, resuming after the last key it copied.
//! A cursor so owns everything it yields and borrows nothing from the tree
//! between calls, which lets the iterator own its snapshot (no
//! self-reference) at the cost of one seek per batch. Batches start small,
//! so that short scans copy little, and double up to a limit. A binary heap
//! holds the smallest pending entry of every shard that is not exhausted.

use std::cmp::{Ordering, Reverse};
use std::collections::VecDeque;
use std::collections::binary_heap::{BinaryHeap, PeekMut};
use std::fmt;
use std::iter::FusedIterator;
use std::ops::Bound;

use crate::snapshot::IndexSnapshot;
use crate::{Entry, Key, SHARD_COUNT, ShardMap};

/// Entries copied by a cursor's first batch.
const BATCH_LEN_MIN: usize = 4;
/// Entries copied by a cursor's batch at most.
const BATCH_LEN_MAX: usize = 256;

/// An iterator over the entries of an [`IndexSnapshot`] in ascending key
/// order, yielding each key with its entry.
///
/// It owns a clone of the snapshot, so it may outlive the snapshot value
/// it came from and move to another thread. Made by
/// [`IndexSnapshot::iter`], [`IndexSnapshot::range`] and
/// [`IndexSnapshot::prefix`].
pub struct SnapshotIter {
    /// The smallest pending entry of every shard with entries left.
    heads: BinaryHeap<Reverse<Head>>,
    /// Where the entries come from.
    shards: Shards,
}

/// Everything but the heap, so that both can be borrowed mutably at once.
struct Shards {
    /// The snapshot being read; owned, so the iterator borrows nothing.
    snapshot: IndexSnapshot,
    /// The lower end of the key range.
    start: Bound<Key>,
    /// The upper end of the key range.
    end: Bound<Key>,
    /// One cursor per shard, indexed by shard.
    cursors: Vec<ShardCursor>,
}

/// A pending entry and the shard it came from; ordered by key alone, since
/// every key lives in exactly one shard.
struct Head {
    /// The entry's key.
    key: Key,
    /// The entry itself.
    entry: Entry,
    /// The shard whose cursor supplies the next entry after this one.
    shard: usize,
}

/// The read position of the iterator in one shard.
struct ShardCursor {
    /// Entries copied from the tree and not yet handed to the heap.
    buffer: VecDeque<(Key, Entry)>,
    /// The last key copied into the buffer; `None` before the first batch.
    resume_after: Option<Key>,
    /// Entries the next batch copies at most.
    batch_len: usize,
    /// The tree holds no entry in range after `resume_after`.
    exhausted: bool,
}

impl SnapshotIter {
    /// An iterator over the entries of `snapshot` between `start` and `end`.
    pub(crate) fn new(snapshot: IndexSnapshot, start: Bound<Key>, end: Bound<Key>) -> Self {
        let mut shards = Shards {
            snapshot,
            start,
            end,
            cursors: (0..SHARD_COUNT).map(|_| ShardCursor::new()).collect(),
        };
        let heads = (0..SHARD_COUNT)
            .filter_map(|shard| {
                let (key, entry) = shards.next_of(shard)?;
                Some(Reverse(Head { key, entry, shard }))
            })
            .collect();
        Self { heads, shards }
    }
}

impl Iterator for SnapshotIter {
    type Item = (Key, Entry);

    fn next(&mut self) -> Option<(Key, Entry)> {
        let mut smallest = self.heads.peek_mut()?;
        let shard = smallest.0.shard;
        let yielded = match self.shards.next_of(shard) {
            // Replacing the top in place costs one sift down when the
            // guard drops, instead of a pop and a push.
            Some((key, entry)) => std::mem::replace(&mut smallest.0, Head { key, entry, shard }),
            None => PeekMut::pop(smallest).0,
        };
        Some((yielded.key, yielded.entry))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let buffered: usize = self.shards.cursors.iter().map(|c| c.buffer.len()).sum();
        let lower = self.heads.len() + buffered;
        (lower, Some(lower.max(self.shards.snapshot.len())))
    }
}

impl FusedIterator for SnapshotIter {}

impl fmt::Debug for SnapshotIter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotIter")
            .field("shards_pending", &self.heads.len())
            .finish_non_exhaustive()
    }
}

impl Shards {
    /// The next entry of `shard` in range, copying a new batch if needed.
    fn next_of(&mut self, shard: usize) -> Option<(Key, Entry)> {
        let cursor = &mut self.cursors[shard];
        if cursor.buffer.is_empty() && !cursor.exhausted {
            let map = self.snapshot.shard_map(shard);
            cursor.refill(map, bound_as_slice(&self.start), bound_as_slice(&self.end));
        }
        cursor.buffer.pop_front()
    }
}

impl ShardCursor {
    /// A cursor before the first batch.
    fn new() -> Self {
        Self {
            buffer: VecDeque::new(),
            resume_after: None,
            batch_len: BATCH_LEN_MIN,
            exhausted: false,
        }
    }

    /// Copies the next batch of entries in range into the empty buffer.
    ///
    /// The tree is asked for an open-ended range and the end bound is
    /// checked here: a bounded range would seek the tree twice, once for
    /// each end, and seeks are most of the cost of a short scan.
    fn refill(&mut self, map: &ShardMap, start: Bound<&[u8]>, end: Bound<&[u8]>) {
        debug_assert!(self.buffer.is_empty());
        let lower = match &self.resume_after {
            Some(last) => Bound::Excluded(last.as_slice()),
            None => start,
        };
        if range_is_empty(lower, end) {
            self.exhausted = true;
            return;
        }
        let batch = map
            .range::<_, [u8]>((lower, Bound::Unbounded))
            .take(self.batch_len);
        for (key, entry) in batch {
            if !is_before_end(key, end) {
                self.exhausted = true;
                return;
            }
            self.buffer.push_back((key.clone(), *entry));
        }
        if self.buffer.len() < self.batch_len {
            self.exhausted = true;
            return;
        }
        self.resume_after = self.buffer.back().map(|(key, _)| key.clone());
        self.batch_len = (self.batch_len * 2).min(BATCH_LEN_MAX);
    }
}

/// Whether `key` lies before `end`, so that it is in range if it lies
/// after the start.
fn is_before_end(key: &[u8], end: Bound<&[u8]>) -> bool {
    match end {
        Bound::Included(end) => key <= end,
        Bound::Excluded(end) => key < end,
        Bound::Unbounded => true,
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Head {}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key).then(self.shard.cmp(&other.shard))
    }
}

/// `bound` with a borrowed key.
fn bound_as_slice(bound: &Bound<Key>) -> Bound<&[u8]> {
    bound.as_ref().map(|key| key.as_slice())
}

/// Whether no key can lie between `start` and `end`. Checked before every
/// seek: the tree is never asked for an inverted range.
pub(crate) fn range_is_empty(start: Bound<&[u8]>, end: Bound<&[u8]>) -> bool {
    use Bound::{Excluded, Included, Unbounded};
    match (start, end) {
        (Unbounded, _) | (_, Unbounded) => false,
        (Included(start), Included(end)) => start > end,
        (Included(start) | Excluded(start), Included(end) | Excluded(end)) => start >= end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Index, Location};

    fn entry(version: u64) -> Entry {
        Entry {
            version,
            location: Location {
                segment_id: 0,
                offset: 0,
                len: 1,
            },
            expiring: false,
        }
    }

    #[test]
    fn range_is_empty_covers_every_bound_pair() {
        use Bound::{Excluded, Included, Unbounded};
        let (a, b) = (b"a".as_slice(), b"b".as_slice());
        assert!(!range_is_empty(Unbounded, Unbounded));
        assert!(!range_is_empty(Included(b), Unbounded));
        assert!(!range_is_empty(Unbounded, Excluded(a)));
        assert!(!range_is_empty(Included(a), Included(a)));
        assert!(range_is_empty(Included(a), Excluded(a)));
        assert!(range_is_empty(Excluded(a), Included(a)));
        assert!(range_is_empty(Included(b), Included(a)));
        assert!(!range_is_empty(Excluded(a), Excluded(b)));
    }

    #[test]
    fn batches_grow_and_every_entry_comes_out_once() {
        // Enough keys per shard to need several batches of every size.
        let index = Index::new();
        let n_keys = 64 * 600;
        for n in 0..n_keys {
            index.insert(&(n as u32).to_be_bytes(), entry(n));
        }
        let mut iter = index.snapshot().iter();
        let mut count = 0u64;
        let mut previous: Option<Key> = None;
        for (key, found) in iter.by_ref() {
            assert!(previous.as_ref().is_none_or(|p| *p < key));
            let bytes: [u8; 4] = key.as_slice().try_into().expect("4-byte keys");
            assert_eq!(found.version, u64::from(u32::from_be_bytes(bytes)));
            previous = Some(key);
            count += 1;
        }
        assert_eq!(count, n_keys);
        assert!(
            iter.shards
                .cursors
                .iter()
                .any(|c| c.batch_len == BATCH_LEN_MAX)
        );
        assert_eq!(iter.next(), None);
    }

    #[test]
    fn size_hint_bounds_the_count() {
        let index = Index::new();
        for n in 0..100u32 {
            index.insert(&n.to_be_bytes(), entry(1));
        }
        let iter = index.snapshot().iter();
        let (lower, upper) = iter.size_hint();
        assert!(lower <= 100);
        assert_eq!(upper, Some(100));
        assert_eq!(iter.count(), 100);
    }
}
