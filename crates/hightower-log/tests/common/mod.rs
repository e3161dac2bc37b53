//! Shared pieces of the integration tests: random operations, a model of
//! what a segment holds, and helpers to compare the two.
//!
//! Each test file uses part of this module, so unused items are allowed.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use hightower_log::record::RECORD_HEADER_BYTES;
use hightower_log::vfs::CrashVfs;
use hightower_log::{
    Location, LogSegment, Mutation, RecordKind, SEGMENT_HEADER_BYTES, SegmentOptions,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// The file system these tests open segments with: a [`CrashVfs`] over
/// `dir`. These tests make crashes by cutting and editing files themselves,
/// so fsync's promise is not what they check; the crash model skips the
/// real fsync, which keeps hundreds of reopens per case fast.
pub(crate) fn no_sync_vfs(dir: &Path) -> anyhow::Result<CrashVfs> {
    Ok(CrashVfs::new(dir)?)
}

/// Runs `test` on `cases` values of `strategy`, shrinking a failure to a
/// minimal input. `source_file` (the caller's `file!()`) names where
/// proptest keeps regressions.
pub(crate) fn check<S: Strategy>(
    source_file: &'static str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> anyhow::Result<()>,
) -> anyhow::Result<()>
where
    S::Value: std::fmt::Debug,
{
    let config = Config {
        cases,
        source_file: Some(source_file),
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    runner
        .run(&strategy, |value| {
            test(value).map_err(|e| TestCaseError::fail(format!("{e:#}")))
        })
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Options with a write buffer of `write_buffer_bytes` and small sparse
/// blocks, so that a few keys already span several.
pub(crate) fn options(write_buffer_bytes: usize) -> SegmentOptions {
    SegmentOptions {
        write_buffer_bytes,
        sparse_index_interval: 2,
        ..SegmentOptions::default()
    }
}

/// One put (with a value) or delete (without).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The key.
    pub(crate) key: Vec<u8>,
    /// The value; `None` for a delete.
    pub(crate) value: Option<Vec<u8>>,
}

impl Entry {
    /// The entry as a mutation to append.
    pub(crate) fn mutation(&self) -> Mutation<'_> {
        match &self.value {
            Some(value) => Mutation::Put {
                key: &self.key,
                value,
            },
            None => Mutation::Delete { key: &self.key },
        }
    }
}

/// One appended frame's worth of work.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// A single put or delete.
    Single(Entry),
    /// An atomic batch.
    Batch(Vec<Entry>),
}

/// A frame as it was appended: its byte range and its records in order.
#[derive(Debug, Clone)]
pub(crate) struct AppendedFrame {
    /// Offset of the frame's first byte.
    pub(crate) offset: u64,
    /// Offset just past the frame.
    pub(crate) end: u64,
    /// Each record: location, version and what it holds.
    pub(crate) records: Vec<(Location, u64, Entry)>,
}

/// Keys from a small alphabet so that operations repeat keys often.
pub(crate) fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(b'a'..=b'd', 1..=2)
}

/// A put of a short value or a delete.
pub(crate) fn entry() -> impl Strategy<Value = Entry> {
    let value = prop::option::weighted(0.8, prop::collection::vec(any::<u8>(), 0..24));
    (key(), value).prop_map(|(key, value)| Entry { key, value })
}

/// Singles and small batches.
pub(crate) fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => entry().prop_map(Op::Single),
        1 => prop::collection::vec(entry(), 1..=4).prop_map(Op::Batch),
    ]
}

/// Appends `op` at `version` (a batch takes one version per entry) and
/// returns the frame it became.
pub(crate) fn append(segment: &LogSegment, version: u64, op: &Op) -> anyhow::Result<AppendedFrame> {
    let entries: Vec<Entry> = match op {
        Op::Single(entry) => vec![entry.clone()],
        Op::Batch(entries) => entries.clone(),
    };
    let locations = match op {
        Op::Single(entry) => vec![segment.append(version, &entry.mutation())?],
        Op::Batch(entries) => {
            let mutations: Vec<Mutation<'_>> = entries.iter().map(Entry::mutation).collect();
            segment.append_batch(version, &mutations)?
        }
    };
    let first = locations
        .first()
        .expect("an op appends at least one record");
    let last = locations.last().expect("an op appends at least one record");
    let header_bytes = if matches!(op, Op::Batch(_)) {
        RECORD_HEADER_BYTES as u64
    } else {
        0
    };
    let records = locations
        .iter()
        .zip(entries)
        .enumerate()
        .map(|(i, (location, entry))| (*location, version + i as u64, entry))
        .collect();
    Ok(AppendedFrame {
        offset: u64::from(first.offset) - header_bytes,
        end: u64::from(last.offset) + u64::from(last.len),
        records,
    })
}

/// Appends every op with rising versions starting at 1.
pub(crate) fn append_all(segment: &LogSegment, ops: &[Op]) -> anyhow::Result<Vec<AppendedFrame>> {
    let mut version = 1;
    let mut frames = Vec::with_capacity(ops.len());
    for op in ops {
        let frame = append(segment, version, op)?;
        version += frame.records.len() as u64;
        frames.push(frame);
    }
    let mut expected_offset = SEGMENT_HEADER_BYTES as u64;
    for frame in &frames {
        assert_eq!(frame.offset, expected_offset, "frames follow one another");
        expected_offset = frame.end;
    }
    Ok(frames)
}

/// Newest record per key: what `locate` and `for_each_hint` must answer.
pub(crate) type Model = BTreeMap<Vec<u8>, (u64, Option<Vec<u8>>, Location)>;

/// The model of a segment holding `frames`.
pub(crate) fn model(frames: &[AppendedFrame]) -> Model {
    let mut model = Model::new();
    for (location, version, entry) in frames.iter().flat_map(|f| &f.records) {
        model.insert(
            entry.key.clone(),
            (*version, entry.value.clone(), *location),
        );
    }
    model
}

/// Every record a scan of the segment visits, in log order.
pub(crate) fn scanned(segment: &LogSegment) -> anyhow::Result<Vec<(Location, u64, Entry)>> {
    let mut out = Vec::new();
    segment.scan(|location, record| {
        let value = (record.kind == RecordKind::Put).then(|| record.value.to_vec());
        out.push((
            location,
            record.version,
            Entry {
                key: record.key.to_vec(),
                value,
            },
        ));
        Ok(())
    })?;
    Ok(out)
}

/// Asserts that the segment holds exactly the records of `frames`, that
/// each reads back by location, and that its data region ends with them.
pub(crate) fn assert_holds(segment: &LogSegment, frames: &[AppendedFrame]) -> anyhow::Result<()> {
    let expected: Vec<_> = frames
        .iter()
        .flat_map(|f| f.records.iter().cloned())
        .collect();
    assert_eq!(scanned(segment)?, expected);
    for (location, version, entry) in &expected {
        let record = segment.read(*location)?;
        assert_eq!(record.version(), *version);
        assert_eq!(record.key(), entry.key.as_slice());
        assert_eq!(record.value(), entry.value.as_deref().unwrap_or_default());
    }
    let end = frames.last().map_or(SEGMENT_HEADER_BYTES as u64, |f| f.end);
    assert_eq!(segment.data_len_bytes(), end);
    Ok(())
}

/// Copies the first `len` bytes of `original` to `path`, replacing it.
pub(crate) fn write_prefix(original: &[u8], len: u64, path: &Path) -> anyhow::Result<()> {
    std::fs::write(path, &original[..len as usize])?;
    Ok(())
}
