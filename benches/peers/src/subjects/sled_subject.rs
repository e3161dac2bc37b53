//! sled 0.34: the default tree, default configuration.
//!
//! Unsynced writes are plain inserts (and `Batch`es); sled's own background
//! thread flushes every 500 ms by default, as it would in an application.
//! Synced writes call `flush()` after each insert.

use std::path::Path;

use anyhow::{Context, Result};

use super::{Pair, Subject};

/// See the module docs.
pub struct SledSubject {
    db: sled::Db,
}

impl SledSubject {
    /// Opens or creates the database in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let db = sled::Config::new()
            .path(dir)
            .open()
            .with_context(|| format!("opening sled in {}", dir.display()))?;
        Ok(SledSubject { db })
    }
}

impl Subject for SledSubject {
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.db.insert(key, value)?;
        Ok(())
    }

    fn put_batch(&mut self, pairs: &[Pair<'_>]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for (key, value) in pairs {
            batch.insert(*key, *value);
        }
        Ok(self.db.apply_batch(batch)?)
    }

    fn get(&mut self, key: &[u8]) -> Result<Option<usize>> {
        Ok(self.db.get(key)?.map(|value| value.len()))
    }

    fn settle(&mut self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    fn synced_puts(&mut self, pairs: &[Pair<'_>], _threads: usize) -> Result<()> {
        for (key, value) in pairs {
            self.db.insert(*key, *value)?;
            self.db.flush()?;
        }
        Ok(())
    }
}
