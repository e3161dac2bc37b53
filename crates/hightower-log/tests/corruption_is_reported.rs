//! Scenario: a byte of a segment file flips on disk. A flip with whole
//! frames after it is corruption, reported with the file and the offset of
//! the bad frame; only a flip in the last frame may pass for a torn tail and
//! be cut. A flip in a sealed segment's footer makes open fall back to
//! scanning the data region, which loses nothing.

mod common;

use std::path::{Path, PathBuf};

use common::{
    AppendedFrame, Entry, Op, append_all, assert_holds, check, model, no_sync_vfs, op, options,
};
use hightower_log::{DecodeError, LogError, LogSegment, RecoveryReport, SEGMENT_HEADER_BYTES};
use proptest::prelude::*;

/// Writes a segment of `ops`, sealed if asked, and returns its path, its
/// bytes and its frames.
fn write_segment(
    dir: &Path,
    ops: &[Op],
    seal: bool,
) -> anyhow::Result<(PathBuf, Vec<u8>, Vec<AppendedFrame>)> {
    let path = dir.join("0000000003.log");
    let segment = LogSegment::create(&no_sync_vfs(dir)?, &path, 3, options(4096))?;
    let frames = append_all(&segment, ops)?;
    if seal {
        segment.seal()?;
    } else {
        segment.sync()?;
    }
    drop(segment);
    let bytes = std::fs::read(&path)?;
    Ok((path, bytes, frames))
}

/// Writes `bytes` with the byte at `at` xor-ed with `mask` to a new file
/// and opens it.
fn open_flipped(
    dir: &Path,
    bytes: &[u8],
    at: usize,
    mask: u8,
) -> anyhow::Result<(PathBuf, hightower_log::Result<(LogSegment, RecoveryReport)>)> {
    let mut bytes = bytes.to_vec();
    bytes[at] ^= mask;
    let path = dir.join(format!("flipped-{at}-{mask}.log"));
    std::fs::write(&path, &bytes)?;
    let opened = LogSegment::open(&no_sync_vfs(dir)?, &path, options(0));
    Ok((path, opened))
}

fn puts(n: u8) -> Vec<Op> {
    (0..n)
        .map(|i| {
            Op::Single(Entry {
                key: vec![b'k', i],
                value: Some(vec![i; 20]),
            })
        })
        .collect()
}

#[test]
fn a_flip_before_whole_frames_names_the_file_and_the_frame() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (_, bytes, frames) = write_segment(dir.path(), &puts(5), false)?;
    let bad = &frames[2];
    let (path, opened) = open_flipped(dir.path(), &bytes, bad.end as usize - 3, 0x01)?;
    let err = opened.expect_err("a flipped value byte must not open");
    let message = err.to_string();
    let LogError::Corrupt {
        path: err_path,
        offset,
        reason,
    } = err
    else {
        panic!("expected corruption, got {message}");
    };
    assert_eq!((err_path.as_path(), offset), (path.as_path(), bad.offset));
    assert!(
        matches!(reason, DecodeError::ChecksumMismatch { .. }),
        "{reason}"
    );
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(
        message.contains(&format!("at offset {}", bad.offset)),
        "{message}"
    );
    Ok(())
}

#[test]
fn a_data_frame_whose_kind_reads_footer_is_corruption() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (_, bytes, frames) = write_segment(dir.path(), &puts(4), false)?;
    let kind_at = frames[1].offset as usize + 8;
    // Put (1) becomes footer (4): not a seal cut short, since whole frames follow.
    let (_, opened) = open_flipped(dir.path(), &bytes, kind_at, 1 ^ 4)?;
    let err = opened.expect_err("whole frames follow the bad one");
    assert!(
        matches!(err, LogError::Corrupt { offset, .. } if offset == frames[1].offset),
        "{err}"
    );
    Ok(())
}

#[test]
fn a_flip_in_the_segment_header_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (_, bytes, _) = write_segment(dir.path(), &puts(2), false)?;
    for at in 0..SEGMENT_HEADER_BYTES {
        let (_, opened) = open_flipped(dir.path(), &bytes, at, 0x20)?;
        match opened {
            Err(LogError::BadMagic { .. }) if at < 8 => {}
            Err(LogError::Corrupt {
                offset: 0,
                reason: DecodeError::ChecksumMismatch { .. },
                ..
            }) if at >= 8 => {}
            other => panic!("flip at header byte {at}: {other:?}"),
        }
    }
    Ok(())
}

