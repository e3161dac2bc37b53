//! `hightower backup --to DIR` and `hightower restore --from DIR`: every
//! live key of a stopped store, with its value, version and expiry time,
//! copied into a backup directory, and such a backup installed into an
//! empty store.
//!
//! A backup directory holds two files, written and read by
//! `hightower_engine::backup` (docs/FORMAT.md, "Backups", gives every
//! byte):
//!
//! - `backup.data`: a header, then chunks of records in key order, each
//!   chunk with an xxh3-64 checksum. [`BackupWriter`] writes it from one
//!   point-in-time view while compaction is held off; [`BackupReader`]
//!   reads it back, checking every checksum and every field.
//! - `backup.manifest`: magic, format version, the view's version, the
//!   key, chunk and byte counts and the checksum of the whole data file
//!   ([`Manifest`]). It is written last (temporary file, fsync, rename,
//!   directory fsync), so a backup cut short by a crash has no manifest
//!   and is refused, and a manifest always describes a whole data file.
//!
//! Restore verifies first and installs second: one pass reads the whole
//! data file and checks it against the manifest, and only then is the
//! target created and the keys installed with
//! [`SnapshotEngine::install_snapshot`], which keeps versions and expiry
//! times. Should the second reading fail anyway (the backup changed in
//! between, or a disk error), the target is removed again, so a failed
//! restore leaves no store behind.
//!
//! Keys under [`RAFT_PREFIX`] (a Raft node's own metadata) are left out:
//! a backup holds the data alone. A restored store becomes a group by
//! starting alone as a group of one, which the others join (see
//! `cluster.rs`).

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use hightower_engine::backup::{
    BackupError, BackupReader, BackupWriter, CHUNK_PAYLOAD_BYTES_TARGET, DATA_FILE_NAME,
    MANIFEST_FILE_NAME, MANIFEST_TMP_FILE_NAME, Manifest,
};
use hightower_engine::{EngineError, KeyValue, SingleNodeEngine, SnapshotEngine};
use hightower_raft::RAFT_PREFIX;
use indicatif::ProgressBar;

use super::master_key::{create_owner_only, sync_parent_dir};
use super::{Access, find_cause, open_engine, progress_bar};
use crate::cli::{BackupArgs, Cli, RestoreArgs};

/// Stores with fewer keys get no progress bar.
const PROGRESS_KEYS_MIN: u64 = 10_000;

/// The records of a reader as the infallible iterator an install takes:
/// the first failure ends it and is kept for the caller.
struct Entries<'a, R> {
    reader: BackupReader<R>,
    failure: &'a mut Option<BackupError>,
    bar: &'a ProgressBar,
}

impl<R: Read> Iterator for Entries<'_, R> {
    type Item = KeyValue;

    fn next(&mut self) -> Option<KeyValue> {
        match self.reader.next_record() {
            Ok(Some(kv)) => {
                self.bar.inc(1);
                Some(kv)
            }
            Ok(None) => None,
            Err(e) => {
                *self.failure = Some(e);
                None
            }
        }
    }
}

/// `hightower backup --to DIR`.
pub(crate) fn backup(cli: &Cli, args: &BackupArgs) -> Result<()> {
    let started = Instant::now();
    let engine = open_engine(cli, Access::MustExist).map_err(|e| explain_locked(e, cli))?;
    let created = prepare_empty_dir(&args.to, "backup directory")?;
    if let Err(e) = refuse_inside(&args.to, &cli.data_dir) {
        discard_backup(&args.to, created);
        return Err(e);
    }
    let manifest = match write_backup(&engine, &args.to) {
        Ok(manifest) => manifest,
        Err(e) => {
            discard_backup(&args.to, created);
            return Err(e.context(format!("backup to {} failed", args.to.display())));
        }
    };
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "backed up {} keys ({} bytes) at version {} in {:.3} s to {}",
        manifest.n_keys,
        manifest.data_bytes,
        manifest.latest_version,
        started.elapsed().as_secs_f64(),
        args.to.display()
    )?;
    out.flush()?;
    Ok(())
}

