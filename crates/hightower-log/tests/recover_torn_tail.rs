//! Scenario: a crash tears the last frame of an unsealed segment, or leaves
//! garbage after it. Reopening cuts exactly the torn part and reports it,
//! keeps every whole frame before it, and the segment then takes appends
//! that survive another reopen.

mod common;

use std::path::Path;

use common::{
    AppendedFrame, Entry, Op, append, append_all, assert_holds, check, no_sync_vfs, op, options,
};
use hightower_log::{LogSegment, RecoveryReport, SEGMENT_HEADER_BYTES};
use proptest::prelude::*;

/// Appends `ops` to a new segment, syncs it and returns its bytes and
/// frames.
fn write_segment(
    dir: &Path,
    ops: &[Op],
    write_buffer_bytes: usize,
) -> anyhow::Result<(Vec<u8>, Vec<AppendedFrame>)> {
    let path = dir.join("0000000001.log");
    let segment = LogSegment::create(&no_sync_vfs(dir)?, &path, 1, options(write_buffer_bytes))?;
    let frames = append_all(&segment, ops)?;
    segment.sync()?;
    drop(segment);
    Ok((std::fs::read(&path)?, frames))
}

/// Writes `bytes` as a new segment file in `dir`, opens it, and checks that
/// exactly `kept` survives, `truncated_bytes` are reported cut, and an
/// append after recovery survives another reopen.
fn recover(
    dir: &Path,
    bytes: &[u8],
    kept: &[AppendedFrame],
    truncated_bytes: u64,
) -> anyhow::Result<()> {
    // A new file each time: rewriting one file in place makes ext4 flush
    // it to disk on close, which is slow and not what is under test.
    let path = &dir.join(format!("recovered-{}.log", bytes.len()));
    std::fs::write(path, bytes)?;
    let (segment, report) = LogSegment::open(&no_sync_vfs(dir)?, path, options(0))?;
    let data_len_bytes = kept.last().map_or(SEGMENT_HEADER_BYTES as u64, |f| f.end);
    assert_eq!(
        report,
        RecoveryReport {
            sealed: false,
            data_len_bytes,
            truncated_bytes,
            // Whether the cut looks like a torn append depends on the bytes
            // cut; the engine uses it, and its own tests pin it down.
            cut_data_frame: report.cut_data_frame,
        }
    );
    assert_eq!(
        std::fs::metadata(path)?.len(),
        data_len_bytes,
        "the torn part is cut from the file"
    );
    assert_holds(&segment, kept)?;

    let next_version = kept
        .iter()
        .flat_map(|f| &f.records)
        .map(|r| r.1)
        .max()
        .unwrap_or(0)
        + 1;
    let late = Op::Single(Entry {
        key: b"after-recovery".to_vec(),
        value: Some(b"late".to_vec()),
    });
    let late = append(&segment, next_version, &late)?;
    segment.sync()?;
    drop(segment);
    let (segment, report) = LogSegment::open(&no_sync_vfs(dir)?, path, options(0))?;
    assert_eq!(report.truncated_bytes, 0);
    let mut all = kept.to_vec();
    all.push(late);
    assert_holds(&segment, &all)?;
    drop(segment);
    std::fs::remove_file(path)?;
    Ok(())
}

fn ops() -> impl Strategy<Value = (Vec<Op>, bool)> {
    (prop::collection::vec(op(), 1..12), any::<bool>())
}

#[test]
fn every_cut_inside_the_last_frame_is_recovered() -> anyhow::Result<()> {
    check(file!(), 64, ops(), |(ops, buffered)| {
        let dir = tempfile::tempdir()?;
        let (bytes, frames) = write_segment(dir.path(), &ops, if buffered { 4096 } else { 0 })?;
        let (last, kept) = frames.split_last().expect("at least one op");
        // A cut on the frame boundary leaves nothing torn.
        for cut in last.offset..last.end {
            recover(dir.path(), &bytes[..cut as usize], kept, cut - last.offset)?;
        }
        Ok(())
    })
}

fn garbage() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 1..80),
        (1..80usize).prop_map(|len| vec![0; len]),
    ]
}

#[test]
fn garbage_after_the_last_frame_is_cut() -> anyhow::Result<()> {
    check(
        file!(),
        64,
        (ops(), garbage()),
        |((ops, buffered), garbage)| {
            let dir = tempfile::tempdir()?;
            let (mut bytes, frames) =
                write_segment(dir.path(), &ops, if buffered { 4096 } else { 0 })?;
            bytes.extend_from_slice(&garbage);
            recover(dir.path(), &bytes, &frames, garbage.len() as u64)
        },
    )
}

#[test]
fn a_torn_batch_is_cut_whole() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let entries = (0..4u8)
        .map(|i| Entry {
            key: vec![b'k', i],
            value: Some(vec![i; 40]),
        })
        .collect();
    let ops = [
        Op::Single(Entry {
            key: b"first".to_vec(),
            value: None,
        }),
        Op::Batch(entries),
    ];
    let (bytes, frames) = write_segment(dir.path(), &ops, 0)?;
    let batch = &frames[1];
    // Cut just after the batch's third record: three whole records remain
    // inside the torn batch, and none of them may survive.
    let third_end = u64::from(batch.records[2].0.offset + batch.records[2].0.len);
    recover(
        dir.path(),
        &bytes[..third_end as usize],
        &frames[..1],
        third_end - batch.offset,
    )
}
