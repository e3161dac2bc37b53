//! Unit tests of `LogSegment`: appends, reads, seals, reopen, limits.

use super::*;
use crate::record::{Mutation, RECORD_HEADER_BYTES, RecordKind};
use crate::vfs::StdVfs;

/// Small sparse blocks so that a few keys already span several.
fn options(write_buffer_bytes: usize) -> SegmentOptions {
    SegmentOptions {
        write_buffer_bytes,
        sparse_index_interval: 2,
        ..SegmentOptions::default()
    }
}

fn create(dir: &tempfile::TempDir, options: SegmentOptions) -> LogSegment {
    LogSegment::create(
        &StdVfs::default(),
        &dir.path().join("0000000007.log"),
        7,
        options,
    )
    .unwrap()
}

fn reopen(segment: LogSegment) -> (LogSegment, RecoveryReport) {
    let path = segment.path().to_path_buf();
    let options = segment.options;
    drop(segment);
    LogSegment::open(&StdVfs::default(), &path, options).unwrap()
}

fn put<'a>(key: &'a [u8], value: &'a [u8]) -> Mutation<'a> {
    Mutation::Put { key, value }
}

fn hints(segment: &LogSegment) -> Vec<(Vec<u8>, bool, u64, Location)> {
    let mut out = Vec::new();
    segment
        .for_each_hint(|h| out.push((h.key.to_vec(), h.tombstone, h.version, h.location)))
        .unwrap();
    out
}

fn file_len(segment: &LogSegment) -> u64 {
    std::fs::metadata(segment.path()).unwrap().len()
}

#[test]
fn expiry_times_survive_seal_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let segment = create(&dir, options(1 << 16));
    let expiring = |key, expires_at_ms| Mutation::PutExpiring {
        key,
        value: b"v",
        expires_at_ms,
    };
    segment.append(1, &expiring(b"a", 1_000)).unwrap();
    segment.append(2, &put(b"b", b"plain")).unwrap();
    segment
        .append_batch(3, &[expiring(b"c", 3_000), expiring(b"a", 4_000)])
        .unwrap();
    segment.flush().unwrap();
    let expiries = |segment: &LogSegment| {
        let mut out = Vec::new();
        segment
            .for_each_hint(|h| out.push((h.key.to_vec(), h.expires_at_ms)))
            .unwrap();
        out
    };
    let expected = vec![
        (b"a".to_vec(), Some(4_000)),
        (b"b".to_vec(), None),
        (b"c".to_vec(), Some(3_000)),
    ];
    assert_eq!(expiries(&segment), expected, "unsealed: from the records");
    let (segment, report) = reopen(segment);
    assert!(!report.sealed);
    assert_eq!(expiries(&segment), expected, "recovered from the chain");
    segment.seal().unwrap();
    let (segment, report) = reopen(segment);
    assert!(report.sealed);
    assert_eq!(expiries(&segment), expected, "sealed: from the footer");
    let a = segment.locate(b"a").unwrap().unwrap();
    assert_eq!((a.version, a.expires_at_ms), (4, Some(4_000)));
    let record = segment.read(a.location).unwrap();
    assert_eq!(record.value(), b"v");
    segment.verify().unwrap();
}

#[test]
fn append_then_read_round_trips_buffered_and_unbuffered() {
    for write_buffer_bytes in [SegmentOptions::default().write_buffer_bytes, 0] {
        let dir = tempfile::tempdir().unwrap();
        let segment = create(&dir, options(write_buffer_bytes));
        let value = vec![0x5A; 300];
        let a = segment.append(1, &put(b"alpha", &value)).unwrap();
        let b = segment
            .append(2, &Mutation::Delete { key: b"beta" })
            .unwrap();
        let c = segment.append(3, &put(b"gamma", b"")).unwrap();
        assert_eq!(a.offset as usize, SEGMENT_HEADER_BYTES);
        assert_eq!(b.offset, a.offset + a.len);
        assert_eq!(segment.data_len_bytes(), u64::from(c.offset + c.len));
        for _ in 0..2 {
            let record = segment.read(a).unwrap();
            assert_eq!(
                (record.kind(), record.version(), record.key()),
                (RecordKind::Put, 1, &b"alpha"[..])
            );
            assert_eq!(record.value(), value.as_slice());
            let record = segment.read(b).unwrap();
            assert_eq!(
                (record.kind(), record.version(), record.key()),
                (RecordKind::Delete, 2, &b"beta"[..])
            );
            assert!(record.value().is_empty());
            assert_eq!(segment.read(c).unwrap().into_value(), b"");
            assert_eq!(segment.sync().unwrap(), segment.data_len_bytes());
        }
        assert_eq!(segment.synced_len_bytes(), segment.data_len_bytes());
    }
}

