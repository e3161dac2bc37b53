//! redb 4: one table of byte strings in one file, default cache.
//!
//! Unsynced writes are one write transaction per put (or per batch) with
//! `Durability::None`; `settle` commits an empty transaction with
//! `Durability::Immediate`, which makes them durable. Synced writes are one
//! transaction per put with the default durability (`Immediate`). Reads
//! reuse one read transaction and table handle until the next write, the
//! fastest way redb offers to read many keys.

use std::path::Path;

use anyhow::{Context, Result};
use redb::{Database, Durability, ReadOnlyTable, ReadableDatabase, TableDefinition};

use super::{Pair, Subject};

const TABLE: TableDefinition<'static, &[u8], &[u8]> = TableDefinition::new("bench");

/// See the module docs.
pub struct RedbSubject {
    db: Database,
    reader: Option<ReadOnlyTable<&'static [u8], &'static [u8]>>,
}

impl RedbSubject {
    /// Opens or creates `dir/bench.redb`.
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join("bench.redb");
        let db = Database::create(&path)
            .with_context(|| format!("opening redb at {}", path.display()))?;
        Ok(RedbSubject { db, reader: None })
    }

    fn write(&mut self, durability: Durability, pairs: &[Pair<'_>]) -> Result<()> {
        self.reader = None;
        let mut txn = self.db.begin_write()?;
        txn.set_durability(durability)?;
        {
            let mut table = txn.open_table(TABLE)?;
            for (key, value) in pairs {
                table.insert(*key, *value)?;
            }
        }
        txn.commit()?;
        Ok(())
    }
}

impl Subject for RedbSubject {
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.write(Durability::None, &[(key, value)])
    }

    fn put_batch(&mut self, pairs: &[Pair<'_>]) -> Result<()> {
        self.write(Durability::None, pairs)
    }

    fn get(&mut self, key: &[u8]) -> Result<Option<usize>> {
        if self.reader.is_none() {
            self.reader = Some(self.db.begin_read()?.open_table(TABLE)?);
        }
        let table = self.reader.as_ref().expect("opened just above");
        Ok(table.get(key)?.map(|value| value.value().len()))
    }

    fn settle(&mut self) -> Result<()> {
        self.write(Durability::Immediate, &[])
    }

    fn synced_puts(&mut self, pairs: &[Pair<'_>], _threads: usize) -> Result<()> {
        for pair in pairs {
            self.write(Durability::Immediate, std::slice::from_ref(pair))?;
        }
        Ok(())
    }
}
