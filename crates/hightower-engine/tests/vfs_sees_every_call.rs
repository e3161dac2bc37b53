//! Every file-system call of the engine goes through the configured
//! `Vfs`: the store is opened at a path that does not exist, under a `Vfs`
//! that maps that path onto another directory. A full life (writes that
//! roll segments, a checkpoint, a compaction pass, a snapshot install, a
//! reopen) must work, and nothing may appear at the unmapped path, which
//! a call around the `Vfs` would create or fail on.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context, ensure};
use hightower_engine::{
    CompactionConfig, Durability, EngineConfig, KeyValue, KvEngine, SingleNodeEngine,
    SnapshotEngine,
};
use hightower_log::vfs::{FileIo, FileLock, StdVfs, Vfs};

/// The real file system, seen under another root: `shown` stands for `real`.
#[derive(Debug)]
struct Remapped {
    inner: StdVfs,
    shown: PathBuf,
    real: PathBuf,
}

impl Remapped {
    fn to_real(&self, path: &Path) -> io::Result<PathBuf> {
        let rest = path.strip_prefix(&self.shown).map_err(|_| {
            io::Error::other(format!("{} is outside the mapped root", path.display()))
        })?;
        Ok(self.real.join(rest))
    }

    fn to_shown(&self, path: &Path) -> io::Result<PathBuf> {
        let rest = path.strip_prefix(&self.real).map_err(io::Error::other)?;
        Ok(self.shown.join(rest))
    }
}

impl Vfs for Remapped {
    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn FileIo>> {
        self.inner.create_new(&self.to_real(path)?)
    }
    fn open(&self, path: &Path, writable: bool) -> io::Result<Arc<dyn FileIo>> {
        self.inner.open(&self.to_real(path)?, writable)
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.inner.read(&self.to_real(path)?)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(&self.to_real(from)?, &self.to_real(to)?)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(&self.to_real(path)?)
    }
    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_dir(&self.to_real(path)?)
    }
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_dir_all(&self.to_real(path)?)
    }
    fn read_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        self.inner
            .read_dir(&self.to_real(dir)?)?
            .iter()
            .map(|path| self.to_shown(path))
            .collect()
    }
    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir(&self.to_real(dir)?)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(&self.to_real(dir)?)
    }
    fn modified(&self, path: &Path) -> io::Result<SystemTime> {
        self.inner.modified(&self.to_real(path)?)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(&self.to_real(dir)?)
    }
    fn try_lock(&self, path: &Path) -> io::Result<Option<FileLock>> {
        self.inner.try_lock(&self.to_real(path)?)
    }
}

#[test]
fn the_engine_reaches_files_only_through_its_vfs() -> anyhow::Result<()> {
    let base = tempfile::tempdir()?;
    let shown = base.path().join("not-here");
    let real = base.path().join("real");
    // The mapped root exists (the Vfs can tell nothing of what is above
    // it); the store below it is created through the Vfs.
    std::fs::create_dir(&real)?;
    let vfs = Arc::new(Remapped {
        inner: StdVfs::default(),
        shown: shown.clone(),
        real: real.clone(),
    });
    let config = EngineConfig::new(shown.join("store"))
        .segment_bytes_max(4096)
        .durability(Durability::Sync)
        .compaction(CompactionConfig::manual())
        .vfs(vfs);
    let expected = {
        let engine = SingleNodeEngine::with_config(config.clone())?;
        for i in 0..200u32 {
            let value = format!("value-{i}-{}", "v".repeat(200));
            engine.put(format!("key-{:02}", i % 50).as_bytes(), value.as_bytes())?;
        }
        engine.delete(b"key-07")?;
        engine.checkpoint()?;
        engine.run_compaction_now()?;
        let view = engine.read_view()?;
        let entries: Vec<KeyValue> = view.iter().collect::<Result<_, _>>()?;
        engine.install_snapshot(view.version(), &mut entries.into_iter())?;
        engine.checkpoint()?;
        dump_all(&engine)?
    };
    let engine = SingleNodeEngine::with_config(config).context("reopen")?;
    ensure!(dump_all(&engine)? == expected, "the reopened store differs");
    drop(engine);
    ensure!(
        !shown.exists(),
        "a file-system call went around the Vfs: {} exists",
        shown.display()
    );
    ensure!(
        real.join("store").join("LOCK").exists(),
        "the store is not where the Vfs put it"
    );
    Ok(())
}

/// Every key, value and version, in key order.
type Contents = Vec<(Vec<u8>, Vec<u8>, u64)>;

fn dump_all(engine: &SingleNodeEngine) -> anyhow::Result<Contents> {
    let view = engine.read_view()?;
    view.iter()
        .map(|item| {
            item.map(|kv| (kv.key, kv.value, kv.version))
                .map_err(Into::into)
        })
        .collect()
}