#[test]
fn unbuffered_appends_reach_the_file_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let segment = create(&dir, options(0));
    let at = segment.append(1, &put(b"k", b"v")).unwrap();
    assert_eq!(file_len(&segment), u64::from(at.offset + at.len));
}

#[test]
fn a_record_still_in_the_write_buffer_is_readable() {
    let dir = tempfile::tempdir().unwrap();
    let segment = create(&dir, options(1 << 20));
    let first = segment.append(1, &put(b"one", b"1")).unwrap();
    let second = segment.append(2, &put(b"two", b"22")).unwrap();
    assert_eq!(
        file_len(&segment),
        SEGMENT_HEADER_BYTES as u64,
        "nothing written yet"
    );
    assert_eq!(segment.read(second).unwrap().value(), b"22");
    assert_eq!(segment.read(first).unwrap().value(), b"1");
    segment.flush().unwrap();
    assert_eq!(file_len(&segment), u64::from(second.offset + second.len));
    let third = segment.append(3, &put(b"three", b"333")).unwrap();
    // One record in the file, one in the buffer.
    assert_eq!(segment.read(second).unwrap().value(), b"22");
    assert_eq!(segment.read(third).unwrap().value(), b"333");
}

#[test]
fn batch_locations_are_readable_with_consecutive_versions() {
    for write_buffer_bytes in [1 << 20, 0] {
        let dir = tempfile::tempdir().unwrap();
        let segment = create(&dir, options(write_buffer_bytes));
        segment.append(1, &put(b"before", b"x")).unwrap();
        let mutations = [
            put(b"a", b"1"),
            Mutation::Delete { key: b"b" },
            put(b"c", b"333"),
        ];
        let locations = segment.append_batch(10, &mutations).unwrap();
        let after = segment.append(13, &put(b"after", b"y")).unwrap();
        assert_eq!(locations.len(), 3);
        assert_eq!(
            after.offset,
            locations[2].offset + locations[2].len,
            "the batch ends at its last record"
        );
        for _ in 0..2 {
            for (i, (location, mutation)) in locations.iter().zip(&mutations).enumerate() {
                let record = segment.read(*location).unwrap();
                assert_eq!(record.version(), 10 + i as u64);
                assert_eq!(record.key(), mutation.key());
            }
            segment.flush().unwrap();
        }
        let mut seen = Vec::new();
        segment
            .scan(|location, record| {
                seen.push((location, record.version));
                Ok(())
            })
            .unwrap();
        assert_eq!(seen.len(), 5);
        assert_eq!(
            &seen[1..4],
            &[(locations[0], 10), (locations[1], 11), (locations[2], 12)]
        );
    }
}

