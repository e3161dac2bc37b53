//! Scenario: a client stores one value crafted to end with a footer and a
//! trailer, so that an unsealed segment's last bytes look like a seal whose
//! footer names keys the client never wrote and a huge version. Reopening
//! must not take it as sealed: the footer does not verify under the
//! segment's secret, which the client cannot know. Forgeries made with the
//! old unkeyed checksum and with guessed secrets are both tried.

use hightower_log::footer::{TRAILER_BYTES, encode_footer};
use hightower_log::record::RECORD_HEADER_BYTES;
use hightower_log::vfs::StdVfs;
use hightower_log::{Checksums, Hint, Location, LogSegment, Mutation, SegmentOptions};

const VICTIM_KEY: &[u8] = b"b:victim";
const FORGED_VERSION: u64 = u64::MAX - 7;

/// A footer and trailer whose footer claims `VICTIM_KEY`, placed so that
/// it starts at `footer_offset` in the file.
fn forged_seal(footer_offset: u64, segment_id: u32, checksums: &Checksums) -> Vec<u8> {
    let hint = Hint {
        key: VICTIM_KEY,
        tombstone: false,
        expires_at_ms: None,
        version: FORGED_VERSION,
        location: Location {
            segment_id,
            offset: 32,
            len: 40,
        },
    };
    let mut bytes = Vec::new();
    encode_footer(&mut bytes, footer_offset, &[hint], 16, 10, checksums);
    bytes
}

/// Appends an honest record, then the attacker's value whose tail is a
/// forged seal; leaves the segment unsealed, as a clean shutdown does.
fn write_attack(path: &std::path::Path, checksums: &Checksums) -> anyhow::Result<()> {
    let options = SegmentOptions::default();
    let segment = LogSegment::create(&StdVfs::default(), path, 3, options)?;
    segment.append(
        1,
        &Mutation::Put {
            key: b"e:own",
            value: b"honest",
        },
    )?;
    let key = b"e:attacker";
    let prefix = vec![0x41; 100];
    let value_start = segment.data_len_bytes() + (RECORD_HEADER_BYTES + key.len()) as u64;
    let footer_offset = value_start + prefix.len() as u64;
    let mut value = prefix;
    value.extend_from_slice(&forged_seal(footer_offset, 3, checksums));
    segment.append(2, &Mutation::Put { key, value: &value })?;
    segment.sync()?;
    let file_len = std::fs::metadata(path)?.len();
    assert_eq!(
        file_len,
        footer_offset + (value.len() - 100) as u64,
        "the forged trailer is the file's last {TRAILER_BYTES} bytes"
    );
    Ok(())
}

#[test]
fn a_seal_forged_inside_a_value_is_not_taken_as_the_footer() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let guesses = [
        Checksums::legacy(),
        Checksums::new(0),
        Checksums::new(1),
        Checksums::new(u64::MAX),
    ];
    for (i, checksums) in guesses.iter().enumerate() {
        let path = dir.path().join(format!("000000000{i}.log"));
        write_attack(&path, checksums)?;
        let (segment, report) =
            LogSegment::open(&StdVfs::default(), &path, SegmentOptions::default())?;
        assert!(
            !report.sealed,
            "{checksums:?}: a value's bytes sealed the segment"
        );
        assert_eq!(report.truncated_bytes, 0, "{checksums:?}: nothing is cut");
        assert_eq!(segment.locate(VICTIM_KEY)?, None, "{checksums:?}");
        let mut keys = Vec::new();
        let mut max_version = 0;
        segment.for_each_hint(|hint| {
            keys.push(hint.key.to_vec());
            max_version = max_version.max(hint.version);
        })?;
        assert_eq!(keys, [b"e:attacker".to_vec(), b"e:own".to_vec()]);
        assert_eq!(max_version, 2, "{checksums:?}: the forged version leaked");
        // Sealing for real afterwards still works and reopens sealed.
        segment.seal()?;
        drop(segment);
        let (segment, report) =
            LogSegment::open(&StdVfs::default(), &path, SegmentOptions::default())?;
        assert!(report.sealed);
        assert_eq!(segment.footer().map(|f| f.max_version), Some(2));
        assert_eq!(segment.locate(VICTIM_KEY)?, None);
    }
    Ok(())
}
