//! Fuzz target `footer_decode`: arbitrary bytes through the footer decoder;
//! a footer that decodes must answer Bloom and sparse-index lookups, and
//! walk its hint blocks, without panicking.
#![no_main]

use hightower_log::footer::decode_entries;
use hightower_log::record::RECORD_HEADER_BYTES;
use hightower_log::{Checksums, Footer, Limits};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    // Format 1's unkeyed checksum is the one a fuzzer can satisfy.
    let Ok(footer) = Footer::decode(data, &limits, &Checksums::legacy()) else {
        return;
    };
    let entries_end = RECORD_HEADER_BYTES + footer.entries_len as usize;
    let entries = data
        .get(RECORD_HEADER_BYTES..entries_end)
        .expect("the hint block lies inside the footer");
    let mut probes: Vec<&[u8]> = vec![b"a", b"zzzz", &[0xFF; 16], &data[..data.len().min(12)]];
    probes.extend(footer.sparse.iter().map(|(key, _)| key.as_slice()));
    for key in probes {
        let _ = footer.may_contain(key);
        if let Some((start, end)) = footer.block_for(key) {
            assert!(
                start < end && end <= footer.entries_len,
                "a block lies inside the hint block"
            );
            let _ = decode_entries(&entries[start as usize..end as usize], 1, &limits, |_| {});
        }
    }
    for (key, offset) in &footer.sparse {
        assert_eq!(
            footer.block_for(key).map(|(start, _)| start),
            Some(*offset),
            "a sparse key starts its block"
        );
    }
    let _ = decode_entries(entries, 1, &limits, |_| {});
});
