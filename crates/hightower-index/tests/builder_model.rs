//! Random observations in random order: the built snapshot holds, per key,
//! the record with the highest version (the later one on a tie), and no
//! key whose newest record is a tombstone.

mod common;

use std::collections::BTreeMap;

use anyhow::ensure;
use common::{Model, OwnedRange, all_ranges, check_snapshot, entry, location, range_strategy};
use hightower_index::IndexBuilder;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};

type Observation = (Vec<u8>, u64, bool);

fn key() -> impl Strategy<Value = Vec<u8>> + Clone {
    let byte = prop::sample::select(vec![0x00u8, b'k', 0xff]);
    prop_oneof![4 => vec(byte.clone(), 1..4), 1 => vec(byte, 17..19)]
}

fn observation() -> impl Strategy<Value = Observation> {
    // Few versions, so that ties happen.
    (key(), 0..12u64, prop::bool::weighted(0.7))
}

fn run_case(
    (observations, ranges): (Vec<Observation>, Vec<OwnedRange>),
) -> Result<(), TestCaseError> {
    let mut builder = IndexBuilder::new();
    let mut newest: BTreeMap<Vec<u8>, (u64, bool)> = BTreeMap::new();
    for (key, version, is_put) in &observations {
        builder.observe(key, *version, is_put.then(|| location(*version)));
        let slot = newest.entry(key.clone()).or_insert((*version, *is_put));
        if *version >= slot.0 {
            *slot = (*version, *is_put);
        }
    }
    let model: Model = newest
        .iter()
        .filter(|(_, (_, is_put))| *is_put)
        .map(|(key, (version, _))| (key.clone(), entry(*version)))
        .collect();
    let mut expected_tombstones: Vec<(Vec<u8>, u64)> = newest
        .iter()
        .filter(|(_, (_, is_put))| !*is_put)
        .map(|(key, (version, _))| (key.clone(), *version))
        .collect();
    let mut tombstones: Vec<(Vec<u8>, u64)> = builder
        .tombstones()
        .map(|(key, version)| (key.to_vec(), version))
        .collect();
    tombstones.sort();
    expected_tombstones.sort();
    prop_assert_eq!(tombstones, expected_tombstones);
    prop_assert_eq!(builder.len(), model.len());

    let snapshot = builder.build();
    let mut probes: Vec<Vec<u8>> = vec![Vec::new(), vec![0xff]];
    probes.extend(newest.keys().take(4).cloned());
    check_snapshot(&snapshot, &model, &probes, &ranges)
        .map_err(|error| TestCaseError::fail(error.to_string()))
}

#[test]
fn builder_model() -> anyhow::Result<()> {
    let mut runner = TestRunner::default();
    let result = runner.run(
        &(vec(observation(), 0..60), vec(range_strategy(key()), 0..4)),
        run_case,
    );
    ensure!(result.is_ok(), "{result:?}");
    Ok(())
}

#[test]
fn builder_of_many_keys_matches_model() -> anyhow::Result<()> {
    // Enough keys per shard that the two-pass build makes many leaves.
    let mut builder = IndexBuilder::new();
    let mut model = Model::new();
    for n in 0..20_000u64 {
        let key = (n * 7_919 % 20_000).to_be_bytes().to_vec();
        builder.observe(&key, n, Some(location(n)));
        model.insert(key, entry(n));
    }
    let snapshot = builder.build();
    let ends: [&[u8]; 2] = [&[0, 0, 0, 0, 0, 0, 0x20], &[0, 0, 0, 0, 0, 0, 0x30, 0x01]];
    check_snapshot(&snapshot, &model, &[ends[0].to_vec()], &all_ranges(&ends))?;
    Ok(())
}
