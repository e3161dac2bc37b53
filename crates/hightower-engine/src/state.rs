//! [`ConcurrentKvState`]: the writers' side of the engine's key space,
//! split into 64 shards (the same split as the index), each guarded by a
//! `parking_lot::Mutex`.
//!
//! A writer holds the shards of every key it touches from its version
//! checks until its records are appended, and (under `Durability::Sync`)
//! records there each key's newest appended version that is not yet in
//! the index: the pending table. It lets go before it waits for the
//! fsync, so a writer of another key never waits out someone else's
//! fsync. A check reads the pending table before the index, so it sees
//! every version of its key that is appended, published or not: that is
//! what keeps compare-and-set linearizable. Without `Sync` a writer holds
//! its shards until it has published (no fsync lies in between), and the
//! table stays empty.
//!
//! Invariant: a pending entry names the newest appended version of its
//! key; once that version is in the index the entry may be dropped (it
//! then says the same as the index), and only an entry with exactly that
//! version is dropped, so a newer one is never lost.
//!
//! Shards are always taken in ascending order, so two batches can never
//! wait on each other.

use std::collections::HashMap;

use hightower_index::{Key, SHARD_COUNT, shard_of};
use parking_lot::{Mutex, MutexGuard};

use crate::clock::is_expired;
use crate::error::Result;
use crate::storage::Storage;

/// The newest appended, unpublished write of one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pending {
    version: u64,
    /// A put (the key exists at `version`) or a delete (it does not).
    put: bool,
    /// The put's expiry time, if it has one.
    expires_at_ms: Option<u64>,
    /// The frame's place in the append order.
    seq: u64,
}

/// What a check finds for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Current {
    /// The key's version counting pending writes; `None` when absent.
    pub(crate) version: Option<u64>,
    /// The place in the append order of the pending write that set it,
    /// when it is not yet published.
    pub(crate) pending_seq: Option<u64>,
}

/// One shard: its pending table.
#[derive(Debug, Default)]
struct Shard {
    pending: HashMap<Key, Pending>,
}

/// 64 per-shard write locks. See the module docs.
#[derive(Debug)]
pub(crate) struct ConcurrentKvState {
    shards: [Mutex<Shard>; SHARD_COUNT],
}

/// Locks held over a set of shards; released on drop.
#[derive(Debug)]
pub(crate) struct KeyLocks<'a> {
    /// The shards held, one bit each.
    mask: u64,
    /// Their guards, in ascending shard order.
    guards: Vec<MutexGuard<'a, Shard>>,
}

const _: () = assert!(SHARD_COUNT == 64, "the shard set is a u64 bit mask");

impl Default for ConcurrentKvState {
    fn default() -> Self {
        ConcurrentKvState {
            shards: std::array::from_fn(|_| Mutex::new(Shard::default())),
        }
    }
}

impl ConcurrentKvState {
    /// Locks the shards of `keys`, in ascending order, each once.
    pub(crate) fn lock_keys<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) -> KeyLocks<'_> {
        let mask = keys
            .into_iter()
            .fold(0u64, |mask, key| mask | 1 << shard_of(key));
        self.lock_mask(mask)
    }

    /// Locks every shard: no write is between its checks and its append
    /// while the locks are held.
    pub(crate) fn lock_all(&self) -> KeyLocks<'_> {
        self.lock_mask(u64::MAX)
    }

    fn lock_mask(&self, mask: u64) -> KeyLocks<'_> {
        let mut guards = Vec::with_capacity(mask.count_ones() as usize);
        let mut rest = mask;
        while rest != 0 {
            let shard = rest.trailing_zeros() as usize;
            guards.push(self.shards[shard].lock());
            rest &= rest - 1;
        }
        KeyLocks { mask, guards }
    }

    /// Drops the pending entry of `key` if it still names `version`, which
    /// the caller has just published. Takes the key's shard for a moment.
    pub(crate) fn forget_published(&self, key: &[u8], version: u64) {
        let mut shard = self.shards[shard_of(key)].lock();
        if shard.pending.get(key).is_some_and(|p| p.version == version) {
            shard.pending.remove(key);
        }
    }
}

