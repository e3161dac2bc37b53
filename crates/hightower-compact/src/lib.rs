//! Compaction for Hightower KV: rewrites the live records of sealed log
//! segments into new segments and leaves the dead ones behind.
//!
//! The main type is [`Compactor`]. [`LiveRecords`] walks an index snapshot
//! once and records which record of which segment is live;
//! [`Compactor::plan`] picks input segments from their usage (live bytes
//! per segment) under a [`CompactionConfig`]; [`Compactor::compact`] reads
//! them and copies a put only when the snapshot points at exactly that
//! record, and a tombstone only when it is
//! within its grace or a segment outside the pass may still hold an older
//! put of its key (otherwise a restart, which keeps the highest version of
//! each key among the records left, would bring that put back). Records
//! keep their versions. The result is sealed, synced output segments, the
//! index entries to move ([`Relocations`]) and a [`CompactionReport`].
//!
//! This crate never touches the store's directory layout: the caller (the
//! engine's `Storage::compact_all`) creates the outputs under temporary
//! names, commits them, moves the index entries with
//! `Index::relocate(key, from, to)` (which leaves alone any key written in
//! the meantime) and deletes the inputs. [`SuspendedCompaction`] holds
//! passes off, for example while a replication snapshot is streamed.
//!
//! ```
//! use std::sync::Arc;
//! use hightower_compact::{
//!     CompactionConfig, CompactionJob, CompactionOptions, Compactor, LiveRecords,
//! };
//! use hightower_index::{Entry, Index};
//! use hightower_log::{LogSegment, Mutation, SegmentOptions, vfs::StdVfs};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let create = |id: u32| {
//!     let path = dir.path().join(format!("{id:010}.log"));
//!     LogSegment::create(&StdVfs::default(), &path, id, SegmentOptions::default())
//! };
//! // Segment 1 puts "a" and "b"; segment 2 overwrites "a" and deletes "b".
//! let first = create(1)?;
//! first.append(1, &Mutation::Put { key: b"a", value: b"old" })?;
//! first.append(2, &Mutation::Put { key: b"b", value: b"gone" })?;
//! first.seal()?;
//! let second = create(2)?;
//! let a = second.append(3, &Mutation::Put { key: b"a", value: b"new" })?;
//! second.append(4, &Mutation::Delete { key: b"b" })?;
//! second.seal()?;
//! let index = Index::new();
//! index.insert(b"a", Entry { version: 3, location: a, expiring: false });
//!
//! let compactor = Compactor::new(CompactionConfig::default());
//! let pass = compactor.begin_pass()?;
//! let inputs = [Arc::new(first), Arc::new(second)];
//! let live = LiveRecords::from_index(&index.snapshot());
//! let job = CompactionJob {
//!     inputs: &inputs, others: &[], live: &live, segment_bytes_max: 1 << 20, vfs: &StdVfs::default(),
//!     expired_at_ms: None,
//! };
//! let out = compactor.compact(&pass, &job, &mut || create(3), &CompactionOptions::default())?;
//!
//! // Only the live put survives; the tombstone hides nothing outside the pass.
//! assert_eq!(out.report.records_kept, 1);
//! assert_eq!((out.report.records_dropped, out.report.tombstones_dropped), (3, 1));
//! let moved: Vec<_> = out.relocations.iter().map(|m| (m.key.to_vec(), m.from)).collect();
//! assert_eq!(moved, vec![(b"a".to_vec(), a)]);
//! let copy = out.relocations.iter().next().expect("one relocation").to;
//! assert_eq!(out.outputs[0].read(copy)?.value(), b"new");
//! # Ok(()) }
//! ```
//!
//! Limits: a pass walks the whole index once and holds 8 bytes per live
//! key while it runs, plus one relocation (about 32 bytes plus the key)
//! per record it copies; tombstone grace is measured against file
//! modification times, so a tombstone carried into an output starts a new
//! grace period there. One pass runs at a time per [`Compactor`].

#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod compactor;
pub mod config;
pub mod error;
pub mod policy;
pub mod report;
mod suspend;

pub use compactor::{CompactionJob, CompactionOutput, Compactor, ExpiredPut};
pub use config::{CompactionConfig, CompactionOptions, CompactionProgress, ProgressFn};
pub use error::{CompactError, Result};
pub use hightower_log::Location;
pub use policy::{CompactionPlan, LiveCursor, LiveRecords, SegmentUsage, segment_usage};
pub use report::{CompactionReport, Relocation, Relocations};
pub use suspend::{PassGuard, SuspendedCompaction};