#[test]
fn empty_and_oversized_batches_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        key_bytes_max: 16,
        value_bytes_max: 64,
        batch_bytes_max: 100,
    };
    let segment = create(
        &dir,
        SegmentOptions {
            limits,
            ..options(0)
        },
    );
    let err = segment.append_batch(1, &[]).unwrap_err();
    assert!(
        matches!(
            err,
            LogError::BadBatch {
                mutations: 0,
                len: 0,
                max: 100
            }
        ),
        "{err}"
    );
    let value = [0u8; 60];
    let err = segment
        .append_batch(1, &[put(b"a", &value), put(b"b", &value)])
        .unwrap_err();
    assert!(
        matches!(
            err,
            LogError::BadBatch {
                mutations: 2,
                len: 178,
                max: 100
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("178 bytes"), "{err}");
    assert_eq!(
        segment.data_len_bytes(),
        SEGMENT_HEADER_BYTES as u64,
        "nothing appended"
    );
}

#[test]
fn a_batch_whose_versions_wrap_is_written_as_the_decoder_reads_it() {
    // The decoder takes batch versions as wrapping; the encoder must not
    // panic (overflow) where the decoder accepts.
    let dir = tempfile::tempdir().unwrap();
    let segment = create(&dir, options(0));
    let mutations = [put(b"a", b"1"), put(b"b", b"2")];
    let locations = segment.append_batch(u64::MAX, &mutations).unwrap();
    let versions = |segment: &LogSegment| -> Vec<u64> {
        locations
            .iter()
            .map(|at| segment.read(*at).unwrap().version())
            .collect()
    };
    assert_eq!(versions(&segment), [u64::MAX, 0]);
    let (segment, report) = reopen(segment);
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(versions(&segment), [u64::MAX, 0]);
}

/// Appends a history with an overwritten key, a deleted key and a batch,
/// some of it still buffered, and returns the newest location per key.
fn history(segment: &LogSegment) -> [(&'static [u8], Location); 4] {
    let a_old = segment.append(1, &put(b"a", b"old")).unwrap();
    let b_put = segment.append(2, &put(b"b", b"here")).unwrap();
    let batch = segment
        .append_batch(3, &[put(b"c", b"batched"), Mutation::Delete { key: b"b" }])
        .unwrap();
    segment.flush().unwrap();
    let a_new = segment.append(5, &put(b"a", b"new")).unwrap();
    let d = segment.append(6, &put(b"d", b"dee")).unwrap();
    assert_ne!(a_old, a_new);
    assert_ne!(b_put, batch[1]);
    [(b"a", a_new), (b"b", batch[1]), (b"c", batch[0]), (b"d", d)]
}

fn assert_locates_newest(segment: &LogSegment, newest: &[(&'static [u8], Location)]) {
    let a = segment.locate(b"a").unwrap().unwrap();
    assert_eq!(
        a,
        Located {
            tombstone: false,
            version: 5,
            location: newest[0].1,
            expires_at_ms: None,
        },
        "newest version wins"
    );
    assert_eq!(segment.read(a.location).unwrap().value(), b"new");
    let b = segment.locate(b"b").unwrap().unwrap();
    assert_eq!(
        b,
        Located {
            tombstone: true,
            version: 4,
            location: newest[1].1,
            expires_at_ms: None,
        }
    );
    let c = segment.locate(b"c").unwrap().unwrap();
    assert_eq!(
        c,
        Located {
            tombstone: false,
            version: 3,
            location: newest[2].1,
            expires_at_ms: None,
        }
    );
    assert_eq!(
        segment.locate(b"d").unwrap().map(|d| d.location),
        Some(newest[3].1)
    );
    for absent in [&b"0"[..], b"aa", b"bb", b"f", b"zzzz"] {
        assert_eq!(segment.locate(absent).unwrap(), None, "{absent:?}");
    }
}

#[test]
fn seal_then_locate_hits_misses_tombstones_and_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let segment = create(&dir, options(1 << 20));
    let newest = history(&segment);
    assert_locates_newest(&segment, &newest);
    segment.seal().unwrap();
    assert!(segment.is_sealed());
    let footer = segment.footer().unwrap();
    assert_eq!(footer.entry_count, 4);
    assert_eq!((footer.min_version, footer.max_version), (3, 6));
    assert_locates_newest(&segment, &newest);
}

#[test]
fn for_each_hint_is_sorted_and_equal_sealed_and_unsealed() {
    let dir = tempfile::tempdir().unwrap();
    let segment = create(&dir, options(1 << 20));
    let newest = history(&segment);
    // The last appends are still in the write buffer.
    let unsealed = hints(&segment);
    assert!(
        unsealed.windows(2).all(|w| w[0].0 < w[1].0),
        "sorted and unique"
    );
    let expected: Vec<_> = newest
        .iter()
        .map(|(key, location)| (key.to_vec(), *location))
        .collect();
    let got: Vec<_> = unsealed.iter().map(|h| (h.0.clone(), h.3)).collect();
    assert_eq!(got, expected);
    segment.seal().unwrap();
    assert_eq!(hints(&segment), unsealed);
    let (segment, _) = reopen(segment);
    assert_eq!(hints(&segment), unsealed);
}

#[test]
fn appends_after_seal_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let segment = create(&dir, options(1 << 20));
    segment.append(1, &put(b"k", b"v")).unwrap();
    segment.seal().unwrap();
    segment.seal().unwrap();
    let err = segment.append(2, &put(b"k", b"w")).unwrap_err();
    assert!(matches!(err, LogError::Sealed { segment_id: 7 }), "{err}");
    let err = segment.append_batch(2, &[put(b"k", b"w")]).unwrap_err();
    assert!(matches!(err, LogError::Sealed { segment_id: 7 }), "{err}");
    let (segment, _) = reopen(segment);
    assert!(matches!(
        segment.append(2, &put(b"k", b"w")),
        Err(LogError::Sealed { segment_id: 7 })
    ));
}

#[test]
fn bad_locations_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let segment = create(&dir, options(1 << 20));
    let at = segment.append(1, &put(b"k", b"value")).unwrap();
    let end = at.offset + at.len;
    let bad = [
        Location {
            segment_id: 8,
            ..at
        },
        Location { offset: 0, ..at },
        Location { offset: 4, ..at },
        Location { len: 27, ..at },
        Location { offset: end, ..at },
        Location {
            len: at.len + 1,
            ..at
        },
        Location {
            offset: u32::MAX,
            len: u32::MAX,
            ..at
        },
    ];
    let check = |segment: &LogSegment| {
        for location in bad {
            let err = segment.read(location).unwrap_err();
            assert!(
                matches!(err, LogError::BadLocation { segment_id: 7, .. }),
                "{location:?}: {err}"
            );
        }
    };
    check(&segment);
    segment.flush().unwrap();
    check(&segment);
    segment.seal().unwrap();
    check(&segment);
    let (segment, _) = reopen(segment);
    check(&segment);
    // Inside the footer of a reopened sealed segment is not a record.
    let in_footer = Location {
        offset: end,
        len: RECORD_HEADER_BYTES as u32,
        ..at
    };
    assert!(matches!(
        segment.read(in_footer),
        Err(LogError::BadLocation { .. })
    ));
    assert_eq!(segment.read(at).unwrap().value(), b"value");
}

#[test]
fn oversized_keys_and_values_are_refused_naming_size_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        key_bytes_max: 8,
        value_bytes_max: 32,
        batch_bytes_max: 1024,
    };
    let segment = create(
        &dir,
        SegmentOptions {
            limits,
            ..options(0)
        },
    );
    let err = segment.append(1, &put(b"123456789", b"")).unwrap_err();
    assert!(
        matches!(err, LogError::KeyTooLarge { len: 9, max: 8 }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "key of 9 bytes exceeds the limit of 8 bytes"
    );
    let err = segment
        .append(1, &Mutation::Delete { key: b"123456789" })
        .unwrap_err();
    assert!(
        matches!(err, LogError::KeyTooLarge { len: 9, max: 8 }),
        "{err}"
    );
    let err = segment.append(1, &put(b"k", &[7; 33])).unwrap_err();
    assert!(
        matches!(err, LogError::ValueTooLarge { len: 33, max: 32 }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "value of 33 bytes exceeds the limit of 32 bytes"
    );
    let err = segment
        .append_batch(1, &[put(b"k", b"ok"), put(b"k", &[7; 33])])
        .unwrap_err();
    assert!(
        matches!(err, LogError::ValueTooLarge { len: 33, max: 32 }),
        "{err}"
    );
    assert!(matches!(
        segment.append(1, &put(b"", b"v")),
        Err(LogError::EmptyKey)
    ));
    // Exactly at the limits is fine.
    let at = segment.append(1, &put(b"12345678", &[7; 32])).unwrap();
    assert_eq!(
        at.offset as usize, SEGMENT_HEADER_BYTES,
        "nothing was written by the refusals"
    );
}

#[test]
fn a_sealed_segment_reopens_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let segment = create(&dir, options(1 << 20));
    let newest = history(&segment);
    segment.seal().unwrap();
    let data_len = segment.data_len_bytes();
    let (segment, report) = reopen(segment);
    assert_eq!(
        report,
        RecoveryReport {
            sealed: true,
            data_len_bytes: data_len,
            truncated_bytes: 0,
            cut_data_frame: false,
        }
    );
    assert!(segment.is_sealed());
    assert_eq!(segment.id(), 7);
    assert_eq!(segment.data_len_bytes(), data_len);
    assert_eq!(segment.footer().unwrap().entry_count, 4);
    assert_locates_newest(&segment, &newest);
    assert_eq!(segment.read(newest[2].1).unwrap().value(), b"batched");
}

