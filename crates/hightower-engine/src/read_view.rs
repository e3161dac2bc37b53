//! [`ReadView`]: a point-in-time view of the engine. It holds an index
//! snapshot and the segments it points into, so later writes, and later
//! removal of segment files, do not change what it reads.

use std::ops::Bound;

use hightower_index::{Entry, IndexSnapshot, Key};

use crate::error::Result;
use crate::storage::{SegmentMap, read_entry};
use crate::types::{KeyValue, Versioned};

/// See the module docs.
#[derive(Debug, Clone)]
pub struct ReadView {
    pub(crate) version: u64,
    pub(crate) index: IndexSnapshot,
    pub(crate) segments: SegmentMap,
}

impl ReadView {
    /// Every write at or below this version is visible, none above it.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Number of live keys.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the view holds no keys.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The value of `key` in this view.
    pub fn get(&self, key: &[u8]) -> Result<Option<Versioned>> {
        self.index
            .get(key)
            .map(|entry| read_entry(&self.segments, key, entry))
            .transpose()
    }

    fn read(&self, (key, entry): (Key, Entry)) -> Result<KeyValue> {
        let Versioned { value, version } = read_entry(&self.segments, &key, entry)?;
        Ok(KeyValue {
            key: key.to_vec(),
            value,
            version,
        })
    }

    /// Every key, in key order.
    pub fn iter(&self) -> impl Iterator<Item = Result<KeyValue>> + '_ {
        self.index.iter().map(|item| self.read(item))
    }

    /// Keys starting with `prefix`, in key order.
    pub fn prefix(&self, prefix: &[u8]) -> impl Iterator<Item = Result<KeyValue>> + '_ {
        self.index.prefix(prefix).map(|item| self.read(item))
    }

    /// Keys in the range, in key order.
    pub fn range(
        &self,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
    ) -> impl Iterator<Item = Result<KeyValue>> + '_ {
        self.index.range(start, end).map(|item| self.read(item))
    }

    /// The keys in the range with their versions, in key order, without
    /// reading any value (what key listings such as `SCAN` need).
    pub fn keys_in_range(
        &self,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
    ) -> impl Iterator<Item = (Key, u64)> + '_ {
        self.index
            .range(start, end)
            .map(|(key, entry)| (key, entry.version))
    }

    /// The version of `key`'s newest write in this view, `None` when the
    /// key is absent; reads no value.
    pub fn version_of(&self, key: &[u8]) -> Option<u64> {
        self.index.get(key).map(|entry| entry.version)
    }
}
