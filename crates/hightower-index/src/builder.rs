//! [`IndexBuilder`]: builds a new directory off to the side from observed
//! records, keeping per key the one with the highest version.
//!
//! Observations go, unsorted and undecided, into one list per shard; only
//! [`IndexBuilder::build`] (or a list that has grown past twice what it
//! held after its last consolidation) sorts a list by key, stably, and
//! keeps per key the observation that wins. Segment footers list their
//! keys in key order, so a list fed from footers is a few sorted runs,
//! which the stable sort merges rather than sorts. The shards are then
//! consolidated and built on several threads, each on its own.

use std::fmt;

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
///
/// Builders filled apart (one per segment, on several threads) combine
/// with [`IndexBuilder::absorb`], which counts the absorbed builder's
/// observations as made after every one of this builder's.
pub struct IndexBuilder {
    /// The observations of each shard's keys.
    shards: Box<[Shard; SHARD_COUNT]>,
}

/// One shard's observations.
#[derive(Default)]
struct Shard {
    /// A prefix sorted by key with one winning observation per key
    /// (`consolidated_len` long), then later observations in the order
    /// they were made.
    observed: Vec<Observed>,
    /// How much of `observed` is consolidated.
    consolidated_len: usize,
}

/// One observed record.
#[derive(Clone)]
struct Observed {
    key: Key,
    /// The record's version.
    version: u64,
    /// Where the put lies; unused for a tombstone.
    location: Location,
    kind: Kind,
}

/// What an observed record is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A put without an expiry time.
    Put,
    /// A put with an expiry time.
    PutExpiring,
    /// A delete.
    Tombstone,
}

/// Threads that [`IndexBuilder::build`] uses at most.
const BUILD_THREADS_MAX: usize = 4;

/// Below this many observations a build runs on the calling thread alone:
/// starting threads would cost more than they save.
const PARALLEL_BUILD_OBSERVATIONS_MIN: usize = 16 * 1024;

/// A shard's list is consolidated while observing only once it holds
/// more than this many unconsolidated observations (and more than its
/// consolidated prefix), so that memory stays within about twice the
/// distinct keys while each observation is sorted only a few times.
/// (Unit tests use a tiny bound, so that their small inputs consolidate
/// while observing too.)
const CONSOLIDATE_OBSERVATIONS_MIN: usize = if cfg!(test) { 4 } else { 16 * 1024 };

impl Default for IndexBuilder {
    fn default() -> Self {
        Self {
            shards: Box::new(std::array::from_fn(|_| Shard::default())),
        }
    }
}

