//! [`CursorTable`]: the state behind `SCAN` cursors.
//!
//! Redis cursors are numbers, but the store iterates in key order, so a
//! cursor stands for "the keys after this one". The table maps each cursor
//! it hands out to the last key a `SCAN` call examined; it is shared by
//! every connection (a client library may continue a scan on another
//! connection of its pool) and bounded in entries and bytes, forgetting the
//! oldest cursors first. An unknown or forgotten cursor is an error, and the
//! client starts again from 0.
//!
//! Like Redis's, the iteration returns every key that exists from the start
//! to the end of a full scan; keys added or deleted during it may or may
//! not be returned. Unlike Redis's, a key is never returned twice.

use std::collections::{HashMap, VecDeque};

/// Cursors kept at most.
pub const CURSORS_MAX: usize = 65_536;

/// Key bytes kept at most across all cursors.
pub const CURSOR_BYTES_MAX: usize = 64 * 1024 * 1024;

/// See the module docs.
#[derive(Debug, Default)]
pub struct CursorTable {
    last_keys: HashMap<u64, Vec<u8>>,
    /// Cursors oldest first, for eviction.
    order: VecDeque<u64>,
    bytes: usize,
}

impl CursorTable {
    /// Hands out a new cursor that continues after `last_key`.
    pub fn insert(&mut self, last_key: Vec<u8>) -> u64 {
        while !self.order.is_empty()
            && (self.order.len() >= CURSORS_MAX || self.bytes + last_key.len() > CURSOR_BYTES_MAX)
        {
            self.evict_oldest();
        }
        let mut cursor = rand::random::<u64>();
        while cursor == 0 || self.last_keys.contains_key(&cursor) {
            cursor = rand::random::<u64>();
        }
        self.bytes += last_key.len();
        self.last_keys.insert(cursor, last_key);
        self.order.push_back(cursor);
        cursor
    }

    /// The key a cursor continues after, `None` when unknown or forgotten.
    pub fn last_key(&self, cursor: u64) -> Option<&[u8]> {
        self.last_keys.get(&cursor).map(Vec::as_slice)
    }

    /// Number of cursors held.
    pub fn len(&self) -> usize {
        self.last_keys.len()
    }

    /// Whether no cursor is held.
    pub fn is_empty(&self) -> bool {
        self.last_keys.is_empty()
    }

    fn evict_oldest(&mut self) {
        if let Some(cursor) = self.order.pop_front()
            && let Some(key) = self.last_keys.remove(&cursor)
        {
            self.bytes -= key.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_resolve_and_the_oldest_are_forgotten_first() {
        let mut table = CursorTable::default();
        let first = table.insert(b"a".to_vec());
        assert_eq!(table.last_key(first), Some(&b"a"[..]));
        assert_eq!(table.last_key(first ^ 1), None);
        for i in 0..CURSORS_MAX {
            table.insert(i.to_le_bytes().to_vec());
        }
        assert_eq!(table.len(), CURSORS_MAX);
        assert_eq!(table.last_key(first), None);
    }

    #[test]
    fn key_bytes_are_bounded() {
        let mut table = CursorTable::default();
        let big = vec![0_u8; CURSOR_BYTES_MAX / 2 + 1];
        let first = table.insert(big.clone());
        let second = table.insert(big);
        assert_eq!(table.last_key(first), None);
        assert!(table.last_key(second).is_some());
        assert_eq!(table.len(), 1);
    }
}