/// Fails when the backup directory lies inside the data directory: the
/// backup would live and die with the store it is meant to outlive.
fn refuse_inside(backup_dir: &Path, data_dir: &Path) -> Result<()> {
    let canonical = |dir: &Path| {
        std::fs::canonicalize(dir).with_context(|| format!("cannot resolve {}", dir.display()))
    };
    if canonical(backup_dir)?.starts_with(canonical(data_dir)?) {
        bail!(
            "backup directory {} is inside the data directory {}; choose one outside it",
            backup_dir.display(),
            data_dir.display()
        );
    }
    Ok(())
}

/// Names the cure when the store is locked: a running server holds it.
fn explain_locked(error: anyhow::Error, cli: &Cli) -> anyhow::Error {
    if let Some(EngineError::Locked { .. }) = find_cause::<EngineError>(&error) {
        return error.context(format!(
            "{} is in use (a running server holds it); stop the server first, then back it up",
            cli.data_dir.display()
        ));
    }
    error
}

/// Writes the data file from one view, then the manifest.
fn write_backup(engine: &SingleNodeEngine, dir: &Path) -> Result<Manifest> {
    let _held = engine.hold_compaction();
    let view = engine
        .snapshot_state()
        .context("cannot take a view of the store")?;
    let path = dir.join(DATA_FILE_NAME);
    let file = create_owner_only(&path)?;
    let output = BufWriter::with_capacity(CHUNK_PAYLOAD_BYTES_TARGET, file);
    let mut writer = BackupWriter::new(output, view.version())
        .with_context(|| format!("cannot write {}", path.display()))?;
    let bar = progress_bar(
        view.len() as u64,
        PROGRESS_KEYS_MIN,
        "backup [{bar:40}] {pos}/{len} keys, eta {eta}",
    )?;
    for item in view.iter() {
        let kv = item.context("cannot read the store")?;
        bar.inc(1);
        if kv.key.starts_with(RAFT_PREFIX) {
            continue;
        }
        writer
            .push(&kv)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    bar.finish_and_clear();
    let (output, manifest) = writer
        .finish(view.now_ms())
        .with_context(|| format!("cannot write {}", path.display()))?;
    let file = output
        .into_inner()
        .map_err(io::IntoInnerError::into_error)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.sync_all()
        .with_context(|| format!("cannot sync {}", path.display()))?;
    write_manifest(dir, &manifest)?;
    Ok(manifest)
}

/// Stores the manifest atomically: temporary file, fsync, rename,
/// directory fsync. Before the rename the backup has no manifest.
fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<()> {
    let tmp = dir.join(MANIFEST_TMP_FILE_NAME);
    let path = dir.join(MANIFEST_FILE_NAME);
    let mut file = create_owner_only(&tmp)?;
    file.write_all(&manifest.encode())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    drop(file);
    std::fs::rename(&tmp, &path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
    sync_parent_dir(&path)
}

/// Fails unless `dir` is missing or an empty directory.
fn refuse_unless_empty(dir: &Path, what: &str) -> Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!(
                    "{what} {} is not empty; choose a missing or empty directory \
                     (nothing is ever overwritten)",
                    dir.display()
                );
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
            bail!("{what} {} is not a directory", dir.display())
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {what} {}", dir.display())),
    }
}

/// Makes sure `dir` is an empty directory, creating it (mode 0700) when
/// missing; returns whether it was created.
fn prepare_empty_dir(dir: &Path, what: &str) -> Result<bool> {
    refuse_unless_empty(dir, what)?;
    if dir.is_dir() {
        return Ok(false);
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("cannot create {what} {}", dir.display()))?;
    sync_parent_dir(dir)?;
    Ok(true)
}