#[test]
fn an_unsealed_segment_reopens_and_takes_appends() {
    let dir = tempfile::tempdir().unwrap();
    let segment = create(&dir, options(1 << 20));
    let newest = history(&segment);
    let data_len = segment.sync().unwrap();
    let (segment, report) = reopen(segment);
    assert_eq!(
        report,
        RecoveryReport {
            sealed: false,
            data_len_bytes: data_len,
            truncated_bytes: 0,
            cut_data_frame: false,
        }
    );
    assert!(!segment.is_sealed());
    assert_eq!(segment.data_len_bytes(), data_len);
    assert_locates_newest(&segment, &newest);
    let e = segment.append(7, &put(b"e", b"late")).unwrap();
    assert_eq!(u64::from(e.offset), data_len);
    segment.seal().unwrap();
    let (segment, report) = reopen(segment);
    assert!(report.sealed);
    assert_eq!(segment.locate(b"e").unwrap().map(|l| l.location), Some(e));
    assert_locates_newest(&segment, &newest);
}

#[test]
fn verify_counts_records_and_footer_entries() {
    let dir = tempfile::tempdir().unwrap();
    let segment = create(&dir, options(1 << 20));
    history(&segment);
    let report = segment.verify().unwrap();
    assert_eq!(
        report,
        VerifyReport {
            records: 6,
            data_len_bytes: segment.data_len_bytes(),
            footer_entries: None
        }
    );
    segment.seal().unwrap();
    let sealed = segment.verify().unwrap();
    assert_eq!(
        sealed,
        VerifyReport {
            footer_entries: Some(4),
            ..report
        }
    );
    let (segment, _) = reopen(segment);
    assert_eq!(segment.verify().unwrap(), sealed);
}

