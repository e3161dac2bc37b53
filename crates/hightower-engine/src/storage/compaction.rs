//! [`Storage::compact_all`]: one compaction pass over the store, from the
//! choice of segments to the removal of the inputs.
//!
//! The outputs are written and synced in the staging directory `compact/`
//! while writers go on. The commit then runs under the maintenance lock:
//!
//! 1. roll the active segment, so that it has an id above every output
//!    and stays the newest segment (the only one a torn tail may be in);
//!    the segment it retires goes with the inputs when it holds no record;
//! 2. remove the snapshot files and sync the directory. A snapshot names a
//!    log position and a restart replays only the segments from there on,
//!    trusting that older records are all in the snapshot; the outputs
//!    carry old records under ids above any position taken so far, so a
//!    snapshot surviving their arrival could bring back a put that a later
//!    delete, already folded into the snapshot, had removed. (Snapshots
//!    may also point into the inputs.) Checkpoints wait for the
//!    maintenance lock, so none is written until the pass is done;
//! 3. rename the outputs into the data directory and sync it: from here on
//!    a restart sees them, beside the inputs (same versions, so harmless);
//! 4. store the manifest with the inputs listed as obsolete and the version
//!    floor raised to the latest version: the commit point. A restart
//!    deletes listed segments before it reads anything, so the inputs go
//!    all together or not at all, and a dropped tombstone can neither let
//!    an older put come back nor the latest version go down;
//! 5. add the outputs to the segment map, move the index entries that
//!    still point at the copied records (`Index::relocate`: a key written
//!    meanwhile keeps its newer entry), drop the inputs from the map.
//!
//! After the lock is released the retired files are deleted (readers that
//! hold a `ReadView` keep them open). A failure while the outputs are
//! written discards the staging directory and leaves the store as it was;
//! a failure from step 1 on is returned as the I/O error itself, which
//! poisons the engine, and a reopen finds either layout whole. docs/FORMAT.md, "Compaction", has the
//! same steps from the point of view of the files.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use hightower_compact::{
    CompactError, CompactionJob, CompactionOptions, CompactionOutput, CompactionPlan,
    CompactionReport, LiveRecords, PassGuard, SegmentUsage, segment_usage,
};
use hightower_log::vfs::{Vfs, removed_if_present};
use hightower_log::{LogError, LogSegment, SEGMENT_HEADER_BYTES};

use super::{Storage, entry_expiry, segment_file_name};
use crate::error::{EngineError, Result};
use crate::manifest::Manifest;
use crate::snapshot::Snapshot;

/// The staging directory of a pass's outputs.
pub(crate) const COMPACT_DIR: &str = "compact";

/// At open: discards the outputs of a pass that never committed and
/// deletes the segments a committed pass made obsolete, before any segment
/// is read.
pub(super) fn clean_up_at_open(vfs: &dyn Vfs, dir: &Path, manifest: &Manifest) -> Result<()> {
    let staging = dir.join(COMPACT_DIR);
    removed_if_present(vfs.remove_dir_all(&staging)).map_err(|e| EngineError::io(&staging, e))?;
    let mut removed = false;
    for id in &manifest.obsolete_segment_ids {
        let path = dir.join(segment_file_name(*id));
        removed |=
            removed_if_present(vfs.remove_file(&path)).map_err(|e| EngineError::io(&path, e))?;
    }
    if removed {
        vfs.sync_dir(dir).map_err(|e| EngineError::io(dir, e))?;
    }
    Ok(())
}

