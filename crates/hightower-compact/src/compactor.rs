//! [`Compactor`]: chooses segments and rewrites their live records.
//!
//! A pass reads each input segment in log order and copies:
//!
//! - a put only when the index pointed at exactly that record when the
//!   pass started ([`LiveRecords`]; every other put was overwritten or
//!   deleted, and the caller's relocation leaves alone any key written
//!   since);
//! - a tombstone only when it is within its grace, or when a segment
//!   outside the pass may still hold an older put of its key: dropping it
//!   then would bring that put back at the next restart, which rebuilds the
//!   key directory from whatever records remain (the Bitcask resurrection
//!   problem). Puts and tombstones inside the pass need no guard: a dead put
//!   in the pass is dropped with it.
//!
//! - a live put whose expiry time has come (at `CompactionJob::expired_at_ms`)
//!   as the tombstone of its own version: dropped, or carried as a delete
//!   where it must still hide an older put, and its index entry removed
//!   ([`CompactionOutput::expired`]).
//!
//! Records keep their versions. Outputs are filled up to the segment size,
//! sealed (footer, Bloom filter, sparse index) and synced; the caller
//! creates them (under temporary names) and makes them part of the store.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

use hightower_log::vfs::Vfs;
use hightower_log::{LogError, LogSegment, Mutation, SEGMENT_HEADER_BYTES, record::RecordRef};
use parking_lot::Mutex;

use crate::Location;
use crate::config::{CompactionConfig, CompactionOptions, CompactionProgress};
use crate::error::{CompactError, Result};
use crate::policy::{CompactionPlan, LiveCursor, LiveRecords, SegmentUsage, choose};
use crate::report::{CompactionReport, Relocations};
use crate::suspend::{PassGate, PassGuard, SuspendedCompaction};

/// The progress callback is called at least once per this many input bytes.
const PROGRESS_STEP_BYTES: u64 = 1 << 20;

/// Chooses segments to compact and rewrites them. See the crate docs.
///
/// One compactor belongs to one store: it lets one pass run at a time
/// ([`Compactor::begin_pass`]), holds the suspension count
/// ([`Compactor::suspend`]) and remembers which output segments hold
/// tombstones that are still needed, so the policy does not rewrite them
/// again before something changes.
#[derive(Debug)]
pub struct Compactor {
    config: CompactionConfig,
    gate: Arc<PassGate>,
    /// Output segment id -> tombstone bytes a pass had to carry into it.
    retained: Mutex<BTreeMap<u32, Retained>>,
}

/// Tombstones carried into one output segment, and what kept them.
#[derive(Debug, Clone, Default)]
struct Retained {
    bytes: u64,
    /// Segments that held an older put of a carried tombstone's key. Once
    /// one of them is gone, the tombstones may have become droppable.
    guard_ids: BTreeSet<u32>,
    /// The latest end of a grace period among the carried tombstones.
    grace_until: Option<SystemTime>,
}

/// What a pass reads: sealed input segments, every other segment of the
/// store (to look for older puts), and the live records as of its start.
#[derive(Debug, Clone, Copy)]
pub struct CompactionJob<'a> {
    /// The segments to rewrite; all sealed.
    pub inputs: &'a [Arc<LogSegment>],
    /// Every other segment of the store, sealed or not.
    pub others: &'a [Arc<LogSegment>],
    /// The records an index snapshot taken before the pass points at: a
    /// put is copied only if it is one of them.
    pub live: &'a LiveRecords,
    /// An output segment is closed before it would pass this size.
    pub segment_bytes_max: u64,
    /// The file system the segments live on (file times for the tombstone
    /// grace, file sizes for the report).
    pub vfs: &'a dyn Vfs,
    /// A live put that expires at or before this time (milliseconds since
    /// the Unix epoch) is dropped as expired; `None` copies every live put.
    pub expired_at_ms: Option<u64>,
}

/// A live put that a pass dropped because its expiry time had come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredPut {
    /// The key.
    pub key: Vec<u8>,
    /// The put's version.
    pub version: u64,
    /// Where the put lay: the index entry is removed only if it still
    /// points there.
    pub location: Location,
}

/// What a pass produced, before the caller commits it.
#[derive(Debug)]
pub struct CompactionOutput {
    /// The output segments, sealed and synced, in the order written.
    pub outputs: Vec<LogSegment>,
    /// The index entries to move from the inputs to the outputs.
    pub relocations: Relocations,
    /// The index entries to remove: live puts dropped as expired.
    pub expired: Vec<ExpiredPut>,
    /// What the pass did (the caller adds the time its commit takes).
    pub report: CompactionReport,
}