#[test]
fn an_empty_segment_seals_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let segment = create(&dir, options(0));
    segment.seal().unwrap();
    assert_eq!(segment.locate(b"k").unwrap(), None);
    let (segment, report) = reopen(segment);
    assert!(report.sealed);
    assert_eq!(report.data_len_bytes, SEGMENT_HEADER_BYTES as u64);
    assert!(hints(&segment).is_empty());
    assert_eq!(segment.verify().unwrap().footer_entries, Some(0));
}

#[test]
fn a_file_that_is_not_a_segment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-a-segment.log");
    std::fs::write(&path, [0x11u8; 64]).unwrap();
    let err = LogSegment::open(&StdVfs::default(), &path, options(0)).unwrap_err();
    assert!(
        matches!(&err, LogError::BadMagic { path: p } if *p == path),
        "{err}"
    );
    std::fs::write(&path, b"HTKV").unwrap();
    let err = LogSegment::open(&StdVfs::default(), &path, options(0)).unwrap_err();
    assert!(matches!(err, LogError::Corrupt { offset: 0, .. }), "{err}");
}

#[test]
fn reads_of_a_growing_active_segment_agree_through_the_map_and_pread() {
    let dir = tempfile::tempdir().unwrap();
    let segment = create(&dir, options(64 * 1024));
    let value = vec![0x3C; 1000];
    let mut written = Vec::new();
    // Three rounds, each past the remap step: reads of older records
    // come from the map, of newer ones from pread or the buffer.
    for round in 0..3u64 {
        for i in 0..5_000u64 {
            let key = format!("k{round}-{i:05}");
            let version = round * 10_000 + i + 1;
            written.push((
                segment
                    .append(version, &put(key.as_bytes(), &value))
                    .unwrap(),
                key,
                version,
            ));
        }
        segment.flush().unwrap();
        for (location, key, version) in &written {
            let record = segment.read(*location).unwrap();
            assert_eq!(record.key(), key.as_bytes());
            assert_eq!(record.version(), *version);
            assert_eq!(record.value(), value.as_slice());
        }
        let mapped = segment.active_map.read().as_ref().map_or(0, |m| m.len());
        assert!(
            mapped as u64 >= ACTIVE_REMAP_STEP_BYTES,
            "round {round}: mapped {mapped}"
        );
    }
    segment.seal().unwrap();
    assert!(
        segment.active_map.read().is_none(),
        "sealing drops the active map"
    );
    let (location, key, _) = &written[0];
    assert_eq!(segment.read(*location).unwrap().key(), key.as_bytes());
}
/// A file whose first fsync fails after a pause (a writeback error) and
/// whose later ones succeed, as Linux reports such an error once.
#[derive(Debug)]
struct FailFirstSync {
    inner: Arc<dyn FileIo>,
    syncs: std::sync::atomic::AtomicU32,
}