/// After a failed backup: what it wrote goes, so no partial backup
/// stays behind (one without a manifest would be refused anyway).
fn discard_backup(dir: &Path, created: bool) {
    if created {
        let _ = std::fs::remove_dir_all(dir);
        return;
    }
    for name in [MANIFEST_FILE_NAME, MANIFEST_TMP_FILE_NAME, DATA_FILE_NAME] {
        let _ = std::fs::remove_file(dir.join(name));
    }
}

/// `hightower restore --from DIR`.
pub(crate) fn restore(cli: &Cli, args: &RestoreArgs) -> Result<()> {
    let started = Instant::now();
    let target = &cli.data_dir;
    refuse_unless_empty(target, "data directory")?;
    let refused = || format!("cannot restore from {}", args.from.display());
    let manifest = read_manifest(&args.from).with_context(refused)?;
    verify_data(&args.from, &manifest).with_context(refused)?;
    let created = prepare_empty_dir(target, "data directory")?;
    if let Err(e) = install(cli, &args.from, &manifest) {
        discard_store(target, created);
        return Err(e.context(format!("nothing restored into {}", target.display())));
    }
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "restored {} keys ({} bytes) at version {} in {:.3} s into {}",
        manifest.n_keys,
        manifest.data_bytes,
        manifest.latest_version,
        started.elapsed().as_secs_f64(),
        target.display()
    )?;
    out.flush()?;
    Ok(())
}

fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST_FILE_NAME);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => bail!(
            "{} is not a whole backup: {MANIFEST_FILE_NAME} is missing \
             (the backup did not finish)",
            dir.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    Manifest::decode(&bytes).map_err(|(offset, reason)| {
        BackupError::Damaged {
            file: path,
            offset,
            reason,
        }
        .into()
    })
}

fn open_data(dir: &Path, manifest: Manifest) -> Result<BackupReader<BufReader<File>>> {
    let path = dir.join(DATA_FILE_NAME);
    let file = File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    let reader = BufReader::with_capacity(CHUNK_PAYLOAD_BYTES_TARGET, file);
    Ok(BackupReader::new(reader, &path, manifest)?.refusing_prefix(RAFT_PREFIX))
}

/// The first pass: reads the whole data file, keeping no record.
fn verify_data(dir: &Path, manifest: &Manifest) -> Result<()> {
    let mut reader = open_data(dir, *manifest)?;
    let bar = progress_bar(
        manifest.n_keys,
        PROGRESS_KEYS_MIN,
        "verify [{bar:40}] {pos}/{len} keys, eta {eta}",
    )?;
    // The reader stops at the manifest's key count, so this loop ends.
    while reader.next_record()?.is_some() {
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}

/// The second pass: a fresh store in the (empty) target, the records
/// installed at the backup's version, synced.
fn install(cli: &Cli, dir: &Path, manifest: &Manifest) -> Result<()> {
    let engine = open_engine(cli, Access::CreateMissing)?;
    let mut failure = None;
    let bar = progress_bar(
        manifest.n_keys,
        PROGRESS_KEYS_MIN,
        "install [{bar:40}] {pos}/{len} keys, eta {eta}",
    )?;
    let mut entries = Entries {
        reader: open_data(dir, *manifest)?,
        failure: &mut failure,
        bar: &bar,
    };
    let installed = engine.install_snapshot(manifest.latest_version, &mut entries);
    bar.finish_and_clear();
    if let Some(e) = failure {
        return Err(e.into());
    }
    installed.context("install failed")?;
    engine.sync().context("sync failed")?;
    ensure!(
        engine.latest_version() == manifest.latest_version,
        "the store is at version {} after the install, the backup at {}",
        engine.latest_version(),
        manifest.latest_version
    );
    Ok(())
}

/// After a failed install: the target goes back to missing or empty.
/// It was missing or empty before, so all it holds is this restore's.
fn discard_store(dir: &Path, created: bool) {
    if created {
        let _ = std::fs::remove_dir_all(dir);
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let _ = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
    }
}