impl Compactor {
    /// A compactor with the given policy.
    pub fn new(config: CompactionConfig) -> Self {
        Compactor {
            config,
            gate: Arc::new(PassGate::default()),
            retained: Mutex::new(BTreeMap::new()),
        }
    }

    /// The policy.
    pub fn config(&self) -> &CompactionConfig {
        &self.config
    }

    /// Stops passes until the returned guard drops; waits for a running
    /// pass to finish first.
    pub fn suspend(&self) -> SuspendedCompaction {
        self.gate.suspend()
    }

    /// Whether a [`SuspendedCompaction`] guard is alive.
    pub fn is_suspended(&self) -> bool {
        self.gate.is_suspended()
    }

    /// Whether a pass is running now.
    pub fn is_running(&self) -> bool {
        self.gate.is_running()
    }

    /// Starts a pass: waits for a running one to finish, then fails with
    /// [`CompactError::Suspended`] while compaction is suspended.
    pub fn begin_pass(&self) -> Result<PassGuard<'_>> {
        self.gate.begin()
    }

    /// Chooses the inputs of a pass from the segments' usage (see
    /// [`crate::segment_usage`]).
    pub fn plan(&self, usage: &[SegmentUsage], options: &CompactionOptions) -> CompactionPlan {
        let present: BTreeSet<u32> = usage.iter().map(|u| u.segment_id).collect();
        let now = options.now.unwrap_or_else(SystemTime::now);
        let mut retained = self.retained.lock();
        retained.retain(|id, kept| {
            present.contains(id)
                && kept.guard_ids.iter().all(|guard| present.contains(guard))
                && kept.grace_until.is_none_or(|until| now < until)
        });
        choose(usage, &self.config, options, |id| {
            retained.get(&id).map_or(0, |kept| kept.bytes)
        })
    }

    /// Runs one pass over `job.inputs`, writing into segments that
    /// `create_output` makes (each with an id no other segment has). Fails
    /// with [`CompactError::Cancelled`] when `options.cancel` is set while
    /// it runs. Nothing outside the outputs is changed.
    pub fn compact(
        &self,
        _pass: &PassGuard<'_>,
        job: &CompactionJob<'_>,
        create_output: &mut dyn FnMut() -> hightower_log::Result<LogSegment>,
        options: &CompactionOptions,
    ) -> Result<CompactionOutput> {
        let started = Instant::now();
        let now = options.now.unwrap_or_else(SystemTime::now);
        let grace_until = now.checked_add(self.config.tombstone_grace);
        let mut pass = Pass {
            job,
            options,
            writer: OutputWriter {
                create: create_output,
                current: None,
                sealed: Vec::new(),
                segment_bytes_max: job.segment_bytes_max,
            },
            guard: TombstoneGuard {
                others: job.others,
                unsealed_min_put_version: HashMap::new(),
            },
            relocations: Relocations::default(),
            expired: Vec::new(),
            report: CompactionReport::default(),
            retained: BTreeMap::new(),
            grace_until,
            bytes_total: job.inputs.iter().map(|s| s.data_len_bytes()).sum(),
            progress_reported_at: 0,
        };
        for input in job.inputs {
            assert!(input.is_sealed(), "compaction reads sealed segments only");
            let within_grace = self.within_grace(job.vfs, input, now)?;
            pass.copy_segment(input, within_grace)?;
        }
        let Pass {
            writer,
            relocations,
            expired,
            mut report,
            retained,
            bytes_total,
            ..
        } = pass;
        let outputs = writer.finish()?;
        if let Some(progress) = &options.progress {
            progress(CompactionProgress {
                bytes_done: bytes_total,
                bytes_total,
            });
        }
        finish_report(&mut report, job.vfs, job.inputs, &outputs);
        report.elapsed = started.elapsed();
        self.retained.lock().extend(retained);
        Ok(CompactionOutput {
            outputs,
            relocations,
            expired,
            report,
        })
    }

    /// Whether the tombstones of `segment` are still within their grace:
    /// its file was last written less than the grace before `now`.
    fn within_grace(&self, vfs: &dyn Vfs, segment: &LogSegment, now: SystemTime) -> Result<bool> {
        let grace = self.config.tombstone_grace;
        if grace.is_zero() {
            return Ok(false);
        }
        let path = segment.path();
        let modified = vfs.modified(path).map_err(|source| CompactError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        // A modification time in the future (a clock set back) counts as now.
        Ok(now.duration_since(modified).is_ok_and(|age| age < grace) || modified > now)
    }
}