/// Opens a segment with one flipped byte in its data region and checks that
/// the flip was caught.
fn check_flip(ops: &[Op], position: prop::sample::Index, mask: u8) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (_, bytes, frames) = write_segment(dir.path(), ops, false)?;
    let data_end = frames.last().expect("at least one op").end as usize;
    let at = SEGMENT_HEADER_BYTES + position.index(data_end - SEGMENT_HEADER_BYTES);
    let hit = frames
        .iter()
        .position(|f| f.offset as usize <= at && at < f.end as usize)
        .expect("a frame holds every data byte");
    let frame = &frames[hit];
    let (path, opened) = open_flipped(dir.path(), &bytes, at, mask)?;
    match opened {
        Err(LogError::Corrupt {
            path: err_path,
            offset,
            ..
        }) => {
            assert_eq!(err_path, path);
            assert_eq!(
                offset, frame.offset,
                "the error names the frame holding byte {at}"
            );
        }
        Ok((segment, report)) => {
            assert_eq!(
                hit,
                frames.len() - 1,
                "byte {at} of frame {hit} flipped and whole frames after it were cut"
            );
            let expected = RecoveryReport {
                sealed: false,
                data_len_bytes: frame.offset,
                truncated_bytes: frame.end - frame.offset,
                cut_data_frame: report.cut_data_frame,
            };
            assert_eq!(report, expected);
            assert_holds(&segment, &frames[..hit])?;
        }
        Err(other) => panic!("flip at {at}: unexpected error {other}"),
    }
    Ok(())
}

#[test]
fn a_flip_anywhere_in_the_data_region_is_detected() -> anyhow::Result<()> {
    let strategy = (
        prop::collection::vec(op(), 1..10),
        any::<prop::sample::Index>(),
        1..=255u8,
    );
    check(file!(), 256, strategy, |(ops, position, mask)| {
        check_flip(&ops, position, mask)
    })
}

fn mixed_ops() -> Vec<Op> {
    let mut ops = puts(6);
    ops.push(Op::Single(Entry {
        key: vec![b'k', 2],
        value: None,
    }));
    ops.push(Op::Batch(vec![
        Entry {
            key: b"batched".to_vec(),
            value: Some(b"value".to_vec()),
        },
        Entry {
            key: vec![b'k', 0],
            value: Some(b"newer".to_vec()),
        },
    ]));
    ops
}

#[test]
fn a_flip_in_the_footer_falls_back_to_scanning_without_loss() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (_, bytes, frames) = write_segment(dir.path(), &mixed_ops(), true)?;
    let footer_offset = frames.last().expect("ops were appended").end;
    let newest = model(&frames);
    for at in footer_offset as usize..bytes.len() {
        let (_, opened) = open_flipped(dir.path(), &bytes, at, 0x08)?;
        let (segment, report) = opened?;
        let truncated_bytes = bytes.len() as u64 - footer_offset;
        let expected = RecoveryReport {
            sealed: false,
            data_len_bytes: footer_offset,
            truncated_bytes,
            cut_data_frame: false,
        };
        assert_eq!(
            report,
            expected,
            "flip at footer byte {}",
            at as u64 - footer_offset
        );
        assert!(!segment.is_sealed());
        assert_holds(&segment, &frames)?;
        for (key, (version, value, location)) in &newest {
            let found = segment.locate(key)?.expect("every key is still found");
            assert_eq!(
                (found.version, found.tombstone, found.location),
                (*version, value.is_none(), *location)
            );
        }
        segment.verify()?;
    }
    // The fallen-back segment seals again.
    let (path, opened) = open_flipped(dir.path(), &bytes, bytes.len() - 1, 0x01)?;
    let (segment, _) = opened?;
    segment.seal()?;
    drop(segment);
    let (segment, report) = LogSegment::open(&no_sync_vfs(dir.path())?, &path, options(0))?;
    assert!(report.sealed);
    assert_holds(&segment, &frames)?;
    Ok(())
}

#[test]
fn a_flip_in_a_sealed_data_region_is_found_by_verify() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (_, bytes, frames) = write_segment(dir.path(), &mixed_ops(), true)?;
    let bad = &frames[3];
    let (path, opened) = open_flipped(dir.path(), &bytes, bad.end as usize - 1, 0x40)?;
    // Opening a sealed segment trusts its footer and reads no record.
    let (segment, report) = opened?;
    assert!(report.sealed);
    let err = segment.verify().expect_err("verify reads every record");
    assert!(
        matches!(&err, LogError::Corrupt { path: p, offset, .. } if *p == path && *offset == bad.offset),
        "{err}"
    );
    let err = segment
        .read(bad.records[0].0)
        .expect_err("the record's checksum fails");
    assert!(
        matches!(err, LogError::Corrupt { offset, .. } if offset == bad.offset),
        "{err}"
    );
    let good = frames[4].records[0].0;
    assert_eq!(segment.read(good)?.version(), 5);
    Ok(())
}