impl KeyLocks<'_> {
    fn shard_mut(&mut self, key: &[u8]) -> &mut Shard {
        let shard = shard_of(key);
        assert!(self.mask & 1 << shard != 0, "the key's shard is held");
        // The guards are in ascending shard order: the rank of the bit.
        let rank = (self.mask & ((1u64 << shard) - 1)).count_ones() as usize;
        &mut self.guards[rank]
    }

    /// The version `key` is at, at `now_ms`, counting appended writes
    /// not yet published; a write whose expiry time has come counts as
    /// absent (with `now_ms` `None`, expiry is not looked at: what the
    /// sweep needs to delete exactly the version that expired). The key's
    /// shard must be held.
    pub(crate) fn current(
        &mut self,
        key: &[u8],
        storage: &Storage,
        now_ms: Option<u64>,
    ) -> Result<Current> {
        let shard = self.shard_mut(key);
        if let Some(pending) = shard.pending.get(key) {
            let expired = now_ms.is_some_and(|now_ms| is_expired(pending.expires_at_ms, now_ms));
            let live = pending.put && !expired;
            return Ok(Current {
                version: live.then_some(pending.version),
                pending_seq: Some(pending.seq),
            });
        }
        let version = match now_ms {
            Some(now_ms) => storage.live_version(key, now_ms)?,
            None => storage.published_version(key),
        };
        Ok(Current {
            version,
            pending_seq: None,
        })
    }

    /// Records that `key` was appended at `version` (a put, expiring at
    /// `expires_at_ms` if that is set, or a delete) in frame `seq` and is
    /// not yet published. The key's shard must be held.
    pub(crate) fn set_pending(
        &mut self,
        key: &[u8],
        version: u64,
        (put, expires_at_ms): (bool, Option<u64>),
        seq: u64,
    ) {
        let shard = self.shard_mut(key);
        let pending = Pending {
            version,
            put,
            expires_at_ms,
            seq,
        };
        match shard.pending.get_mut(key) {
            Some(entry) => {
                debug_assert!(entry.version < version, "versions of a key only rise");
                *entry = pending;
            }
            None => {
                shard.pending.insert(Key::from_slice(key), pending);
            }
        }
    }

    /// Empties the pending tables of the held shards; the caller has
    /// published everything appended.
    pub(crate) fn clear_pending(&mut self) {
        for guard in &mut self.guards {
            guard.pending.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_all_waits_for_key_locks() {
        let state = std::sync::Arc::new(ConcurrentKvState::default());
        let held = state.lock_keys([b"a".as_slice(), b"b".as_slice(), b"a".as_slice()]);
        let other = state.clone();
        let waiter = std::thread::spawn(move || {
            let _all = other.lock_all();
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(
            !waiter.is_finished(),
            "lock_all must wait for the held shard"
        );
        drop(held);
        waiter.join().unwrap();
    }

    #[test]
    fn a_pending_write_shadows_the_index_until_it_is_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let (storage, _) = Storage::open(&crate::EngineConfig::new(dir.path())).unwrap();
        let state = ConcurrentKvState::default();
        let mut locks = state.lock_keys([b"k".as_slice()]);
        let current =
            |locks: &mut KeyLocks<'_>, now_ms| locks.current(b"k", &storage, Some(now_ms)).unwrap();
        assert_eq!(current(&mut locks, 0).version, None);
        locks.set_pending(b"k", 5, (true, None), 1);
        let found = current(&mut locks, 0);
        assert_eq!((found.version, found.pending_seq), (Some(5), Some(1)));
        locks.set_pending(b"k", 6, (false, None), 2);
        assert_eq!(current(&mut locks, 0).version, None, "a pending delete");
        locks.set_pending(b"k", 7, (true, Some(100)), 3);
        assert_eq!(current(&mut locks, 99).version, Some(7), "before its time");
        assert_eq!(
            current(&mut locks, 100).version,
            None,
            "a pending put that expired"
        );
        drop(locks);
        state.forget_published(b"k", 5);
        let mut locks = state.lock_keys([b"k".as_slice()]);
        assert_eq!(
            current(&mut locks, 0).pending_seq,
            Some(3),
            "an older publish leaves the newer pending entry"
        );
        drop(locks);
        state.forget_published(b"k", 7);
        assert!(state.shards[shard_of(b"k")].lock().pending.is_empty());
    }
}
