//! Random sequences of inserts, removes, batches, relocations, installs
//! and snapshots, applied to the index and to a `BTreeMap` model: the live
//! index and every snapshot taken on the way must match the model as it
//! was at that moment, through lookups, full scans, prefixes and ranges.

mod common;

use anyhow::ensure;
use common::{Model, OwnedRange, check_snapshot, entry, location, range_strategy};
use hightower_index::{Entry, Index, IndexBuilder, IndexSnapshot};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};

#[derive(Clone, Debug)]
enum Op {
    Insert(Vec<u8>, u64),
    Remove(Vec<u8>),
    Apply(Vec<(Vec<u8>, Option<u64>)>),
    /// Relocate from the key's current location (when live).
    RelocateCurrent(Vec<u8>, u64),
    /// Relocate from a location that is most likely stale.
    RelocateStale(Vec<u8>, u64, u64),
    /// Build from observations and install.
    Install(Vec<(Vec<u8>, u64, bool)>),
    Snapshot,
}

/// Short keys over a tiny alphabet collide often; long ones spill.
fn key() -> impl Strategy<Value = Vec<u8>> + Clone {
    let byte = prop::sample::select(vec![0x00u8, 0x01, b'a', 0xfe, 0xff]);
    prop_oneof![
        4 => vec(byte.clone(), 0..4),
        1 => vec(byte, 15..19),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (key(), 0..1_000u64).prop_map(|(key, version)| Op::Insert(key, version)),
        3 => key().prop_map(Op::Remove),
        3 => vec((key(), proptest::option::of(0..1_000u64)), 0..6).prop_map(Op::Apply),
        1 => (key(), 0..1_000u64).prop_map(|(key, to)| Op::RelocateCurrent(key, to)),
        1 => (key(), 0..1_000u64, 0..1_000u64)
            .prop_map(|(key, from, to)| Op::RelocateStale(key, from, to)),
        1 => vec((key(), 0..20u64, any::<bool>()), 0..12).prop_map(Op::Install),
        2 => Just(Op::Snapshot),
    ]
}

fn apply_to_model(model: &mut Model, op: &Op) {
    match op {
        Op::Insert(key, version) => {
            model.insert(key.clone(), entry(*version));
        }
        Op::Remove(key) => {
            model.remove(key);
        }
        Op::Apply(updates) => {
            for (key, update) in updates {
                match update {
                    Some(version) => model.insert(key.clone(), entry(*version)),
                    None => model.remove(key),
                };
            }
        }
        Op::RelocateCurrent(key, to) => {
            if let Some(found) = model.get_mut(key) {
                found.location = location(*to);
            }
        }
        Op::RelocateStale(key, from, to) => {
            if let Some(found) = model
                .get_mut(key)
                .filter(|found| found.location == location(*from))
            {
                found.location = location(*to);
            }
        }
        Op::Install(observations) => {
            *model = builder_model(observations);
        }
        Op::Snapshot => {}
    }
}

/// Highest version wins, later observation on a tie, tombstones dropped.
fn builder_model(observations: &[(Vec<u8>, u64, bool)]) -> Model {
    let mut newest: std::collections::BTreeMap<Vec<u8>, (u64, bool)> = Default::default();
    for (key, version, is_put) in observations {
        let slot = newest.entry(key.clone()).or_insert((*version, *is_put));
        if *version >= slot.0 {
            *slot = (*version, *is_put);
        }
    }
    newest
        .into_iter()
        .filter(|(_, (_, is_put))| *is_put)
        .map(|(key, (version, _))| (key, entry(version)))
        .collect()
}

fn apply_to_index(index: &Index, model_before: &Model, op: &Op) -> Result<(), TestCaseError> {
    match op {
        Op::Insert(key, version) => {
            let previous = index.insert(key, entry(*version));
            prop_assert_eq!(previous, model_before.get(key).copied());
        }
        Op::Remove(key) => {
            let removed = index.remove(key);
            prop_assert_eq!(removed, model_before.get(key).copied());
        }
        Op::Apply(updates) => {
            let entries: Vec<(&[u8], Option<Entry>)> = updates
                .iter()
                .map(|(key, update)| (key.as_slice(), update.map(entry)))
                .collect();
            index.apply(entries);
        }
        Op::RelocateCurrent(key, to) => {
            let from = model_before
                .get(key)
                .map_or(location(0), |found| found.location);
            let moved = index.relocate(key, from, location(*to));
            prop_assert_eq!(moved, model_before.contains_key(key));
        }
        Op::RelocateStale(key, from, to) => {
            let expected = model_before
                .get(key)
                .is_some_and(|found| found.location == location(*from));
            prop_assert_eq!(
                index.relocate(key, location(*from), location(*to)),
                expected
            );
        }
        Op::Install(observations) => {
            let mut builder = IndexBuilder::new();
            for (key, version, is_put) in observations {
                builder.observe(key, *version, is_put.then(|| location(*version)));
            }
            index.install(builder.build());
        }
        Op::Snapshot => {}
    }
    Ok(())
}

fn probes(ops: &[Op]) -> Vec<Vec<u8>> {
    let mut probes = vec![
        Vec::new(),
        vec![0xff],
        vec![0xff, 0xff],
        vec![0x00],
        b"a".to_vec(),
    ];
    for op in ops {
        match op {
            Op::Insert(key, _) | Op::Remove(key) | Op::RelocateCurrent(key, _) => {
                probes.push(key.clone())
            }
            _ => {}
        }
    }
    probes.truncate(10);
    probes
}

fn run_case((ops, ranges): (Vec<Op>, Vec<OwnedRange>)) -> Result<(), TestCaseError> {
    let index = Index::new();
    let mut model = Model::new();
    let mut snapshots: Vec<(IndexSnapshot, Model)> = Vec::new();
    for op in &ops {
        apply_to_index(&index, &model, op)?;
        apply_to_model(&mut model, op);
        prop_assert_eq!(index.len(), model.len());
        if matches!(op, Op::Snapshot) {
            snapshots.push((index.snapshot(), model.clone()));
        }
    }
    let probes = probes(&ops);
    snapshots.push((index.snapshot(), model.clone()));
    for (snapshot, frozen) in &snapshots {
        check_snapshot(snapshot, frozen, &probes, &ranges)
            .map_err(|error| TestCaseError::fail(error.to_string()))?;
    }
    for probe in &probes {
        prop_assert_eq!(index.get(probe), model.get(probe).copied());
    }
    Ok(())
}

#[test]
fn model_operations() -> anyhow::Result<()> {
    let mut runner = TestRunner::default();
    let result = runner.run(
        &(vec(op(), 1..40), vec(range_strategy(key()), 0..6)),
        run_case,
    );
    ensure!(result.is_ok(), "{result:?}");
    Ok(())
}
