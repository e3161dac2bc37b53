//! Fuzz target `record_decode`: arbitrary bytes through the data-frame
//! decoder, under format-1 or format-3 checksums (the first byte chooses);
//! a frame that decodes must encode back to exactly its bytes.
#![no_main]

use hightower_log::record::{
    Frame, RECORD_HEADER_BYTES, RecordRef, decode_frame, encode_batch, encode_record,
};
use hightower_log::{Checksums, Limits, Mutation, RecordKind};

/// The mutation a decoded record holds.
fn mutation<'a>(record: &RecordRef<'a>) -> Mutation<'a> {
    match record.kind {
        RecordKind::Put | RecordKind::PutExpiring => {
            Mutation::put(record.key, record.value, record.expires_at_ms)
        }
        RecordKind::Delete => {
            assert!(record.value.is_empty(), "a decoded delete carries no value");
            Mutation::Delete { key: record.key }
        }
        other => panic!("decode_frame returned a {other:?} record inside a data frame"),
    }
}

libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    let Some((&choice, data)) = input.split_first() else {
        return;
    };
    let checksums = if choice & 1 == 0 {
        Checksums::legacy()
    } else {
        Checksums::new(0x0123_4567_89AB_CDEF)
    };
    let Ok((frame, frame_len)) = decode_frame(data, &Limits::default(), &checksums) else {
        return;
    };
    assert!(frame_len <= data.len(), "a frame lies inside its input");
    let mut encoded = Vec::with_capacity(frame_len);
    match &frame {
        Frame::Single(record) => {
            let len = encode_record(&mut encoded, record.version, &mutation(record), &checksums);
            assert_eq!(len, frame_len);
        }
        Frame::Batch(records) => {
            let (_, first) = records.first().expect("a decoded batch is not empty");
            let mutations: Vec<Mutation<'_>> = records.iter().map(|(_, r)| mutation(r)).collect();
            let spans = encode_batch(&mut encoded, first.version, &mutations, &checksums);
            for ((offset, record), (span_offset, span_len)) in records.iter().zip(&spans) {
                assert_eq!(offset, span_offset, "record offsets inside the batch agree");
                assert_eq!(
                    RECORD_HEADER_BYTES + record.key.len() + record.value.len(),
                    *span_len
                );
            }
        }
    }
    assert_eq!(
        encoded.as_slice(),
        &data[..frame_len],
        "decode then encode gives back the bytes"
    );
});