impl IndexBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty builder with room for `n_keys` observations.
    pub fn with_capacity(n_keys: usize) -> Self {
        // Hashing spreads keys evenly; an eighth more absorbs the spread.
        let per_shard = n_keys / SHARD_COUNT + n_keys / (8 * SHARD_COUNT);
        Self {
            shards: Box::new(std::array::from_fn(|_| Shard {
                observed: Vec::with_capacity(per_shard),
                consolidated_len: 0,
            })),
        }
    }

    /// Records that `key` was written at `version`: a put stored at
    /// `Some(location)`, or a tombstone for `None`. Kept only if no record
    /// of the key with a higher version was observed.
    pub fn observe(&mut self, key: &[u8], version: u64, location: Option<Location>) {
        let (kind, location) = match location {
            Some(location) => (Kind::Put, location),
            None => (Kind::Tombstone, TOMBSTONE_LOCATION),
        };
        self.push(key, version, location, kind);
    }

    /// Records that `key` was written at `version` by a put stored at
    /// `location` that carries an expiry time (its entry is built with
    /// [`Entry::expiring`] set).
    pub fn observe_expiring(&mut self, key: &[u8], version: u64, location: Location) {
        self.push(key, version, location, Kind::PutExpiring);
    }

    fn push(&mut self, key: &[u8], version: u64, location: Location, kind: Kind) {
        let shard = &mut self.shards[shard_of(key)];
        shard.observed.push(Observed {
            key: Key::from_slice(key),
            version,
            location,
            kind,
        });
        shard.consolidate_if_large();
    }

    /// Takes every observation of `later` as if it were made after all of
    /// this builder's, in the order `later` saw them.
    pub fn absorb(&mut self, later: IndexBuilder) {
        for (shard, later) in self.shards.iter_mut().zip(*later.shards) {
            if shard.observed.is_empty() {
                *shard = later;
            } else {
                let mut later = later.observed;
                shard.observed.append(&mut later);
            }
            shard.consolidate_if_large();
        }
    }

    /// The number of keys whose newest observed record is a put: the
    /// length of the snapshot that [`IndexBuilder::build`] would return.
    /// Consolidates every shard first, hence `&mut`.
    pub fn len(&mut self) -> usize {
        self.consolidate();
        self.shards
            .iter()
            .flat_map(|shard| &shard.observed)
            .filter(|observed| observed.kind != Kind::Tombstone)
            .count()
    }

    /// Whether no key has a put as its newest observed record.
    pub fn is_empty(&mut self) -> bool {
        self.len() == 0
    }

    /// The keys whose newest observed record is a tombstone, with that
    /// tombstone's version, in no particular order. Compaction uses them to
    /// decide which tombstones it must still carry forward.
    pub fn tombstones(&mut self) -> impl Iterator<Item = (&[u8], u64)> + '_ {
        self.consolidate();
        self.shards
            .iter()
            .flat_map(|shard| &shard.observed)
            .filter(|observed| observed.kind == Kind::Tombstone)
            .map(|observed| (observed.key.as_slice(), observed.version))
    }

    fn consolidate(&mut self) {
        for shard in self.shards.iter_mut() {
            shard.consolidate();
        }
    }

    /// The directory of every key whose newest record is a put; tombstones
    /// are dropped.
    pub fn build(self) -> IndexSnapshot {
        let n_observed: usize = self.shards.iter().map(|shard| shard.observed.len()).sum();
        let n_threads = if n_observed < PARALLEL_BUILD_OBSERVATIONS_MIN {
            1
        } else {
            std::thread::available_parallelism()
                .map_or(1, usize::from)
                .clamp(1, BUILD_THREADS_MAX)
        };
        let mut shards = self.shards;
        let mut built: [Built; SHARD_COUNT] = std::array::from_fn(|_| Built::default());
        if n_threads == 1 {
            for (shard, built) in shards.iter_mut().zip(built.iter_mut()) {
                *built = std::mem::take(shard).build();
            }
        } else {
            let shards_per_thread = SHARD_COUNT.div_ceil(n_threads);
            // The scope joins every worker and passes a worker's panic on.
            std::thread::scope(|scope| {
                let shard_chunks = shards.chunks_mut(shards_per_thread);
                let built_chunks = built.chunks_mut(shards_per_thread);
                for (shard_chunk, built_chunk) in shard_chunks.zip(built_chunks) {
                    scope.spawn(move || {
                        for (shard, built) in shard_chunk.iter_mut().zip(built_chunk) {
                            *built = std::mem::take(shard).build();
                        }
                    });
                }
            });
        }
        let n_live_keys: usize = built.iter().map(|built| built.n_live_keys).sum();
        let spilled_key_bytes = built.iter().map(|built| built.spilled_key_bytes).sum();
        let maps = built.map(|built| built.map);
        let snapshot = IndexSnapshot::from_maps(maps, spilled_key_bytes);
        assert_eq!(snapshot.len(), n_live_keys, "every live key was built");
        snapshot
    }
}

/// The location stored with a tombstone, which has none.
const TOMBSTONE_LOCATION: Location = Location {
    segment_id: 0,
    offset: 0,
    len: 0,
};

/// One shard's part of a build.
#[derive(Default)]
struct Built {
    map: ShardMap,
    n_live_keys: usize,
    spilled_key_bytes: usize,
}

impl Shard {
    /// Consolidates when the observations since the last consolidation
    /// outnumber both the consolidated prefix and
    /// [`CONSOLIDATE_OBSERVATIONS_MIN`], which bounds the list to about
    /// twice the shard's distinct keys.
    fn consolidate_if_large(&mut self) {
        let unconsolidated = self.observed.len() - self.consolidated_len;
        if unconsolidated > CONSOLIDATE_OBSERVATIONS_MIN.max(self.consolidated_len) {
            self.consolidate();
        }
    }

    /// Sorts the observations by key and keeps per key the winner: the
    /// highest version, the later observation on a tie.
    fn consolidate(&mut self) {
        if self.consolidated_len == self.observed.len() {
            return;
        }
        // Stable, so that observations of a key stay in the order they
        // were made; sorted runs (the consolidated prefix, a footer's
        // keys) are merged, not sorted again.
        self.observed
            .sort_by(|left, right| left.key.cmp(&right.key));
        self.observed.dedup_by(|later, kept| {
            if later.key != kept.key {
                return false;
            }
            if later.version >= kept.version {
                std::mem::swap(later, kept);
            }
            true
        });
        self.consolidated_len = self.observed.len();
    }

    /// The shard's map of live keys.
    fn build(mut self) -> Built {
        self.consolidate();
        let mut spilled_key_bytes = 0;
        let entries = self.observed.into_iter().filter_map(|observed| {
            let expiring = match observed.kind {
                Kind::Put => false,
                Kind::PutExpiring => true,
                Kind::Tombstone => return None,
            };
            spilled_key_bytes += spilled_bytes(&observed.key);
            let entry = Entry {
                version: observed.version,
                location: observed.location,
                expiring,
            };
            Some((observed.key, entry))
        });
        let (map, n_live_keys) = map_from_sorted(entries);
        Built {
            map,
            n_live_keys,
            spilled_key_bytes,
        }
    }
}

