//! Scenario: a crash tears the append of a value that itself holds encoded
//! frames (made with the old unkeyed checksum and with guessed secrets, at
//! every alignment). Reopening sees a torn tail, not damage: frames are
//! recognised only on the chain from the header, and bytes a client wrote
//! never verify under the segment's secret. The records before the torn
//! one survive and the segment takes appends again.

use hightower_log::record::{RECORD_HEADER_BYTES, encode_record};
use hightower_log::vfs::StdVfs;
use hightower_log::{Checksums, LogSegment, Mutation, SegmentOptions};

/// A value made of frames as a client could encode them, shifted by
/// `shift` bytes of padding, under each guess of the checksum keys.
fn crafted_value(shift: usize) -> Vec<u8> {
    let mut value = vec![0x01; shift];
    for guess in [Checksums::legacy(), Checksums::new(0), Checksums::new(7)] {
        for version in [3, 4, u64::MAX] {
            let put = Mutation::Put {
                key: b"b:injected",
                value: b"evil",
            };
            encode_record(&mut value, version, &put, &guess);
        }
    }
    value
}

#[test]
fn a_torn_value_full_of_frames_is_a_torn_tail() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    for shift in 0..8 {
        let path = dir.path().join(format!("000000001{shift}.log"));
        let segment = LogSegment::create(&StdVfs::default(), &path, 1, SegmentOptions::default())?;
        segment.append(
            1,
            &Mutation::Put {
                key: b"a",
                value: b"kept",
            },
        )?;
        segment.append(2, &Mutation::Delete { key: b"z" })?;
        let kept_len = segment.sync()?;
        let value = crafted_value(shift);
        segment.append(
            3,
            &Mutation::Put {
                key: b"e:value",
                value: &value,
            },
        )?;
        let full_len = segment.sync()?;
        drop(segment);
        // Tear the last append at several points: inside its header, just
        // after it, inside the embedded frames, one byte short of the end.
        let header_end = kept_len + RECORD_HEADER_BYTES as u64;
        for cut in [
            kept_len + 5,
            header_end,
            header_end + 40,
            full_len - 30,
            full_len - 1,
        ] {
            let torn = dir.path().join(format!("torn-{shift}-{cut}.log"));
            std::fs::copy(&path, &torn)?;
            std::fs::OpenOptions::new()
                .write(true)
                .open(&torn)?
                .set_len(cut)?;
            let (segment, report) =
                LogSegment::open(&StdVfs::default(), &torn, SegmentOptions::default())?;
            assert_eq!(
                report.data_len_bytes, kept_len,
                "shift {shift}, cut at {cut}"
            );
            assert_eq!(report.truncated_bytes, cut - kept_len);
            assert_eq!(segment.locate(b"b:injected")?, None);
            let mut keys = Vec::new();
            segment.for_each_hint(|hint| keys.push(hint.key.to_vec()))?;
            assert_eq!(keys, [b"a".to_vec(), b"z".to_vec()]);
            segment.append(
                3,
                &Mutation::Put {
                    key: b"c",
                    value: b"after",
                },
            )?;
            segment.sync()?;
        }
    }
    Ok(())
}
