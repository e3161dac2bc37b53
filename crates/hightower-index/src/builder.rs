//! [`IndexBuilder`]: builds a new directory off to the side from observed
//! records, keeping per key the one with the highest version.

use std::collections::hash_map::{self, HashMap, RandomState};
use std::fmt;
use std::hash::{BuildHasher, Hasher};

use crate::index::spilled_bytes;
use crate::snapshot::IndexSnapshot;
use crate::{Entry, Key, Location, SHARD_COUNT, ShardMap, shard_of};

/// Builds an [`IndexSnapshot`] from records observed in any order, at
/// recovery from segment footers or from compaction output, while readers
/// keep using the live [`Index`](crate::Index).
///
/// Per key only the record with the highest version is kept. A tombstone
/// (a delete) competes like a put: it hides every older put of its key,
/// whether that put is observed before or after it, and
/// [`IndexBuilder::build`] then drops it. When two records of a key carry
/// the same version, the one observed later wins, so observing segments in
/// ascending id order prefers the newest copy of a record.
#[derive(Default)]
pub struct IndexBuilder {
    /// The newest record observed for each key.
    newest: HashMap<Key, Newest, KeyHashBuilder>,
    /// Keys whose newest record is a put.
    n_live_keys: usize,
}

/// The newest record observed for a key; `location` is `None` for a
/// tombstone.
#[derive(Clone, Copy)]
struct Newest {
    /// The record's version.
    version: u64,
    /// Where the put lies, or `None` for a tombstone.
    location: Option<Location>,
    /// The put carries an expiry time.
    expiring: bool,
}

/// Threads that [`IndexBuilder::build`] uses at most.
const BUILD_THREADS_MAX: usize = 4;

/// Below this many live keys a build runs on the calling thread alone:
/// starting threads would cost more than they save.
const PARALLEL_BUILD_KEYS_MIN: usize = 16 * 1024;

/// Hashes a key with one-shot xxh3, cheaper than a streaming hasher for
/// keys this short.
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }

    fn write_usize(&mut self, _length_prefix: usize) {
        // Keys hash as slices, which write their length first; xxh3 of the
        // bytes already depends on the length.
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Makes [`KeyHasher`]s with a seed drawn per builder, so that keys
/// crafted to collide cannot slow recovery down.
#[derive(Clone)]
struct KeyHashBuilder {
    /// The xxh3 seed of every hash this builder makes.
    seed: u64,
}

impl Default for KeyHashBuilder {
    fn default() -> Self {
        // std's RandomState carries per-process random keys.
        Self {
            seed: RandomState::new().hash_one(0u64),
        }
    }
}

impl BuildHasher for KeyHashBuilder {
    type Hasher = KeyHasher;

    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(self.seed)
    }
}

impl IndexBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty builder with room for `n_keys` distinct keys.
    pub fn with_capacity(n_keys: usize) -> Self {
        Self {
            newest: HashMap::with_capacity_and_hasher(n_keys, KeyHashBuilder::default()),
            n_live_keys: 0,
        }
    }

    /// Records that `key` was written at `version`: a put stored at
    /// `Some(location)`, or a tombstone for `None`. Kept only if no record
    /// of the key with a higher version was observed.
    pub fn observe(&mut self, key: &[u8], version: u64, location: Option<Location>) {
        self.observe_newest(
            key,
            Newest {
                version,
                location,
                expiring: false,
            },
        );
    }

    /// Records that `key` was written at `version` by a put stored at
    /// `location` that carries an expiry time (its entry is built with
    /// [`Entry::expiring`] set).
    pub fn observe_expiring(&mut self, key: &[u8], version: u64, location: Location) {
        self.observe_newest(
            key,
            Newest {
                version,
                location: Some(location),
                expiring: true,
            },
        );
    }

    fn observe_newest(&mut self, key: &[u8], observed: Newest) {
        let Newest {
            version, location, ..
        } = observed;
        // One probe per observation; a spilled key is copied even when the
        // slot exists, which is rare next to the cache miss of the probe.
        match self.newest.entry(Key::from_slice(key)) {
            hash_map::Entry::Occupied(mut slot) => {
                let newest = slot.get_mut();
                if newest.version > version {
                    return;
                }
                let was_live = newest.location.is_some();
                *newest = observed;
                self.n_live_keys =
                    self.n_live_keys + usize::from(location.is_some()) - usize::from(was_live);
            }
            hash_map::Entry::Vacant(slot) => {
                slot.insert(observed);
                self.n_live_keys += usize::from(location.is_some());
            }
        }
    }

    /// The number of keys whose newest observed record is a put: the
    /// length of the snapshot that [`IndexBuilder::build`] would return.
    pub fn len(&self) -> usize {
        self.n_live_keys
    }

    /// Whether no key has a put as its newest observed record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys whose newest observed record is a tombstone, with that
    /// tombstone's version, in no particular order. Compaction uses them to
    /// decide which tombstones it must still carry forward.
    pub fn tombstones(&self) -> impl Iterator<Item = (&[u8], u64)> + '_ {
        self.newest
            .iter()
            .filter_map(|(key, newest)| match newest.location {
                Some(_) => None,
                None => Some((key.as_slice(), newest.version)),
            })
    }

    /// The directory of every key whose newest record is a put; tombstones
    /// are dropped.
    pub fn build(self) -> IndexSnapshot {
        let shard_len_guess = self.n_live_keys / SHARD_COUNT + self.n_live_keys / (4 * SHARD_COUNT);
        let mut per_shard: [Vec<(Key, Entry)>; SHARD_COUNT] =
            std::array::from_fn(|_| Vec::with_capacity(shard_len_guess));
        let mut spilled_key_bytes = 0;
        for (key, newest) in self.newest {
            let Some(location) = newest.location else {
                continue;
            };
            spilled_key_bytes += spilled_bytes(&key);
            let entry = Entry {
                version: newest.version,
                location,
                expiring: newest.expiring,
            };
            per_shard[shard_of(&key)].push((key, entry));
        }
        let maps = maps_from_entries(per_shard);
        let snapshot = IndexSnapshot::from_maps(maps, spilled_key_bytes);
        assert_eq!(snapshot.len(), self.n_live_keys, "every live key was built");
        snapshot
    }
}

