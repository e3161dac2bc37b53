//! Hightower KV's `SingleNodeEngine`.
//!
//! Unsynced phases run under `Durability::None`: appends go to the
//! engine's write buffer (256 KiB) and from there to the operating system,
//! never fsynced. The synced phase reopens the same directory under
//! `Durability::Sync` and submits from several threads, so that concurrent
//! writers share one fdatasync (group commit).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use hightower_engine::{
    AdminEngine, Durability, EngineConfig, KvEngine, SingleNodeEngine, WriteBatch,
};

use super::{HightowerOptions, Pair, Subject};

/// See the module docs.
pub struct HightowerSubject {
    dir: PathBuf,
    options: HightowerOptions,
    /// Always `Some` outside `reopen`.
    engine: Option<SingleNodeEngine>,
}

fn open_engine(
    dir: &Path,
    durability: Durability,
    worker_threads: usize,
) -> Result<SingleNodeEngine> {
    let config = EngineConfig::new(dir)
        .durability(durability)
        .worker_threads(worker_threads);
    SingleNodeEngine::with_config(config)
        .with_context(|| format!("opening hightower in {}", dir.display()))
}

impl HightowerSubject {
    /// Opens `dir` under `Durability::None`.
    pub fn open(dir: &Path, options: HightowerOptions) -> Result<Self> {
        let engine = open_engine(dir, Durability::None, options.worker_threads)?;
        Ok(HightowerSubject {
            dir: dir.to_path_buf(),
            options,
            engine: Some(engine),
        })
    }

    fn engine(&self) -> &SingleNodeEngine {
        self.engine
            .as_ref()
            .expect("the engine is open outside reopen")
    }
}

impl Subject for HightowerSubject {
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.engine().put(key, value)?;
        Ok(())
    }

    fn put_batch(&mut self, pairs: &[Pair<'_>]) -> Result<()> {
        // `WriteBatch` encodes as it is built; `submit_batch` of commands
        // builds one the same way after copying each key and value.
        let bytes = pairs.iter().map(|(k, v)| 28 + k.len() + v.len()).sum();
        let mut batch = WriteBatch::with_capacity(bytes);
        for (key, value) in pairs {
            batch.put(key, value);
        }
        self.engine().write(&batch)?;
        Ok(())
    }

    fn get(&mut self, key: &[u8]) -> Result<Option<usize>> {
        Ok(self.engine().get(key)?.map(|found| found.value.len()))
    }

    fn settle(&mut self) -> Result<()> {
        Ok(self.engine().sync()?)
    }

    fn prepare_synced(&mut self) -> Result<()> {
        // The directory lock allows one engine at a time: close first.
        drop(self.engine.take());
        self.engine = Some(open_engine(
            &self.dir,
            Durability::Sync,
            self.options.worker_threads,
        )?);
        Ok(())
    }

    fn synced_puts(&mut self, pairs: &[Pair<'_>], threads: usize) -> Result<()> {
        let engine = self.engine();
        let chunk_len = pairs.len().div_ceil(threads.max(1)).max(1);
        std::thread::scope(|scope| {
            let handles: Vec<_> = pairs
                .chunks(chunk_len)
                .map(|chunk| {
                    scope.spawn(move || -> Result<()> {
                        for (key, value) in chunk {
                            engine.put(key, value)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            handles
                .into_iter()
                .try_for_each(|h| h.join().expect("a submitting thread does not panic"))
        })
    }

    fn index_memory_bytes(&self) -> Option<u64> {
        self.engine().index_memory_bytes()
    }
}
