//! [`ReadView`]: a point-in-time view of the engine. It holds an index
//! snapshot and the segments it points into, so later writes, and later
//! removal of segment files, do not change what it reads. It also holds
//! the moment it was taken: a key whose expiry time has come by then is
//! absent from the view, whatever the sweep has done since.

use std::ops::Bound;
use std::sync::Arc;

use hightower_index::{Entry, IndexSnapshot, Key};

use crate::clock::is_expired;
use crate::error::Result;
use crate::expiry::ExpiryTable;
use crate::storage::{SegmentMap, entry_expiry, read_entry};
use crate::types::{KeyValue, Versioned};

/// See the module docs.
#[derive(Debug, Clone)]
pub struct ReadView {
    pub(crate) version: u64,
    pub(crate) index: IndexSnapshot,
    pub(crate) segments: SegmentMap,
    /// The moment the view judges expiry at, in milliseconds since the
    /// Unix epoch.
    pub(crate) now_ms: u64,
    pub(crate) expiries: Arc<ExpiryTable>,
    /// Keys under this prefix are not in the view (see
    /// [`ReadView::hiding`]).
    pub(crate) hidden: Option<&'static [u8]>,
}

impl ReadView {
    /// Every write at or below this version is visible, none above it.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The moment the view judges expiry at, in milliseconds since the
    /// Unix epoch.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// The same view without the keys under `prefix`: the keys a layer
    /// keeps for itself beside its clients' (a replicated engine's
    /// metadata), which no read through the view then sees.
    pub fn hiding(mut self, prefix: &'static [u8]) -> Self {
        self.hidden = Some(prefix);
        self
    }

    fn is_hidden(&self, key: &[u8]) -> bool {
        self.hidden.is_some_and(|prefix| key.starts_with(prefix))
    }

    /// Number of keys in the index, counting keys whose expiry time has
    /// come but which the sweep has not yet deleted (as Redis's `DBSIZE`
    /// does).
    pub fn len(&self) -> usize {
        let hidden = self
            .hidden
            .map_or(0, |prefix| self.index.prefix(prefix).count());
        self.index.len() - hidden
    }

    /// Whether the view holds no keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of `key` in this view.
    pub fn get(&self, key: &[u8]) -> Result<Option<Versioned>> {
        if self.is_hidden(key) {
            return Ok(None);
        }
        let Some(entry) = self.index.get(key) else {
            return Ok(None);
        };
        let versioned = read_entry(&self.segments, key, entry)?;
        Ok((!is_expired(versioned.expires_at_ms, self.now_ms)).then_some(versioned))
    }

    fn read(&self, (key, entry): (Key, Entry)) -> Option<Result<KeyValue>> {
        if self.is_hidden(&key) {
            return None;
        }
        let versioned = match read_entry(&self.segments, &key, entry) {
            Ok(versioned) => versioned,
            Err(e) => return Some(Err(e)),
        };
        if is_expired(versioned.expires_at_ms, self.now_ms) {
            return None;
        }
        Some(Ok(KeyValue {
            key: key.to_vec(),
            value: versioned.value,
            version: versioned.version,
            expires_at_ms: versioned.expires_at_ms,
        }))
    }

    /// Every key, in key order.
    pub fn iter(&self) -> impl Iterator<Item = Result<KeyValue>> + '_ {
        self.index.iter().filter_map(|item| self.read(item))
    }

    /// Keys starting with `prefix`, in key order.
    pub fn prefix(&self, prefix: &[u8]) -> impl Iterator<Item = Result<KeyValue>> + '_ {
        self.index.prefix(prefix).filter_map(|item| self.read(item))
    }

    /// Keys in the range, in key order.
    pub fn range(
        &self,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
    ) -> impl Iterator<Item = Result<KeyValue>> + '_ {
        self.index
            .range(start, end)
            .filter_map(|item| self.read(item))
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
            .filter(|(key, entry)| !self.is_hidden(key) && self.is_live(key, *entry))
            .map(|(key, entry)| (key, entry.version))
    }

    /// The version of `key`'s newest write in this view, `None` when the
    /// key is absent; reads no value (unless the key expires and the
    /// view is older than the engine's table of expiry times).
    pub fn version_of(&self, key: &[u8]) -> Option<u64> {
        if self.is_hidden(key) {
            return None;
        }
        self.index
            .get(key)
            .filter(|entry| self.is_live(key, *entry))
            .map(|entry| entry.version)
    }

    /// When `key` expires in this view: `None` when the key is absent,
    /// `Some(None)` when it never expires.
    pub fn expiry_of(&self, key: &[u8]) -> Result<Option<Option<u64>>> {
        if self.is_hidden(key) {
            return Ok(None);
        }
        let Some(entry) = self.index.get(key) else {
            return Ok(None);
        };
        let at = entry_expiry(&self.expiries, &self.segments, key, entry)?;
        Ok((!is_expired(at, self.now_ms)).then_some(at))
    }

    /// Whether the write `entry` names has not expired at the view's
    /// moment. A failed record read counts as live: the read that
    /// follows reports the failure.
    fn is_live(&self, key: &[u8], entry: Entry) -> bool {
        !entry.expiring
            || entry_expiry(&self.expiries, &self.segments, key, entry)
                .map_or(true, |at| !is_expired(at, self.now_ms))
    }
}
