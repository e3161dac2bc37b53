//! What a pass writes: exactly the puts the index points at, with their
//! versions and values, in outputs that respect the segment size and are
//! sealed; relocations from each input record to its copy; a report that
//! adds up. A cancelled pass fails with `Cancelled`.

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, ensure};
use common::{Dir, compact, live, put};
use hightower_compact::{CompactError, CompactionConfig, CompactionOptions, Compactor};
use hightower_index::Index;

#[test]
fn live_puts_are_copied_with_versions_into_bounded_outputs() -> anyhow::Result<()> {
    let mut dir = Dir::new()?;
    let index = Index::new();
    let mut inputs = Vec::new();
    let mut version = 0;
    for _ in 0..3 {
        let segment = dir.create()?;
        for i in 0..100u32 {
            version += 1;
            let key = format!("k{:03}", i % 60);
            let at = put(&segment, version, key.as_bytes(), &[b'v'; 200]);
            live(&index, key.as_bytes(), version, at);
        }
        segment.seal()?;
        inputs.push(Arc::new(segment));
    }
    let compactor = Compactor::new(CompactionConfig::default());
    let segment_bytes_max = 4096;
    let out = compact(
        &compactor,
        &mut dir,
        &inputs,
        &[],
        &index,
        segment_bytes_max,
        &CompactionOptions::default(),
    )?;
    let report = &out.report;
    ensure!(
        report.records_kept == 60 && report.records_dropped == 240,
        "{report:?}"
    );
    ensure!(report.segments_in == 3 && report.segments_out == out.outputs.len());
    ensure!(out.relocations.len() == 60);
    for output in &out.outputs {
        ensure!(output.is_sealed(), "outputs are sealed");
        ensure!(
            output.data_len_bytes() <= segment_bytes_max,
            "an output is too large"
        );
    }
    for moved in out.relocations.iter() {
        let entry = index.get(moved.key).context("the key is live")?;
        ensure!(entry.location == moved.from);
        let output = out
            .outputs
            .iter()
            .find(|o| o.id() == moved.to.segment_id)
            .context("the copy is in an output")?;
        let copy = output.read(moved.to)?;
        ensure!(copy.key() == moved.key && copy.version() == entry.version);
        ensure!(copy.value() == [b'v'; 200].as_slice());
    }
    Ok(())
}

#[test]
fn a_cancelled_pass_fails_with_cancelled() -> anyhow::Result<()> {
    let mut dir = Dir::new()?;
    let segment = dir.create()?;
    put(&segment, 1, b"k", b"v");
    segment.seal()?;
    let compactor = Compactor::new(CompactionConfig::default());
    let options = CompactionOptions::default().cancel(Arc::new(AtomicBool::new(true)));
    let inputs = [Arc::new(segment)];
    let outcome = compact(
        &compactor,
        &mut dir,
        &inputs,
        &[],
        &Index::new(),
        4096,
        &options,
    );
    ensure!(
        matches!(outcome, Err(CompactError::Cancelled)),
        "{outcome:?}"
    );
    Ok(())
}