/// Fills in the sizes and ids of a pass's report.
fn finish_report(
    report: &mut CompactionReport,
    vfs: &dyn Vfs,
    inputs: &[Arc<LogSegment>],
    outputs: &[LogSegment],
) {
    let inputs_file_bytes: u64 = inputs.iter().map(|s| file_bytes(vfs, s)).sum();
    report.bytes_written = outputs.iter().map(|s| file_bytes(vfs, s)).sum();
    report.bytes_reclaimed = inputs_file_bytes.saturating_sub(report.bytes_written);
    report.segments_in = inputs.len();
    report.segments_out = outputs.len();
    report.input_segment_ids = inputs.iter().map(|s| s.id()).collect();
    report.input_segment_ids.sort_unstable();
    report.output_segment_ids = outputs.iter().map(LogSegment::id).collect();
    report.output_segment_ids.sort_unstable();
}

/// The size of a segment's file, or its data region when the file cannot
/// be asked (the numbers are for reports only).
fn file_bytes(vfs: &dyn Vfs, segment: &LogSegment) -> u64 {
    vfs.open(segment.path(), false)
        .and_then(|file| file.len())
        .unwrap_or_else(|_| segment.data_len_bytes())
}

/// Why a tombstone was carried forward.
#[derive(Debug, Clone, Copy)]
enum Keep {
    /// Its segment is within the grace period.
    Grace,
    /// This segment, outside the pass, may hold an older put of its key.
    Guard(u32),
}

/// The state of one running pass.
struct Pass<'j, 'c> {
    job: &'j CompactionJob<'j>,
    options: &'j CompactionOptions,
    writer: OutputWriter<'c>,
    guard: TombstoneGuard<'j>,
    relocations: Relocations,
    expired: Vec<ExpiredPut>,
    report: CompactionReport,
    retained: BTreeMap<u32, Retained>,
    grace_until: Option<SystemTime>,
    bytes_total: u64,
    progress_reported_at: u64,
}

impl Pass<'_, '_> {
    /// Copies what must survive of one input segment.
    fn copy_segment(&mut self, input: &LogSegment, within_grace: bool) -> Result<()> {
        let mut cancelled = false;
        let mut live = self.job.live.cursor(input.id());
        let scanned = input.scan(|location, record| {
            if self.cancel_requested() {
                cancelled = true;
                return Err(cancelled_marker(input.path()));
            }
            self.report.bytes_read += u64::from(location.len);
            self.report_progress();
            if record.is_put() && self.has_expired(&record) && live.contains(location) {
                self.drop_expired(location, record, within_grace)
            } else if record.is_put() {
                self.copy_put(location, record, &mut live)
            } else {
                self.copy_tombstone(record, within_grace)
            }
        });
        if cancelled {
            return Err(CompactError::Cancelled);
        }
        scanned.map_err(CompactError::from)
    }

    fn cancel_requested(&self) -> bool {
        self.options
            .cancel
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    }

    fn report_progress(&mut self) {
        let Some(progress) = &self.options.progress else {
            return;
        };
        if self.report.bytes_read >= self.progress_reported_at + PROGRESS_STEP_BYTES {
            self.progress_reported_at = self.report.bytes_read;
            progress(CompactionProgress {
                bytes_done: self.report.bytes_read,
                bytes_total: self.bytes_total,
            });
        }
    }

    fn has_expired(&self, record: &RecordRef<'_>) -> bool {
        matches!(
            (record.expires_at_ms, self.job.expired_at_ms),
            (Some(at), Some(now)) if at <= now
        )
    }

    /// Drops a live put whose expiry time has come, as a tombstone of its
    /// version (so an older put of its key outside the pass stays
    /// hidden), and has its index entry removed.
    fn drop_expired(
        &mut self,
        location: Location,
        record: RecordRef<'_>,
        within_grace: bool,
    ) -> hightower_log::Result<()> {
        self.report.expired_dropped += 1;
        self.expired.push(ExpiredPut {
            key: record.key.to_vec(),
            version: record.version,
            location,
        });
        let tombstone = RecordRef {
            kind: hightower_log::RecordKind::Delete,
            value: &[],
            expires_at_ms: None,
            ..record
        };
        self.copy_tombstone(tombstone, within_grace)
    }

    /// Copies a put that the index pointed at, with its expiry time if it
    /// has one; drops any other.
    fn copy_put(
        &mut self,
        location: Location,
        record: RecordRef<'_>,
        live: &mut LiveCursor<'_>,
    ) -> hightower_log::Result<()> {
        if !live.contains(location) {
            self.report.records_dropped += 1;
            return Ok(());
        }
        let mutation = Mutation::put(record.key, record.value, record.expires_at_ms);
        let to = self.writer.append(record.version, &mutation)?;
        self.relocations.push(record.key, location, to);
        self.report.records_kept += 1;
        Ok(())
    }

