//! Helpers shared by the compactor's tests: segments in a temporary
//! directory, and an index over the puts a test declares live.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::sync::Arc;

use hightower_compact::{
    CompactionJob, CompactionOptions, CompactionOutput, Compactor, LiveRecords,
};
use hightower_index::{Entry, Index};
use hightower_log::{Location, LogSegment, Mutation, SegmentOptions, vfs::StdVfs};

/// A directory of segments with ids handed out in order.
pub(crate) struct Dir {
    pub(crate) dir: tempfile::TempDir,
    next_id: u32,
}

impl Dir {
    pub(crate) fn new() -> anyhow::Result<Self> {
        Ok(Dir {
            dir: tempfile::tempdir()?,
            next_id: 1,
        })
    }

    /// A new empty segment.
    pub(crate) fn create(&mut self) -> hightower_log::Result<LogSegment> {
        let id = self.next_id;
        self.next_id += 1;
        let path = self.dir.path().join(format!("{id:010}.log"));
        LogSegment::create(&StdVfs::default(), &path, id, SegmentOptions::default())
    }
}

/// Appends a put and returns its location.
pub(crate) fn put(segment: &LogSegment, version: u64, key: &[u8], value: &[u8]) -> Location {
    segment
        .append(version, &Mutation::Put { key, value })
        .expect("append to a fresh segment")
}

/// Appends a tombstone.
pub(crate) fn delete(segment: &LogSegment, version: u64, key: &[u8]) {
    segment
        .append(version, &Mutation::Delete { key })
        .expect("append to a fresh segment");
}

/// Marks a put live in the index.
pub(crate) fn live(index: &Index, key: &[u8], version: u64, location: Location) {
    index.insert(
        key,
        Entry {
            version,
            location,
            expiring: false,
        },
    );
}

/// Runs one pass of `compactor` over `inputs`, with `others` outside it.
pub(crate) fn compact(
    compactor: &Compactor,
    dir: &mut Dir,
    inputs: &[Arc<LogSegment>],
    others: &[Arc<LogSegment>],
    index: &Index,
    segment_bytes_max: u64,
    options: &CompactionOptions,
) -> hightower_compact::Result<CompactionOutput> {
    let pass = compactor.begin_pass()?;
    let live = LiveRecords::from_index(&index.snapshot());
    let job = CompactionJob {
        inputs,
        others,
        live: &live,
        segment_bytes_max,
        vfs: &hightower_log::vfs::StdVfs::default(),
        expired_at_ms: None,
    };
    compactor.compact(&pass, &job, &mut || dir.create(), options)
}
