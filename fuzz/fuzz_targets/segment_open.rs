//! Fuzz target `segment_open`: segment files written by the real encoder,
//! with adversarial values (encoded frames, footers and trailers made with
//! guessed checksum keys, segment magic, at every alignment), optionally
//! sealed, then torn at any point, then opened. Opening must never panic,
//! never take a value's bytes as structure, and give back exactly the
//! records whose frames lie whole before the tear.
#![no_main]

use std::collections::BTreeMap;
use std::path::PathBuf;

use hightower_log::footer::encode_footer;
use hightower_log::record::encode_record;
use hightower_log::vfs::StdVfs;
use hightower_log::{Checksums, Hint, Location, LogSegment, Mutation, SegmentOptions};

/// Reads the fuzzer's bytes one decision at a time; zeros once they run out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&first, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        first
    }
}

/// A value a hostile client could store: structure of every kind, under
/// keys it guessed, shifted by some padding.
fn hostile_value(input: &mut Input<'_>) -> Vec<u8> {
    let mut value = vec![input.byte(); usize::from(input.byte() % 9)];
    let guess = match input.byte() % 3 {
        0 => Checksums::legacy(),
        1 => Checksums::new(0),
        _ => Checksums::new(u64::from(input.byte())),
    };
    for _ in 0..input.byte() % 4 {
        match input.byte() % 4 {
            0 => {
                let put = Mutation::Put {
                    key: b"b:forged",
                    value: b"x",
                };
                encode_record(&mut value, u64::MAX, &put, &guess);
            }
            1 => {
                let hint = Hint {
                    key: b"b:forged",
                    tombstone: false,
                    expires_at_ms: None,
                    version: u64::MAX,
                    location: Location {
                        segment_id: 1,
                        offset: 32,
                        len: 40,
                    },
                };
                let offset = u64::from(input.byte()) * 8;
                encode_footer(&mut value, offset, &[hint], 16, 10, &guess);
            }
            2 => value.extend_from_slice(b"HTKVSEG\0HTKVEND\0"),
            _ => value.extend((0..input.byte()).map(|i| i.wrapping_mul(31))),
        }
    }
    value
}

/// The file each run writes: in memory where Linux offers it (fsyncs
/// there cost nothing), else in the temporary directory.
fn scratch_path() -> PathBuf {
    let shm = std::path::Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("hightower-fuzz-open-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("the temporary directory is writable");
    dir.join("0000000001.log")
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let path = scratch_path();
    let _ = std::fs::remove_file(&path);
    let options = SegmentOptions::default();
    let segment = LogSegment::create(&StdVfs::default(), &path, 1, options).expect("create");
    // Per record: its key, version and where its frame ends.
    let mut written: Vec<(Vec<u8>, u64, u64)> = Vec::new();
    for version in 1..=u64::from(input.byte() % 6) + 1 {
        let key = vec![b'a' + input.byte() % 4];
        let value = hostile_value(&mut input);
        let at = segment
            .append(
                version,
                &Mutation::Put {
                    key: &key,
                    value: &value,
                },
            )
            .expect("append");
        written.push((key, version, u64::from(at.offset + at.len)));
    }
    let data_len = segment.sync().expect("sync");
    let sealed = input.byte() % 2 == 0;
    if sealed {
        segment.seal().expect("seal");
    }
    drop(segment);
    let file_len = std::fs::metadata(&path).expect("metadata").len();
    let tear = u64::from(u16::from_le_bytes([input.byte(), input.byte()]));
    let cut = if tear == 0 {
        file_len
    } else {
        32 + tear % (file_len - 31)
    };
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|file| file.set_len(cut))
        .expect("tear");

    let (segment, report) = match LogSegment::open(&StdVfs::default(), &path, options) {
        Ok(opened) => opened,
        Err(error) => panic!("a torn segment must open, got: {error}"),
    };
    assert_eq!(
        report.sealed,
        sealed && cut == file_len,
        "only the real seal seals"
    );
    let kept_end = cut.min(data_len);
    let mut expected: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
    for (key, version, end) in &written {
        if *end <= kept_end {
            expected.insert(key.clone(), *version);
        }
    }
    let mut found = BTreeMap::new();
    segment
        .for_each_hint(|hint| {
            found.insert(hint.key.to_vec(), hint.version);
        })
        .expect("hints");
    assert_eq!(found, expected, "exactly the whole records before the tear");
    assert_eq!(segment.locate(b"b:forged").expect("locate"), None);
});
