//! The in-memory key directory of Hightower KV: it maps every live key to
//! the version and the log [`Location`] of the key's newest record.
//!
//! The main type is [`Index`]: 64 shards, each a persistent (copy-on-write)
//! ordered map behind its own lock. Writers touch one shard at a time;
//! [`Index::snapshot`] clones the 64 shard roots, an O(64) operation, and
//! returns an [`IndexSnapshot`] that never changes afterwards, whatever
//! later writes do. Every mutation holds a shared gate that a snapshot
//! takes exclusively, so a snapshot holds each write, and each batch of
//! [`Index::apply`], entirely or not at all. Snapshots answer point lookups and scans in key order
//! (all keys, a range, a prefix) by merging the 64 shards.
//!
//! [`IndexBuilder`] builds a new directory off to the side, at recovery
//! from segment footers or from compaction output, keeping per key only
//! the record with the highest version; [`Index::install`] then swaps the
//! result in atomically while readers keep the snapshots they hold.
//!
//! # Example
//!
//! ```
//! use hightower_index::{Entry, Index, IndexBuilder, Location};
//!
//! let index = Index::new();
//! let location = Location { segment_id: 1, offset: 0, len: 42 };
//! index.insert(b"apple", Entry { version: 1, location, expiring: false });
//!
//! let before = index.snapshot();
//! index.remove(b"apple");
//! assert_eq!(before.get(b"apple").map(|entry| entry.version), Some(1));
//! assert_eq!(index.get(b"apple"), None);
//!
//! // Rebuild from observed records: the highest version wins, and a newer
//! // tombstone hides an older put.
//! let mut builder = IndexBuilder::new();
//! builder.observe(b"apple", 3, None);
//! builder.observe(b"apple", 2, Some(location));
//! builder.observe(b"pear", 4, Some(location));
//! index.install(builder.build());
//! let keys: Vec<_> = index.snapshot().iter().map(|(key, _)| key.to_vec()).collect();
//! assert_eq!(keys, vec![b"pear".to_vec()]);
//! ```
//!
//! # Limits
//!
//! - Every live key is held in memory, so the keys of a data set must fit
//!   in RAM (values stay on disk).
//! - Keys of up to 16 bytes are stored inline; a longer key costs one heap
//!   allocation of its own length.
//! - Beyond the key's own bytes, the directory costs about 60 bytes per
//!   live key after random writes, about 40 right after
//!   [`IndexBuilder::build`], and up to about 95 when keys arrive in
//!   ascending order, which leaves tree leaves half full (measured with
//!   1,000,000 keys of 16 bytes by `examples/index_memory.rs`). A snapshot
//!   shares every tree node with the live index and costs only the nodes
//!   that later writes copy: about 1 KiB per write to a leaf not yet copied.
//! - Snapshots cost O(64) to take, and every scan first seeks once in each
//!   of the 64 shards, so a scan that returns few keys still pays 64 seeks.

mod builder;
mod index;
mod iter;
mod key;
mod snapshot;

pub use builder::IndexBuilder;
pub use hightower_log::Location;
pub use index::Index;
pub use iter::SnapshotIter;
pub use key::Key;
pub use snapshot::IndexSnapshot;

/// The longest key stored inline, with no heap allocation of its own.
pub const INLINE_KEY_BYTES_MAX: usize = 16;

/// The number of shards of an [`Index`]; a power of two.
pub const SHARD_COUNT: usize = 64;

const _: () = assert!(SHARD_COUNT.is_power_of_two());

/// What the index knows about a live key: the version and the location of
/// its newest record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The version of the key's newest write.
    pub version: u64,
    /// Where that write's record lies in the log.
    pub location: Location,
    /// The write carries an expiry time. The time itself lies in the
    /// record (and in the engine's table of expiring keys), so a key
    /// without one pays nothing for expiry here: the flag fits the
    /// padding after `location`.
    pub expiring: bool,
}

// The memory budget per key assumes this size; a change must be deliberate.
const _: () = assert!(size_of::<Entry>() == 24);
const _: () = assert!(size_of::<Key>() == 24);

/// The shard that holds `key`: the low bits of the key's xxh3-64 hash.
///
/// The engine uses the same function for its per-key lock shards, so a key
/// maps to the same shard number in both layers.
pub fn shard_of(key: &[u8]) -> usize {
    let hash = xxhash_rust::xxh3::xxh3_64(key);
    // The mask keeps the value below SHARD_COUNT, so the cast never truncates.
    (hash & (SHARD_COUNT as u64 - 1)) as usize
}

/// One shard's map: a persistent B+ tree whose clone is O(1).
pub(crate) type ShardMap = imbl::OrdMap<Key, Entry>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_of_is_in_range_and_stable() {
        for n in 0..10_000u32 {
            let key = n.to_le_bytes();
            let shard = shard_of(&key);
            assert!(shard < SHARD_COUNT);
            assert_eq!(shard, shard_of(&key));
        }
    }

    #[test]
    fn shard_of_spreads_keys_over_every_shard() {
        let mut counts = [0usize; SHARD_COUNT];
        for n in 0..64_000u32 {
            counts[shard_of(&n.to_be_bytes())] += 1;
        }
        // 1,000 expected per shard; a fair hash stays well inside this band.
        assert!(counts.iter().all(|&count| (800..1200).contains(&count)));
    }

    #[test]
    fn shared_types_cross_threads() {
        fn send_and_sync<T: Send + Sync>() {}
        send_and_sync::<Index>();
        send_and_sync::<IndexSnapshot>();
        send_and_sync::<SnapshotIter>();
        send_and_sync::<IndexBuilder>();
    }

    #[test]
    fn short_keys_are_inline_and_long_keys_spill() {
        let short = Key::from_slice(&[7u8; 16]);
        let long = Key::from_slice(&[7u8; 17]);
        assert!(!short.spilled());
        assert!(long.spilled());
    }
}
