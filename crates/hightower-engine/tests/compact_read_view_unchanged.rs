//! A read view taken before compaction keeps reading exactly what it saw
//! (values, versions, keys deleted since, keys added since), while the
//! engine itself moves on; the view holds the segments it reads, so the
//! pass deleting their files does not disturb it.

mod common;
mod compaction_common;

use anyhow::{Context, ensure};
use common::Contents;
use compaction_common::manual_config;
use hightower_engine::{AdminEngine, KvEngine, ReadView, SingleNodeEngine};

fn view_contents(view: &ReadView) -> anyhow::Result<Contents> {
    let mut contents = Contents::new();
    for item in view.iter() {
        let kv = item?;
        contents.insert(kv.key, (kv.value, kv.version));
    }
    Ok(contents)
}

#[test]
fn read_view_survives_compaction_unchanged() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let engine = SingleNodeEngine::with_config(manual_config(dir.path()))?;
    for round in 0..3u32 {
        for i in 0..200u32 {
            engine.put(
                format!("k{i:03}").as_bytes(),
                format!("{round}-{i}").repeat(8).as_bytes(),
            )?;
        }
    }
    let view = engine.read_view()?;
    let seen = view_contents(&view)?;
    ensure!(seen.len() == 200);

    for i in (0..200u32).step_by(2) {
        engine.delete(format!("k{i:03}").as_bytes())?;
    }
    for i in (1..200u32).step_by(4) {
        engine.put(format!("k{i:03}").as_bytes(), b"newer")?;
    }
    engine.put(b"added", b"later")?;
    let report = engine.run_compaction_now()?;
    ensure!(
        report.segments_in > 0 && report.records_dropped > 0,
        "{report:?}"
    );
    let segments = engine.segments();
    let inputs_gone = report
        .input_segment_ids
        .iter()
        .all(|id| segments.iter().all(|segment| segment.id != *id));
    ensure!(inputs_gone, "the inputs left the segment map");

    ensure!(
        view_contents(&view)? == seen,
        "the view changed under compaction"
    );
    for (key, (value, version)) in &seen {
        let got = view.get(key)?.context("the view lost a key")?;
        ensure!((&got.value, got.version) == (value, *version));
    }
    ensure!(view.get(b"added")?.is_none(), "the view sees a later write");
    ensure!(engine.get(b"k000")?.is_none() && engine.get(b"added")?.is_some());
    let newer = engine.get(b"k001")?.context("k001 is live")?;
    ensure!(newer.value == b"newer");
    Ok(())
}
