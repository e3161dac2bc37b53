//! Scenario: the disk fails under a segment, injected through
//! [`FaultyVfs`]. A failed fsync or a short write (a full disk) returns an
//! I/O error naming the file and poisons the segment; reopening with a
//! healthy file system finds every record synced before the failure and
//! nothing torn.

mod common;

use std::path::{Path, PathBuf};

use common::{AppendedFrame, Entry, Op, append, append_all, assert_holds, options};
use hightower_log::vfs::{FaultyVfs, StdVfs};
use hightower_log::{LogError, LogSegment, Mutation, RecoveryReport, SegmentOptions};

const ENOSPC: i32 = 28;

fn puts(from: u8, to: u8) -> Vec<Op> {
    (from..to)
        .map(|i| {
            Op::Single(Entry {
                key: vec![b'k', i],
                value: Some(vec![i; 30]),
            })
        })
        .collect()
}

fn create(
    dir: &Path,
    vfs: &FaultyVfs,
    options: SegmentOptions,
) -> anyhow::Result<(PathBuf, LogSegment)> {
    let path = dir.join("0000000009.log");
    let segment = LogSegment::create(vfs, &path, 9, options)?;
    Ok((path, segment))
}

/// Asserts an I/O error on `path`, optionally with the given OS error.
fn assert_io_error(err: &LogError, path: &Path, os_error: Option<i32>) {
    let LogError::Io {
        path: err_path,
        source,
    } = err
    else {
        panic!("expected an I/O error, got {err}");
    };
    assert_eq!(err_path, path);
    if os_error.is_some() {
        assert_eq!(source.raw_os_error(), os_error, "{source}");
    }
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

fn assert_poisoned(segment: &LogSegment) {
    assert!(segment.is_poisoned());
    let refused = [
        segment
            .append(
                1000,
                &Mutation::Put {
                    key: b"late",
                    value: b"v",
                },
            )
            .err(),
        segment
            .append_batch(1000, &[Mutation::Delete { key: b"late" }])
            .err(),
        segment.flush().err(),
        segment.sync().err(),
        segment.seal().err(),
    ];
    for err in refused {
        assert!(
            matches!(err, Some(LogError::Poisoned { segment_id: 9 })),
            "{err:?}"
        );
    }
}

/// Reopens with the real file system and returns the segment and report.
fn reopen(path: &Path) -> anyhow::Result<(LogSegment, RecoveryReport)> {
    Ok(LogSegment::open(&StdVfs::default(), path, options(0))?)
}

#[test]
fn a_failed_fsync_poisons_and_synced_records_survive() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let vfs = FaultyVfs::new();
    let (path, segment) = create(dir.path(), &vfs, options(4096))?;
    let synced = append_all(&segment, &puts(0, 3))?;
    segment.sync()?;
    let unsynced = append(&segment, 4, &puts(3, 4)[0])?;
    vfs.plan().set_fail_sync(true);
    let err = segment.sync().expect_err("the fsync fails");
    assert_io_error(&err, &path, None);
    vfs.plan().heal();
    assert_poisoned(&segment);
    // What was appended is still readable from the poisoned segment.
    assert_eq!(segment.read(unsynced.records[0].0)?.version(), 4);
    drop(segment);

    let (segment, report) = reopen(&path)?;
    assert_eq!(report.truncated_bytes, 0);
    // Only the synced records are promised; the last one reached the file
    // before its fsync failed, so this file system still holds it.
    let durable = [synced.as_slice(), &[unsynced]].concat();
    assert_holds(&segment, &durable)?;
    Ok(())
}

/// Syncs three records, buffers three more, and lets only `budget_bytes`
/// of the flush reach the disk.
fn full_disk_during_flush(budget_bytes: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let vfs = FaultyVfs::new();
    let (path, segment) = create(dir.path(), &vfs, options(1 << 20))?;
    let synced = append_all(&segment, &puts(0, 3))?;
    let durable_len = segment.sync()?;
    let buffered: Vec<AppendedFrame> = puts(3, 6)
        .iter()
        .enumerate()
        .map(|(i, op)| append(&segment, 4 + i as u64, op))
        .collect::<Result<_, _>>()?;
    vfs.plan().set_write_budget_bytes(budget_bytes);
    let err = segment.flush().expect_err("the disk is full");
    assert_io_error(&err, &path, Some(ENOSPC));
    assert_poisoned(&segment);
    vfs.plan().heal();
    // The partial write was cut at once: the file ends on a whole frame.
    assert_eq!(std::fs::metadata(&path)?.len(), durable_len);
    // Appends still in the buffer stay readable until the segment closes.
    assert_eq!(segment.read(buffered[2].records[0].0)?.version(), 6);
    drop(segment);

    let (segment, report) = reopen(&path)?;
    assert_eq!(
        report,
        RecoveryReport {
            sealed: false,
            data_len_bytes: durable_len,
            truncated_bytes: 0,
            cut_data_frame: false,
        }
    );
    assert_holds(&segment, &synced)?;
    let lost = segment
        .read(buffered[0].records[0].0)
        .expect_err("never reached the disk");
    assert!(matches!(lost, LogError::BadLocation { .. }), "{lost}");
    Ok(())
}

