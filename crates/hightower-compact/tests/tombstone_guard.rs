//! Which tombstones a pass keeps: one whose key has an older put in a
//! segment outside the pass (sealed, found through the footer; or the
//! unsealed active segment), one within its grace; and which it drops: one
//! whose older puts are all inside the pass, or outside but newer.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::ensure;
use common::{Dir, compact, delete, live, put};
use hightower_compact::{CompactionConfig, CompactionOptions, Compactor, SegmentUsage};
use hightower_index::Index;
use hightower_log::SEGMENT_HEADER_BYTES;

const SEGMENT_BYTES: u64 = 1 << 20;

#[test]
fn older_put_in_a_sealed_segment_outside_keeps_the_tombstone() -> anyhow::Result<()> {
    let mut dir = Dir::new()?;
    let old = dir.create()?;
    put(&old, 1, b"k", b"old");
    old.seal()?;
    let input = dir.create()?;
    delete(&input, 2, b"k");
    input.seal()?;
    let compactor = Compactor::new(CompactionConfig::default());
    let options = CompactionOptions::default();
    let (inputs, others) = ([Arc::new(input)], [Arc::new(old)]);
    let out = compact(
        &compactor,
        &mut dir,
        &inputs,
        &others,
        &Index::new(),
        SEGMENT_BYTES,
        &options,
    )?;
    ensure!(out.report.tombstones_kept == 1, "{:?}", out.report);
    let kept = out.outputs[0].locate(b"k")?;
    ensure!(kept.is_some_and(|found| found.tombstone && found.version == 2));

    // With the old put inside the pass, both go.
    let inputs = [others[0].clone(), inputs[0].clone()];
    let out = compact(
        &compactor,
        &mut dir,
        &inputs,
        &[],
        &Index::new(),
        SEGMENT_BYTES,
        &options,
    )?;
    ensure!(
        out.report.tombstones_dropped == 1 && out.outputs.is_empty(),
        "{:?}",
        out.report
    );
    Ok(())
}

#[test]
fn a_newer_put_outside_does_not_need_the_tombstone() -> anyhow::Result<()> {
    let mut dir = Dir::new()?;
    let input = dir.create()?;
    delete(&input, 2, b"k");
    input.seal()?;
    let newer = dir.create()?;
    let at = put(&newer, 3, b"k", b"new");
    newer.seal()?;
    let index = Index::new();
    live(&index, b"k", 3, at);
    let compactor = Compactor::new(CompactionConfig::default());
    let (inputs, others) = ([Arc::new(input)], [Arc::new(newer)]);
    let options = CompactionOptions::default();
    let out = compact(
        &compactor,
        &mut dir,
        &inputs,
        &others,
        &index,
        SEGMENT_BYTES,
        &options,
    )?;
    ensure!(out.report.tombstones_dropped == 1, "{:?}", out.report);
    Ok(())
}

#[test]
fn an_older_put_in_the_unsealed_segment_keeps_the_tombstone() -> anyhow::Result<()> {
    let mut dir = Dir::new()?;
    let input = dir.create()?;
    delete(&input, 5, b"k");
    input.seal()?;
    // An unsealed segment holding an older put (as after a snapshot
    // install, whose last segment stays active with old versions).
    let active = dir.create()?;
    put(&active, 2, b"k", b"old");
    let compactor = Compactor::new(CompactionConfig::default());
    let (inputs, others) = ([Arc::new(input)], [Arc::new(active)]);
    let options = CompactionOptions::default();
    let out = compact(
        &compactor,
        &mut dir,
        &inputs,
        &others,
        &Index::new(),
        SEGMENT_BYTES,
        &options,
    )?;
    ensure!(out.report.tombstones_kept == 1, "{:?}", out.report);
    Ok(())
}

#[test]
fn a_tombstone_within_its_grace_is_kept() -> anyhow::Result<()> {
    let mut dir = Dir::new()?;
    let input = dir.create()?;
    delete(&input, 2, b"k");
    input.seal()?;
    let compactor = Compactor::new(CompactionConfig {
        tombstone_grace: Duration::from_secs(3600),
        ..CompactionConfig::default()
    });
    let inputs = [Arc::new(input)];
    let now = CompactionOptions::default();
    let out = compact(
        &compactor,
        &mut dir,
        &inputs,
        &[],
        &Index::new(),
        SEGMENT_BYTES,
        &now,
    )?;
    ensure!(
        out.report.tombstones_kept == 1,
        "within the grace: {:?}",
        out.report
    );

    let later = CompactionOptions::default().now(SystemTime::now() + Duration::from_secs(7200));
    let out = compact(
        &compactor,
        &mut dir,
        &inputs,
        &[],
        &Index::new(),
        SEGMENT_BYTES,
        &later,
    )?;
    ensure!(
        out.report.tombstones_dropped == 1,
        "past the grace: {:?}",
        out.report
    );
    Ok(())
}

#[test]
fn kept_tombstones_are_not_rewritten_until_their_guard_goes() -> anyhow::Result<()> {
    let mut dir = Dir::new()?;
    let old = dir.create()?;
    put(&old, 1, b"k", b"old");
    old.seal()?;
    let input = dir.create()?;
    delete(&input, 2, b"k");
    input.seal()?;
    let compactor = Compactor::new(CompactionConfig {
        min_bytes: 0,
        ..CompactionConfig::default()
    });
    let (inputs, others) = ([Arc::new(input)], [Arc::new(old)]);
    let options = CompactionOptions::default();
    let out = compact(
        &compactor,
        &mut dir,
        &inputs,
        &others,
        &Index::new(),
        SEGMENT_BYTES,
        &options,
    )?;
    let output = &out.outputs[0];
    let usage = |with_guard: bool| {
        let mut all = vec![SegmentUsage {
            segment_id: output.id(),
            sealed: true,
            total_bytes: output.data_len_bytes() - SEGMENT_HEADER_BYTES as u64,
            live_bytes: 0,
        }];
        if with_guard {
            all.push(SegmentUsage {
                segment_id: others[0].id(),
                sealed: true,
                total_bytes: 100,
                live_bytes: 100,
            });
        }
        all
    };
    ensure!(
        compactor.plan(&usage(true), &options).is_empty(),
        "the output holds only a needed tombstone"
    );
    let plan = compactor.plan(&usage(false), &options);
    ensure!(
        plan.segment_ids == vec![output.id()],
        "the guard went: {plan:?}"
    );
    Ok(())
}
