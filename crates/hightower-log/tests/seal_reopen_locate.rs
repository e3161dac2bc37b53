//! Scenario: random puts, deletes and batches, repeated keys included, are
//! appended and the segment is sealed and reopened. Every key's `locate`
//! answers the newest record a `BTreeMap` model holds, reading that
//! location gives the model's value, absent keys are not found, and
//! `for_each_hint` lists the model in key order.

mod common;

use common::{Model, Op, append_all, check, key, model, no_sync_vfs, op, options};
use hightower_log::{LogSegment, RecordKind};
use proptest::prelude::*;

/// The model as `for_each_hint` should list it.
fn expected_hints(model: &Model) -> Vec<(Vec<u8>, bool, u64, hightower_log::Location)> {
    model
        .iter()
        .map(|(key, (version, value, location))| {
            (key.clone(), value.is_none(), *version, *location)
        })
        .collect()
}

fn check_against_model(
    segment: &LogSegment,
    model: &Model,
    probes: &[Vec<u8>],
) -> anyhow::Result<()> {
    for (key, (version, value, location)) in model {
        let found = segment.locate(key)?.expect("a key of the model is found");
        assert_eq!(
            (found.version, found.tombstone, found.location),
            (*version, value.is_none(), *location),
            "key {key:?}"
        );
        let record = segment.read(found.location)?;
        assert_eq!(record.key(), key.as_slice());
        assert_eq!(record.version(), *version);
        match value {
            Some(value) => assert_eq!(
                (record.kind(), record.value()),
                (RecordKind::Put, value.as_slice())
            ),
            None => assert_eq!(record.kind(), RecordKind::Delete),
        }
    }
    for probe in probes.iter().filter(|probe| !model.contains_key(*probe)) {
        assert_eq!(segment.locate(probe)?, None, "absent key {probe:?}");
    }
    let mut hints = Vec::new();
    segment.for_each_hint(|h| hints.push((h.key.to_vec(), h.tombstone, h.version, h.location)))?;
    assert_eq!(hints, expected_hints(model));
    Ok(())
}

fn seal_reopen_locate(
    ops: &[Op],
    probes: &[Vec<u8>],
    sparse_index_interval: usize,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("0000000005.log");
    let options = hightower_log::SegmentOptions {
        sparse_index_interval,
        ..options(512)
    };
    let segment = LogSegment::create(&no_sync_vfs(dir.path())?, &path, 5, options)?;
    let frames = append_all(&segment, ops)?;
    let model = model(&frames);
    check_against_model(&segment, &model, probes)?;
    segment.seal()?;
    check_against_model(&segment, &model, probes)?;
    drop(segment);

    let (segment, report) = LogSegment::open(&no_sync_vfs(dir.path())?, &path, options)?;
    assert!(report.sealed);
    assert_eq!(report.truncated_bytes, 0);
    let footer = segment.footer().expect("a sealed segment has a footer");
    assert_eq!(footer.entry_count as usize, model.len());
    assert!(
        model.keys().all(|key| footer.may_contain(key)),
        "the Bloom filter has no false negatives"
    );
    check_against_model(&segment, &model, probes)?;
    assert_eq!(segment.verify()?.footer_entries, Some(model.len() as u32));
    Ok(())
}

#[test]
fn sealed_segments_locate_the_newest_record_of_every_key() -> anyhow::Result<()> {
    let probe = prop_oneof![key(), prop::collection::vec(any::<u8>(), 1..4)];
    let strategy = (
        prop::collection::vec(op(), 0..40),
        prop::collection::vec(probe, 0..12),
        1..6usize,
    );
    check(
        file!(),
        64,
        strategy,
        |(ops, probes, sparse_index_interval)| {
            seal_reopen_locate(&ops, &probes, sparse_index_interval)
        },
    )
}