#[test]
fn a_full_disk_during_a_flush_poisons_and_cuts_the_partial_write() -> anyhow::Result<()> {
    // Nothing fits, part of one frame fits, one and a half frames fit.
    for budget_bytes in [0, 20, 100] {
        full_disk_during_flush(budget_bytes)?;
    }
    Ok(())
}

#[test]
fn a_short_write_of_an_unbuffered_append_poisons() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let vfs = FaultyVfs::new();
    let (path, segment) = create(dir.path(), &vfs, options(0))?;
    let written = append_all(&segment, &puts(0, 2))?;
    vfs.plan().set_write_budget_bytes(10);
    let err = segment
        .append(
            3,
            &Mutation::Put {
                key: b"k",
                value: &[1; 50],
            },
        )
        .expect_err("a short write");
    assert_io_error(&err, &path, Some(ENOSPC));
    vfs.plan().heal();
    assert_poisoned(&segment);
    drop(segment);
    let (segment, report) = reopen(&path)?;
    assert_eq!(report.truncated_bytes, 0);
    assert_holds(&segment, &written)?;
    Ok(())
}

#[test]
fn a_full_disk_during_seal_leaves_an_unsealed_segment_that_loses_nothing() -> anyhow::Result<()> {
    let mut ops = puts(0, 8);
    ops.push(Op::Single(Entry {
        key: vec![b'k', 1],
        value: None,
    }));
    for budget_bytes in [0, 10, 60] {
        let dir = tempfile::tempdir()?;
        let vfs = FaultyVfs::new();
        let (path, segment) = create(dir.path(), &vfs, options(1 << 20))?;
        let frames = append_all(&segment, &ops)?;
        let data_len = segment.sync()?;
        vfs.plan().set_write_budget_bytes(budget_bytes);
        let err = segment.seal().expect_err("the footer does not fit");
        assert_io_error(&err, &path, Some(ENOSPC));
        vfs.plan().heal();
        assert!(!segment.is_sealed());
        assert_poisoned(&segment);
        drop(segment);

        // The part of the footer that was written is a seal cut short.
        let (segment, report) = reopen(&path)?;
        assert_eq!(
            report,
            RecoveryReport {
                sealed: false,
                data_len_bytes: data_len,
                truncated_bytes: budget_bytes,
                cut_data_frame: false,
            }
        );
        assert_holds(&segment, &frames)?;
        segment.seal()?;
        drop(segment);
        let (segment, report) = reopen(&path)?;
        assert!(report.sealed);
        assert_holds(&segment, &frames)?;
    }
    Ok(())
}

#[test]
fn a_failed_fsync_during_seal_poisons_but_the_written_footer_counts() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let vfs = FaultyVfs::new();
    let (path, segment) = create(dir.path(), &vfs, options(1 << 20))?;
    let frames = append_all(&segment, &puts(0, 4))?;
    vfs.plan().set_fail_sync(true);
    let err = segment.seal().expect_err("the fsync fails");
    assert_io_error(&err, &path, None);
    vfs.plan().heal();
    assert!(!segment.is_sealed());
    assert_poisoned(&segment);
    drop(segment);
    // The footer reached the file even though its fsync failed, and it
    // verifies, so the segment reopens sealed.
    let (segment, report) = reopen(&path)?;
    assert!(report.sealed);
    assert_holds(&segment, &frames)?;
    segment.verify()?;
    Ok(())
}

#[test]
fn a_full_disk_while_creating_names_the_file() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let vfs = FaultyVfs::new();
    vfs.plan().set_write_budget_bytes(10);
    let path = dir.path().join("0000000009.log");
    let err = LogSegment::create(&vfs, &path, 9, options(0)).expect_err("the header does not fit");
    assert_io_error(&err, &path, Some(ENOSPC));
    let err = reopen(&path).expect_err("a cut header is not a segment");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    Ok(())
}