/// A shard map holding `entries`, which come in ascending key order, each
/// key once; returns it with its length.
///
/// Sorted inserts walk the tree's right edge and stay in cache, but leave
/// every leaf half full: a full leaf splits at its middle and only the
/// right half receives more keys. So the keys at even sorted positions go
/// in first, making leaves of eight, and the odd ones then fill each leaf
/// up in place (the odd key after a leaf's last even key still sorts
/// before the next leaf's separator). Leaves come out nearly full, for
/// about two thirds of the memory per key that random inserts leave. Only
/// speed and memory depend on the tree's split policy, never the contents.
fn map_from_sorted(entries: impl Iterator<Item = (Key, Entry)>) -> (ShardMap, usize) {
    let mut map = ShardMap::new();
    let mut odd_positions = Vec::with_capacity(entries.size_hint().1.unwrap_or(0) / 2);
    let mut n_entries = 0;
    for (position, (key, entry)) in entries.enumerate() {
        if position % 2 == 0 {
            map.insert(key, entry);
        } else {
            odd_positions.push((key, entry));
        }
        n_entries += 1;
    }
    for (key, entry) in odd_positions {
        map.insert(key, entry);
    }
    (map, n_entries)
}

impl fmt::Debug for IndexBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n_observed: usize = self.shards.iter().map(|shard| shard.observed.len()).sum();
        f.debug_struct("IndexBuilder")
            .field("n_observed", &n_observed)
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
    fn absorbed_observations_count_as_later() {
        let mut earlier = IndexBuilder::new();
        earlier.observe(b"k", 7, Some(location(1)));
        earlier.observe(b"gone", 9, None);
        let mut later = IndexBuilder::new();
        later.observe(b"k", 7, Some(location(2)));
        later.observe(b"gone", 8, Some(location(2)));
        earlier.absorb(later);
        assert_eq!(earlier.len(), 1);
        let snapshot = earlier.build();
        assert_eq!(snapshot.get(b"k").map(|e| e.location), Some(location(2)));
        assert_eq!(snapshot.get(b"gone"), None);
    }

    /// A put's segment id and whether it expires; `None` for a tombstone.
    type Put = Option<(u32, bool)>;

    /// Per key, the winner among `observations` (made in this order): the
    /// highest version, the later one on a tie.
    fn model(
        observations: &[(Vec<u8>, u64, Put)],
    ) -> std::collections::BTreeMap<Vec<u8>, (u64, Put)> {
        let mut newest = std::collections::BTreeMap::new();
        for (key, version, put) in observations {
            let slot = newest.entry(key.clone()).or_insert((*version, *put));
            if *version >= slot.0 {
                *slot = (*version, *put);
            }
        }
        newest
    }

    proptest::proptest! {
        /// Observations split over builders that are then absorbed in
        /// order give what one builder observing them all gives, and what
        /// the model says, whatever consolidations happen on the way.
        #[test]
        fn split_and_absorbed_matches_model(
            observations in proptest::collection::vec(
                (
                    proptest::collection::vec(0u8..3, 1..3),
                    0u64..6,
                    proptest::option::weighted(0.7, (0u32..4, proptest::bool::ANY)),
                ),
                0..200,
            ),
            cuts in proptest::collection::vec(0usize..200, 0..5),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|cut| cut.min(observations.len())).collect();
            cuts.push(observations.len());
            cuts.sort_unstable();
            let mut whole = IndexBuilder::new();
            let mut start = 0;
            for cut in cuts {
                let mut part = IndexBuilder::with_capacity(cut - start);
                for (key, version, put) in &observations[start..cut] {
                    match put {
                        Some((segment_id, true)) => part.observe_expiring(key, *version, location(*segment_id)),
                        Some((segment_id, false)) => part.observe(key, *version, Some(location(*segment_id))),
                        None => part.observe(key, *version, None),
                    }
                }
                whole.absorb(part);
                start = cut;
            }
            let model = model(&observations);
            let mut tombstones: Vec<(Vec<u8>, u64)> =
                whole.tombstones().map(|(key, version)| (key.to_vec(), version)).collect();
            tombstones.sort();
            let expected_tombstones: Vec<(Vec<u8>, u64)> = model
                .iter()
                .filter(|(_, (_, put))| put.is_none())
                .map(|(key, (version, _))| (key.clone(), *version))
                .collect();
            proptest::prop_assert_eq!(tombstones, expected_tombstones);
            let expected: Vec<(Vec<u8>, Entry)> = model
                .into_iter()
                .filter_map(|(key, (version, put))| {
                    put.map(|(segment_id, expiring)| {
                        (key, Entry { version, location: location(segment_id), expiring })
                    })
                })
                .collect();
            proptest::prop_assert_eq!(whole.len(), expected.len());
            let snapshot = whole.build();
            let built: Vec<(Vec<u8>, Entry)> =
                snapshot.iter().map(|(key, entry)| (key.to_vec(), entry)).collect();
            proptest::prop_assert_eq!(built, expected);
        }
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