    /// Copies a tombstone that is within its grace or still hides an
    /// older put outside the pass; drops any other.
    fn copy_tombstone(
        &mut self,
        record: RecordRef<'_>,
        within_grace: bool,
    ) -> hightower_log::Result<()> {
        let keep = if within_grace {
            Some(Keep::Grace)
        } else {
            self.guard
                .older_put_outside(record.key, record.version)?
                .map(Keep::Guard)
        };
        let Some(keep) = keep else {
            self.report.records_dropped += 1;
            self.report.tombstones_dropped += 1;
            return Ok(());
        };
        let to = self
            .writer
            .append(record.version, &Mutation::Delete { key: record.key })?;
        let retained = self.retained.entry(to.segment_id).or_default();
        retained.bytes += u64::from(to.len);
        match keep {
            Keep::Guard(segment_id) => {
                retained.guard_ids.insert(segment_id);
            }
            Keep::Grace => retained.grace_until = retained.grace_until.max(self.grace_until),
        }
        self.report.records_kept += 1;
        self.report.tombstones_kept += 1;
        Ok(())
    }
}

/// The error a scan callback returns to stop at a cancellation; it never
/// leaves the pass, which reports [`CompactError::Cancelled`] instead.
fn cancelled_marker(path: &Path) -> LogError {
    LogError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::Interrupted, "compaction cancelled"),
    }
}

/// Looks for older puts of a key in the segments outside the pass.
struct TombstoneGuard<'a> {
    others: &'a [Arc<LogSegment>],
    /// Lowest put version of each unsealed segment, found by one scan on
    /// first need.
    unsealed_min_put_version: HashMap<u32, u64>,
}

impl TombstoneGuard<'_> {
    /// A segment outside the pass that may hold a put of `key` older than
    /// `version`, if there is one.
    ///
    /// A sealed segment answers from its footer (its newest record of the
    /// key, which is all a restart reads of it). An unsealed one (the
    /// active segment) counts when any put in it is older: normally none is,
    /// because the active segment only holds writes newer than every
    /// sealed segment.
    fn older_put_outside(
        &mut self,
        key: &[u8],
        version: u64,
    ) -> hightower_log::Result<Option<u32>> {
        for segment in self.others {
            let older = match segment.footer() {
                Some(footer) if footer.min_version >= version => false,
                Some(_) => segment
                    .locate(key)?
                    .is_some_and(|found| !found.tombstone && found.version < version),
                None => min_put_version(&mut self.unsealed_min_put_version, segment)? < version,
            };
            if older {
                return Ok(Some(segment.id()));
            }
        }
        Ok(None)
    }
}

fn min_put_version(
    cache: &mut HashMap<u32, u64>,
    segment: &LogSegment,
) -> hightower_log::Result<u64> {
    if let Some(min) = cache.get(&segment.id()) {
        return Ok(*min);
    }
    let mut min = u64::MAX;
    segment.scan(|_, record| {
        if record.is_put() {
            min = min.min(record.version);
        }
        Ok(())
    })?;
    cache.insert(segment.id(), min);
    Ok(min)
}

/// Appends kept records to output segments, starting a new one before the
/// current one would pass the size limit.
struct OutputWriter<'c> {
    create: &'c mut dyn FnMut() -> hightower_log::Result<LogSegment>,
    current: Option<LogSegment>,
    sealed: Vec<LogSegment>,
    segment_bytes_max: u64,
}

impl OutputWriter<'_> {
    fn append(&mut self, version: u64, mutation: &Mutation<'_>) -> hightower_log::Result<Location> {
        let frame_len = mutation.encoded_len() as u64;
        if let Some(current) = &self.current {
            let used = current.data_len_bytes();
            if used + frame_len > self.segment_bytes_max && used > SEGMENT_HEADER_BYTES as u64 {
                self.seal_current()?;
            }
        }
        let segment = match &mut self.current {
            Some(segment) => segment,
            None => self.current.insert((self.create)()?),
        };
        segment.append(version, mutation)
    }

    fn seal_current(&mut self) -> hightower_log::Result<()> {
        if let Some(segment) = self.current.take() {
            segment.seal()?;
            self.sealed.push(segment);
        }
        Ok(())
    }

    /// Seals the last output; every output is then sealed and synced.
    fn finish(mut self) -> hightower_log::Result<Vec<LogSegment>> {
        self.seal_current()?;
        Ok(self.sealed)
    }
}