impl FileIo for FailFirstSync {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        self.inner.read_exact_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> std::io::Result<()> {
        self.inner.write_all_at(buf, offset)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        if self.syncs.fetch_add(1, Ordering::SeqCst) == 0 {
            std::thread::sleep(std::time::Duration::from_millis(50));
            return Err(std::io::Error::from_raw_os_error(5));
        }
        self.inner.sync_data()
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.inner.set_len(len)
    }
    fn len(&self) -> std::io::Result<u64> {
        self.inner.len()
    }
}

#[test]
fn an_fsync_after_a_failed_one_never_reports_success() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0000000001.log");
    let created = LogSegment::create(&StdVfs::default(), &path, 1, options(0)).unwrap();
    let file = Arc::new(FailFirstSync {
        inner: created.file.clone(),
        syncs: std::sync::atomic::AtomicU32::new(0),
    });
    let segment = LogSegment::new(
        1,
        &path,
        file,
        options(0),
        created.checksums,
        SEGMENT_HEADER_BYTES as u64,
    );
    segment.append(1, &put(b"a", b"1")).unwrap();
    let outcomes = std::thread::scope(|scope| {
        let first = scope.spawn(|| segment.sync());
        std::thread::sleep(std::time::Duration::from_millis(10));
        segment.append(2, &put(b"b", b"2")).ok();
        let second = scope.spawn(|| segment.sync());
        [first.join().unwrap(), second.join().unwrap()]
    });
    for outcome in &outcomes {
        assert!(outcome.is_err(), "{outcomes:?}");
    }
    assert!(segment.is_poisoned());
    assert!(matches!(segment.sync(), Err(LogError::Poisoned { .. })));
}

#[test]
fn every_segment_gets_its_own_secret() {
    let dir = tempfile::tempdir().unwrap();
    let a = create(&dir, options(0));
    let b = LogSegment::create(
        &StdVfs::default(),
        &dir.path().join("0000000008.log"),
        8,
        options(0),
    )
    .unwrap();
    assert_ne!(a.checksums, b.checksums);
    assert_eq!(a.format_version(), SEGMENT_FORMAT_VERSION);
    let (a, _) = reopen(a);
    assert_eq!(a.format_version(), SEGMENT_FORMAT_VERSION);
    let debug = format!("{:?}", a.checksums);
    assert!(
        !debug.contains(&a.checksums.secret().to_string()),
        "{debug}"
    );
}

