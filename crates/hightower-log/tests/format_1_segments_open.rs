//! Scenario: a store written by a build of segment format 1 (no checksum
//! secret, unkeyed checksums) is opened by this build. Its sealed segments
//! open sealed, with their footers, because the footer lies where the
//! frame chain ends; a format-1 segment whose last bytes are a value that
//! imitates a seal opens unsealed; a torn tail is cut as before.

use std::path::Path;

use hightower_log::footer::encode_footer;
use hightower_log::record::{RECORD_HEADER_BYTES, encode_record};
use hightower_log::vfs::StdVfs;
use hightower_log::{Checksums, Hint, Location, LogSegment, Mutation, SegmentOptions};
use xxhash_rust::xxh3::xxh3_64;

/// The 32-byte format-1 header of segment `id`.
fn header_v1(id: u32) -> Vec<u8> {
    let mut header = Vec::new();
    header.extend_from_slice(b"HTKVSEG\0");
    header.extend_from_slice(&1u32.to_le_bytes());
    header.extend_from_slice(&id.to_le_bytes());
    header.extend_from_slice(&0u64.to_le_bytes());
    let checksum = xxh3_64(&header);
    header.extend_from_slice(&checksum.to_le_bytes());
    header
}

/// A format-1 segment with `records` as puts at versions 1.., and the
/// hint of each.
fn segment_v1(records: &[(&'static [u8], Vec<u8>)]) -> (Vec<u8>, Vec<Hint<'static>>) {
    let mut bytes = header_v1(5);
    let mut hints = Vec::new();
    for (i, (key, value)) in records.iter().enumerate() {
        let offset = bytes.len() as u32;
        let put = Mutation::Put { key, value };
        let len = encode_record(&mut bytes, i as u64 + 1, &put, &Checksums::legacy());
        hints.push(Hint {
            key,
            tombstone: false,
            expires_at_ms: None,
            version: i as u64 + 1,
            location: Location {
                segment_id: 5,
                offset,
                len: len as u32,
            },
        });
    }
    hints.sort_by_key(|hint| hint.key);
    (bytes, hints)
}

fn open(path: &Path, bytes: &[u8]) -> anyhow::Result<(LogSegment, hightower_log::RecoveryReport)> {
    std::fs::write(path, bytes)?;
    Ok(LogSegment::open(
        &StdVfs::default(),
        path,
        SegmentOptions::default(),
    )?)
}

#[test]
fn a_sealed_format_1_segment_opens_sealed() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut bytes, hints) = segment_v1(&[(b"a", b"one".to_vec()), (b"b", b"two".to_vec())]);
    let footer_offset = bytes.len() as u64;
    encode_footer(
        &mut bytes,
        footer_offset,
        &hints,
        16,
        10,
        &Checksums::legacy(),
    );
    let (segment, report) = open(&dir.path().join("0000000005.log"), &bytes)?;
    assert!(report.sealed);
    assert_eq!(segment.format_version(), 1);
    assert_eq!(segment.footer().map(|f| f.max_version), Some(2));
    let b = segment.locate(b"b")?.expect("b is in the footer");
    assert_eq!(segment.read(b.location)?.value(), b"two");
    assert_eq!(segment.verify()?.footer_entries, Some(2));
    Ok(())
}

#[test]
fn a_format_1_seal_imitated_by_a_value_is_not_a_seal() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut bytes, _) = segment_v1(&[(b"a", b"one".to_vec())]);
    // The value's own bytes end in a footer and trailer in format 1.
    let key: &[u8] = b"e:attacker";
    let value_start = (bytes.len() + RECORD_HEADER_BYTES + key.len()) as u64;
    let forged = Hint {
        key: b"b:victim",
        tombstone: false,
        expires_at_ms: None,
        version: 1 << 60,
        location: Location {
            segment_id: 5,
            offset: 32,
            len: 32,
        },
    };
    let mut value = Vec::new();
    encode_footer(
        &mut value,
        value_start,
        &[forged],
        16,
        10,
        &Checksums::legacy(),
    );
    let put = Mutation::Put { key, value: &value };
    encode_record(&mut bytes, 2, &put, &Checksums::legacy());
    let (segment, report) = open(&dir.path().join("0000000005.log"), &bytes)?;
    assert!(!report.sealed, "a value's bytes sealed a format-1 segment");
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(segment.locate(b"b:victim")?, None);
    assert!(segment.locate(key)?.is_some());
    // The next append and seal still work on the old segment.
    segment.append(
        3,
        &Mutation::Put {
            key: b"c",
            value: b"three",
        },
    )?;
    segment.seal()?;
    Ok(())
}

#[test]
fn a_torn_format_1_tail_is_cut() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (bytes, _) = segment_v1(&[(b"a", b"one".to_vec()), (b"b", vec![7; 300])]);
    let whole_first = 32 + RECORD_HEADER_BYTES + 1 + 3;
    let (segment, report) = open(
        &dir.path().join("0000000005.log"),
        &bytes[..bytes.len() - 10],
    )?;
    assert_eq!(report.data_len_bytes, whole_first as u64);
    assert!(report.cut_data_frame);
    assert!(segment.locate(b"a")?.is_some());
    assert_eq!(segment.locate(b"b")?, None);
    Ok(())
}