/// Whether `path` may still be there: only a file the file system says is
/// missing is not (an obsolete id stays listed while its file may exist).
fn file_may_exist(vfs: &dyn Vfs, path: &Path) -> bool {
    !matches!(vfs.modified(path), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
}

/// An I/O failure of a pass before its commit (the store is unchanged).
fn staging_error(path: &Path, source: std::io::Error) -> EngineError {
    CompactError::Io {
        path: path.to_path_buf(),
        source,
    }
    .into()
}

impl Storage {
    /// Live and dead bytes of every segment, measured against the index.
    pub(crate) fn segment_usage(&self) -> Vec<SegmentUsage> {
        let (index, segments) = self.view();
        segment_usage(segments.values().map(Arc::as_ref), &index)
    }

    /// Runs one compaction pass: chooses segments by the policy (or as
    /// `options` says), rewrites their live records and commits the result
    /// crash-safely (see the module docs). Returns an empty report when
    /// there was nothing worth doing. Waits for a running pass; fails with
    /// [`CompactError::Suspended`] while compaction is suspended.
    ///
    /// Writers and readers go on during the pass. It does not write a
    /// snapshot (that needs every key lock; the engine does it when
    /// `emit_snapshot` is set).
    pub(crate) fn compact_all(&self, options: CompactionOptions) -> Result<CompactionReport> {
        let started = Instant::now();
        let pass = self.compactor.begin_pass()?;
        if options.force {
            self.seal_active_for_compaction()?;
        }
        self.finish_seals()?;
        let installs_seen = self.installs.load(Ordering::Acquire);
        let Some((plan, live)) = self.plan(&options) else {
            return Ok(CompactionReport {
                elapsed: started.elapsed(),
                ..CompactionReport::default()
            });
        };
        let segments = self.segments();
        let (inputs, others): (Vec<_>, Vec<_>) = segments
            .values()
            .cloned()
            .partition(|segment| plan.segment_ids.contains(&segment.id()));
        let staging = self.dir.join(COMPACT_DIR);
        let job = CompactionJob {
            inputs: &inputs,
            others: &others,
            live: &live,
            segment_bytes_max: self.segment_bytes_max,
            vfs: self.vfs.as_ref(),
            expired_at_ms: Some(self.clock.now_ms()),
        };
        let output = match self.write_outputs(&pass, &staging, &job, &options) {
            Ok(output) => output,
            Err(e) => {
                let _ = self.vfs.remove_dir_all(&staging);
                return Err(e);
            }
        };
        let retired = self.commit_compaction(&staging, &inputs, &output, installs_seen)?;
        self.delete_retired(&retired);
        let mut report = output.report;
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// The inputs of the next pass, with the live records they are
    /// measured and copied by; `None` when there is nothing to do. Skips
    /// walking the index when the sealed segments together are too small to
    /// hold `min_bytes` of garbage.
    fn plan(&self, options: &CompactionOptions) -> Option<(CompactionPlan, LiveRecords)> {
        if !options.force && options.only_segments.is_none() {
            let sealed_bytes: u64 = self
                .segments()
                .values()
                .filter(|segment| segment.is_sealed())
                .map(|segment| segment.data_len_bytes())
                .sum();
            if sealed_bytes < self.compactor.config().min_bytes {
                return None;
            }
        }
        // Only segments sealed, with every append published, before the
        // snapshot is taken: its live records are then exactly theirs.
        let ready = self.quiescent_sealed_ids();
        let (index, segments) = self.view();
        let now_ms = self.clock.now_ms();
        let live = LiveRecords::from_index_expiring(&index, |key, entry| {
            // A failed record read counts as live: the pass copies it.
            entry_expiry(&self.expiries, &segments, key, *entry)
                .is_ok_and(|at| crate::clock::is_expired(at, now_ms))
        });
        // Writers copy index nodes while a snapshot shares them.
        drop(index);
        let mut usage = live.usage(segments.values().map(Arc::as_ref));
        for segment in &mut usage {
            segment.sealed = ready.contains(&segment.segment_id);
        }
        let live_bytes = usage.iter().map(|u| u.live_bytes).sum();
        self.last_live_bytes.store(live_bytes, Ordering::Relaxed);
        let plan = self.compactor.plan(&usage, options);
        (!plan.is_empty()).then_some((plan, live))
    }

    /// Rolls the active segment when it holds records, so that a forced
    /// pass can take them too.
    fn seal_active_for_compaction(&self) -> Result<()> {
        let mut active = self.active.lock();
        if active.data_len_bytes() > SEGMENT_HEADER_BYTES as u64 {
            self.roll(&mut active)?;
        }
        Ok(())
    }

    /// Writes the pass's outputs into `staging`, sealed and synced.
    fn write_outputs(
        &self,
        pass: &PassGuard<'_>,
        staging: &Path,
        job: &CompactionJob<'_>,
        options: &CompactionOptions,
    ) -> Result<CompactionOutput> {
        removed_if_present(self.vfs.remove_dir_all(staging))
            .map_err(|e| staging_error(staging, e))?;
        self.vfs
            .create_dir(staging)
            .map_err(|e| staging_error(staging, e))?;
        let mut create_output = || {
            let id = self.allocate_segment_id().map_err(|_| LogError::Io {
                path: staging.to_path_buf(),
                source: std::io::Error::other("segment ids are exhausted"),
            })?;
            let path = staging.join(segment_file_name(id));
            LogSegment::create(self.vfs.as_ref(), &path, id, self.options)
        };
        // Each output's directory entry was synced when it was created, and
        // its bytes when it was sealed.
        Ok(self
            .compactor
            .compact(pass, job, &mut create_output, options)?)
    }

    /// Makes the outputs part of the store and the inputs obsolete; see the
    /// module docs for the steps. Errors here are plain I/O errors. Returns
    /// the segments that left the store: the inputs, and the segment the
    /// roll retired when it held no record (a full pass seals the active
    /// segment first, so that one is usually empty).
    fn commit_compaction(
        &self,
        staging: &Path,
        inputs: &[Arc<LogSegment>],
        output: &CompactionOutput,
        installs_seen: u64,
    ) -> Result<Vec<Arc<LogSegment>>> {
        let _maintenance = self.maintenance.lock();
        if self.installs.load(Ordering::Acquire) != installs_seen {
            let _ = self.vfs.remove_dir_all(staging);
            return Err(CompactError::Superseded {
                reason: "a snapshot was installed",
            }
            .into());
        }
        // 1. The active segment stays the newest.
        let rolled = {
            let mut active = self.active.lock();
            let rolled = active.clone();
            self.roll(&mut active)?;
            rolled
        };
        let mut retired = inputs.to_vec();
        if rolled.data_len_bytes() == SEGMENT_HEADER_BYTES as u64 {
            retired.push(rolled);
        }
        // 2. No snapshot may survive the outputs' arrival (see the module docs).
        self.remove_snapshots()?;
        // 3. The outputs take their final names.
        let outputs = self.move_outputs_into_place(staging, output)?;
        // 4. The commit point.
        self.store_obsolete(&retired)?;
        // 5. Readers move over.
        self.swap_segments(&outputs, &[]);
        for relocation in output.relocations.iter() {
            self.index
                .relocate(relocation.key, relocation.from, relocation.to);
        }
        for expired in &output.expired {
            if self.index.remove_if_at(&expired.key, expired.location) {
                // Published as a delete would be: the table lets go of
                // the key (an older version never replaces a newer one).
                self.expiries.set(&expired.key, expired.version, None);
            }
        }
        let retired_ids: Vec<u32> = retired.iter().map(|segment| segment.id()).collect();
        self.swap_segments(&[], &retired_ids);
        Ok(retired)
    }

    /// Removes every snapshot file and makes that durable.
    fn remove_snapshots(&self) -> Result<()> {
        let snapshots = Snapshot::list(self.vfs.as_ref(), &self.dir)?;
        if snapshots.is_empty() {
            return Ok(());
        }
        for snapshot in snapshots {
            self.vfs
                .remove_file(&snapshot)
                .map_err(|e| EngineError::io(&snapshot, e))?;
        }
        self.vfs
            .sync_dir(&self.dir)
            .map_err(|e| EngineError::io(&self.dir, e))
    }

    /// Renames the outputs from `staging` into the data directory, syncs
    /// it, and opens them under their final names.
    fn move_outputs_into_place(
        &self,
        staging: &Path,
        output: &CompactionOutput,
    ) -> Result<Vec<Arc<LogSegment>>> {
        for segment in &output.outputs {
            let name = segment_file_name(segment.id());
            let target = self.dir.join(&name);
            self.vfs
                .rename(&staging.join(&name), &target)
                .map_err(|e| EngineError::io(&target, e))?;
        }
        self.vfs
            .sync_dir(&self.dir)
            .map_err(|e| EngineError::io(&self.dir, e))?;
        let _ = self.vfs.remove_dir(staging);
        let mut reopened = Vec::with_capacity(output.outputs.len());
        for segment in &output.outputs {
            let path = self.dir.join(segment_file_name(segment.id()));
            let (moved, report) = LogSegment::open(self.vfs.as_ref(), &path, self.options)?;
            assert!(
                report.sealed && moved.id() == segment.id(),
                "a compaction output reopens sealed, under its own id"
            );
            reopened.push(Arc::new(moved));
        }
        Ok(reopened)
    }

    /// Stores the manifest that makes `retired` obsolete and raises the
    /// version floor to the latest version. Obsolete segments of earlier
    /// passes whose files are still there stay listed.
    fn store_obsolete(&self, retired: &[Arc<LogSegment>]) -> Result<()> {
        let mut manifest = self.manifest.lock();
        let mut obsolete: Vec<u32> = manifest
            .obsolete_segment_ids
            .iter()
            .copied()
            .filter(|id| file_may_exist(self.vfs.as_ref(), &self.dir.join(segment_file_name(*id))))
            .chain(retired.iter().map(|segment| segment.id()))
            .collect();
        obsolete.sort_unstable();
        obsolete.dedup();
        let next = Manifest {
            min_segment_id: manifest.min_segment_id,
            version_floor: manifest.version_floor.max(self.latest_version()),
            obsolete_segment_ids: obsolete,
        };
        next.store(self.vfs.as_ref(), &self.dir)?;
        *manifest = next;
        Ok(())
    }

    /// Adds `added` to the segment map and removes `removed` from it.
    fn swap_segments(&self, added: &[Arc<LogSegment>], removed: &[u32]) {
        let mut unpublished = self.unpublished.lock();
        for id in removed {
            unpublished.remove(id);
        }
        drop(unpublished);
        let mut segments = self.segments.write();
        let mut map = std::collections::BTreeMap::clone(&segments);
        for segment in added {
            map.insert(segment.id(), segment.clone());
        }
        for id in removed {
            map.remove(id);
        }
        *segments = Arc::new(map);
    }

    /// Deletes the files of the segments a committed pass retired. A file
    /// that cannot be deleted now stays listed as obsolete and goes at the
    /// next open; a deletion that is not yet durable is made so by the
    /// directory sync of the next manifest, which is stored before the list
    /// forgets it.
    fn delete_retired(&self, retired: &[Arc<LogSegment>]) {
        for segment in retired {
            let _ = self.vfs.remove_file(segment.path());
        }
        let _ = self.vfs.sync_dir(&self.dir);
    }
}
