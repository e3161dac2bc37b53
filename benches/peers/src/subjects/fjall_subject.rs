//! fjall 3: one `Database` with one keyspace, default options.
//!
//! Unsynced writes use fjall's default journal mode: every insert (and
//! every batch) writes its journal entry through to the operating system
//! (`PersistMode::Buffer`), with no fsync. Synced writes call
//! `Database::persist(PersistMode::SyncData)` after each insert, an
//! fdatasync like Hightower's.

use std::path::Path;

use anyhow::{Context, Result};
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use super::{Pair, Subject};

/// See the module docs.
pub struct FjallSubject {
    db: Database,
    keyspace: Keyspace,
}

impl FjallSubject {
    /// Opens or creates the database in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let db = Database::builder(dir)
            .open()
            .with_context(|| format!("opening fjall in {}", dir.display()))?;
        let keyspace = db.keyspace("bench", KeyspaceCreateOptions::default)?;
        Ok(FjallSubject { db, keyspace })
    }
}

impl Subject for FjallSubject {
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        Ok(self.keyspace.insert(key, value)?)
    }

    fn put_batch(&mut self, pairs: &[Pair<'_>]) -> Result<()> {
        let mut batch = self.db.batch();
        for (key, value) in pairs {
            batch.insert(&self.keyspace, *key, *value);
        }
        Ok(batch.commit()?)
    }

    fn get(&mut self, key: &[u8]) -> Result<Option<usize>> {
        Ok(self.keyspace.get(key)?.map(|value| value.len()))
    }

    fn settle(&mut self) -> Result<()> {
        Ok(self.db.persist(PersistMode::SyncAll)?)
    }

    fn synced_puts(&mut self, pairs: &[Pair<'_>], _threads: usize) -> Result<()> {
        for (key, value) in pairs {
            self.keyspace.insert(*key, *value)?;
            self.db.persist(PersistMode::SyncData)?;
        }
        Ok(())
    }
}