#[test]
fn unsealed_runs_append_as_records_and_batches_that_read_and_recover() {
    let dir = tempfile::tempdir().unwrap();
    let segment = create(&dir, options(0));
    let mut one = Vec::new();
    crate::record::encode_unsealed(&mut one, &put(b"alpha", b"one"));
    let single_at = segment.append_unsealed(1, &one).unwrap();
    assert_eq!(
        single_at, SEGMENT_HEADER_BYTES as u64,
        "one record is framed alone"
    );
    let mut run = Vec::new();
    let b = crate::record::encode_unsealed(&mut run, &put(b"beta", b"two"));
    crate::record::encode_unsealed(&mut run, &Mutation::Delete { key: b"alpha" });
    let batch_at = segment.append_unsealed(2, &run).unwrap();
    assert_eq!(
        batch_at,
        single_at + one.len() as u64 + RECORD_HEADER_BYTES as u64,
        "a run of several is one batch frame"
    );
    let beta = segment.location(batch_at, b as u64);
    let record = segment.read(beta).unwrap();
    assert_eq!(
        (record.key(), record.value(), record.version()),
        (&b"beta"[..], &b"two"[..], 2)
    );

    let (segment, report) = reopen(segment);
    assert_eq!(report.truncated_bytes, 0);
    let mut seen = Vec::new();
    segment
        .scan(|_, r| {
            seen.push((r.key.to_vec(), r.kind, r.version));
            Ok(())
        })
        .unwrap();
    assert_eq!(
        seen,
        vec![
            (b"alpha".to_vec(), RecordKind::Put, 1),
            (b"beta".to_vec(), RecordKind::Put, 2),
            (b"alpha".to_vec(), RecordKind::Delete, 3),
        ]
    );
}

#[test]
fn a_malformed_or_oversized_unsealed_run_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let limits = crate::record::Limits {
        key_bytes_max: 4,
        ..crate::record::Limits::default()
    };
    let segment = create(
        &dir,
        SegmentOptions {
            limits,
            ..options(0)
        },
    );
    let mut run = Vec::new();
    crate::record::encode_unsealed(&mut run, &put(b"k", b"v"));
    let cut = &run[..run.len() - 1];
    assert!(matches!(
        segment.append_unsealed(1, cut),
        Err(LogError::Corrupt { .. })
    ));
    assert!(matches!(
        segment.append_unsealed(1, &[]),
        Err(LogError::BadBatch { .. })
    ));
    let mut long_key = Vec::new();
    crate::record::encode_unsealed(&mut long_key, &put(b"too long", b"v"));
    assert!(matches!(
        segment.append_unsealed(1, &long_key),
        Err(LogError::KeyTooLarge { .. })
    ));
    assert_eq!(
        segment.data_len_bytes(),
        SEGMENT_HEADER_BYTES as u64,
        "nothing was appended"
    );
}

#[test]
fn a_format_2_segment_still_opens_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    let segment = create(&dir, options(0));
    let at = segment.append(1, &put(b"k", b"before expiry")).unwrap();
    segment.seal().unwrap();
    let path = segment.path().to_path_buf();
    let options = segment.options;
    drop(segment);
    // Format 2 is format 3 without expiring puts: only the version differs.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
    let check = xxhash_rust::xxh3::xxh3_64(&bytes[..24]);
    bytes[24..32].copy_from_slice(&check.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let (segment, report) = LogSegment::open(&StdVfs::default(), &path, options).unwrap();
    assert!(report.sealed);
    assert_eq!(segment.format_version(), 2);
    assert_eq!(segment.read(at).unwrap().value(), b"before expiry");
    segment.verify().unwrap();
}
