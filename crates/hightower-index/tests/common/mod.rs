//! Helpers shared by the integration tests: entries made from a version,
//! and comparisons of a snapshot against a `BTreeMap` model.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::collections::BTreeMap;
use std::ops::Bound;

use anyhow::ensure;
use hightower_index::{Entry, IndexSnapshot, Location};

/// The model of an index: key bytes to entry.
pub(crate) type Model = BTreeMap<Vec<u8>, Entry>;

/// A location derived from `seed`, distinct for distinct seeds.
pub(crate) fn location(seed: u64) -> Location {
    Location {
        segment_id: (seed % 7) as u32,
        offset: seed as u32,
        len: 32,
    }
}

/// An entry with `version` and a location derived from it.
pub(crate) fn entry(version: u64) -> Entry {
    Entry {
        version,
        location: location(version),
        expiring: false,
    }
}

/// Whether `key` lies between `start` and `end`.
pub(crate) fn in_bounds(key: &[u8], start: Bound<&[u8]>, end: Bound<&[u8]>) -> bool {
    let after_start = match start {
        Bound::Included(start) => key >= start,
        Bound::Excluded(start) => key > start,
        Bound::Unbounded => true,
    };
    let before_end = match end {
        Bound::Included(end) => key <= end,
        Bound::Excluded(end) => key < end,
        Bound::Unbounded => true,
    };
    after_start && before_end
}

/// The entries of an iterator over a snapshot, with owned keys.
pub(crate) fn collect(
    iter: impl Iterator<Item = (hightower_index::Key, Entry)>,
) -> Vec<(Vec<u8>, Entry)> {
    iter.map(|(key, entry)| (key.to_vec(), entry)).collect()
}

/// The model's entries for which `keep` holds, in key order.
pub(crate) fn model_entries(model: &Model, keep: impl Fn(&[u8]) -> bool) -> Vec<(Vec<u8>, Entry)> {
    model
        .iter()
        .filter(|(key, _)| keep(key))
        .map(|(key, entry)| (key.clone(), *entry))
        .collect()
}

/// A range as the tests describe it, with owned ends.
pub(crate) type OwnedRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// Checks `snapshot` against `model`: length, full iteration, point
/// lookups and prefix scans of every probe, and a scan of every range.
pub(crate) fn check_snapshot(
    snapshot: &IndexSnapshot,
    model: &Model,
    probes: &[Vec<u8>],
    ranges: &[OwnedRange],
) -> anyhow::Result<()> {
    ensure!(
        snapshot.len() == model.len(),
        "len {} != model {}",
        snapshot.len(),
        model.len()
    );
    ensure!(
        collect(snapshot.iter()) == model_entries(model, |_| true),
        "iter differs"
    );
    for probe in probes {
        ensure!(
            snapshot.get(probe) == model.get(probe).copied(),
            "get {probe:?} differs"
        );
        let expected = model_entries(model, |key| key.starts_with(probe));
        ensure!(
            collect(snapshot.prefix(probe)) == expected,
            "prefix {probe:?} differs"
        );
    }
    for (start, end) in ranges {
        let (start, end) = (borrowed(start), borrowed(end));
        let expected = model_entries(model, |key| in_bounds(key, start, end));
        ensure!(
            collect(snapshot.range(start, end)) == expected,
            "range {start:?}..{end:?} differs"
        );
    }
    Ok(())
}

fn borrowed(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    bound.as_ref().map(Vec::as_slice)
}

/// Every range between two of `ends` under every combination of
/// included, excluded and unbounded ends.
pub(crate) fn all_ranges(ends: &[&[u8]]) -> Vec<OwnedRange> {
    let bounds = |end: &[u8]| {
        [
            Bound::Included(end.to_vec()),
            Bound::Excluded(end.to_vec()),
            Bound::Unbounded,
        ]
    };
    let mut ranges = Vec::new();
    for start in ends {
        for end in ends {
            for start in bounds(start) {
                for end in bounds(end) {
                    ranges.push((start.clone(), end));
                }
            }
        }
    }
    ranges
}

/// Ranges with ends drawn from `key`, for property tests.
pub(crate) fn range_strategy(
    key: impl proptest::strategy::Strategy<Value = Vec<u8>> + Clone,
) -> impl proptest::strategy::Strategy<Value = OwnedRange> {
    use proptest::prelude::*;
    let bound = prop_oneof![
        2 => key.clone().prop_map(Bound::Included),
        2 => key.prop_map(Bound::Excluded),
        1 => Just(Bound::Unbounded),
    ];
    (bound.clone(), bound)
}