/// The 64 shard maps. A large build runs on up to [`BUILD_THREADS_MAX`]
/// threads: the shards are independent, and recovery waits on this step.
fn maps_from_entries(mut per_shard: [Vec<(Key, Entry)>; SHARD_COUNT]) -> [ShardMap; SHARD_COUNT] {
    let n_entries: usize = per_shard.iter().map(Vec::len).sum();
    let n_threads = if n_entries < PARALLEL_BUILD_KEYS_MIN {
        1
    } else {
        std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, BUILD_THREADS_MAX)
    };
    if n_threads == 1 {
        return per_shard.map(map_from_entries);
    }
    let shards_per_thread = SHARD_COUNT.div_ceil(n_threads);
    let mut maps: [ShardMap; SHARD_COUNT] = std::array::from_fn(|_| ShardMap::new());
    // The scope joins every worker and passes a worker's panic on.
    std::thread::scope(|scope| {
        let entry_chunks = per_shard.chunks_mut(shards_per_thread);
        let map_chunks = maps.chunks_mut(shards_per_thread);
        for (entry_chunk, map_chunk) in entry_chunks.zip(map_chunks) {
            scope.spawn(move || {
                for (entries, map) in entry_chunk.iter_mut().zip(map_chunk) {
                    *map = map_from_entries(std::mem::take(entries));
                }
            });
        }
    });
    maps
}

/// A shard map holding `entries`, whose keys are distinct.
///
/// Sorted inserts walk the tree's right edge and stay in cache, but leave
/// every leaf half full: a full leaf splits at its middle and only the
/// right half receives more keys. So the keys at even sorted positions go
/// in first, making leaves of eight, and the odd ones then fill each leaf
/// up in place (the odd key after a leaf's last even key still sorts
/// before the next leaf's separator). Leaves come out nearly full, for
/// about two thirds of the memory per key that random inserts leave. Only
/// speed and memory depend on the tree's split policy, never the contents.
fn map_from_entries(mut entries: Vec<(Key, Entry)>) -> ShardMap {
    entries.sort_unstable_by(|(left, _), (right, _)| left.cmp(right));
    let mut map = ShardMap::new();
    let mut odd_positions = Vec::with_capacity(entries.len() / 2);
    for (position, (key, entry)) in entries.into_iter().enumerate() {
        if position % 2 == 0 {
            map.insert(key, entry);
        } else {
            odd_positions.push((key, entry));
        }
    }
    for (key, entry) in odd_positions {
        map.insert(key, entry);
    }
    map
}

impl fmt::Debug for IndexBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IndexBuilder")
            .field("n_keys_observed", &self.newest.len())
            .field("n_live_keys", &self.n_live_keys)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(segment_id: u32) -> Location {
        Location {
            segment_id,
            offset: 0,
            len: 10,
        }
    }

    #[test]
    fn highest_version_wins_in_any_order() {
        let mut builder = IndexBuilder::new();
        builder.observe(b"k", 2, Some(location(2)));
        builder.observe(b"k", 5, Some(location(5)));
        builder.observe(b"k", 3, Some(location(3)));
        let snapshot = builder.build();
        assert_eq!(
            snapshot.get(b"k"),
            Some(Entry {
                version: 5,
                location: location(5),
                expiring: false,
            })
        );
    }

    #[test]
    fn tombstone_beats_older_puts_seen_before_and_after() {
        let mut builder = IndexBuilder::new();
        builder.observe(b"k", 3, Some(location(3)));
        builder.observe(b"k", 4, None);
        builder.observe(b"k", 2, Some(location(2)));
        assert_eq!(builder.len(), 0);
        assert_eq!(
            builder.tombstones().collect::<Vec<_>>(),
            vec![(b"k".as_slice(), 4)]
        );
        let snapshot = builder.build();
        assert_eq!(snapshot.get(b"k"), None);
        assert!(snapshot.is_empty());
    }

    #[test]
    fn newer_put_beats_tombstone() {
        let mut builder = IndexBuilder::new();
        builder.observe(b"k", 4, None);
        builder.observe(b"k", 6, Some(location(6)));
        assert_eq!(builder.len(), 1);
        assert_eq!(builder.tombstones().count(), 0);
        assert_eq!(builder.build().get(b"k").map(|e| e.version), Some(6));
    }

    #[test]
    fn equal_versions_later_observation_wins() {
        let mut builder = IndexBuilder::with_capacity(4);
        builder.observe(b"k", 7, Some(location(1)));
        builder.observe(b"k", 7, Some(location(2)));
        assert_eq!(builder.len(), 1);
        let built = builder.build().get(b"k").expect("the key is live");
        assert_eq!(built.location, location(2));
    }

    #[test]
    fn build_counts_spilled_keys_and_len() {
        let mut builder = IndexBuilder::new();
        assert!(builder.is_empty());
        builder.observe(&[1u8; 20], 1, Some(location(1)));
        builder.observe(b"short", 1, Some(location(1)));
        builder.observe(&[2u8; 30], 1, None);
        assert_eq!(builder.len(), 2);
        let snapshot = builder.build();
        assert_eq!(snapshot.len(), 2);
        assert_eq!(snapshot.spilled_key_bytes(), 20);
    }
}
