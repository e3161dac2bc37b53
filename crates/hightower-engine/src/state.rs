//! [`ConcurrentKvState`]: the writers' side of the engine's key space,
//! split into 64 shards (the same split as the index), each guarded by a
//! `parking_lot::Mutex`. A writer holds the shards of every key it touches
//! from its version checks until its records are published, so writes to
//! one key happen one at a time and in order, while writes to keys in
//! other shards go on in parallel. Shards are always taken in ascending
//! order, so two batches can never wait on each other.

use hightower_index::{SHARD_COUNT, shard_of};
use parking_lot::{Mutex, MutexGuard};

/// 64 per-shard write locks. See the module docs.
#[derive(Debug)]
pub struct ConcurrentKvState {
    shards: [Mutex<()>; SHARD_COUNT],
}

/// Locks held over a set of shards; released on drop.
#[derive(Debug)]
pub struct KeyLocks<'a> {
    _guards: Vec<MutexGuard<'a, ()>>,
}

const _: () = assert!(SHARD_COUNT == 64, "the shard set is a u64 bit mask");

impl Default for ConcurrentKvState {
    fn default() -> Self {
        ConcurrentKvState {
            shards: std::array::from_fn(|_| Mutex::new(())),
        }
    }
}

impl ConcurrentKvState {
    /// Locks the shards of `keys`, in ascending order, each once.
    pub fn lock_keys<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) -> KeyLocks<'_> {
        let mask = keys
            .into_iter()
            .fold(0u64, |mask, key| mask | 1 << shard_of(key));
        self.lock_mask(mask)
    }

    /// Locks every shard: no write is between its checks and its publish
    /// while the locks are held.
    pub fn lock_all(&self) -> KeyLocks<'_> {
        self.lock_mask(u64::MAX)
    }

    fn lock_mask(&self, mut mask: u64) -> KeyLocks<'_> {
        let mut guards = Vec::with_capacity(mask.count_ones() as usize);
        while mask != 0 {
            let shard = mask.trailing_zeros() as usize;
            guards.push(self.shards[shard].lock());
            mask &= mask - 1;
        }
        KeyLocks { _guards: guards }
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
}
