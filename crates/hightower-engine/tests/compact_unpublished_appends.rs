//! A segment that holds an appended but not yet published record (a commit
//! between its append and its publish, or the active segment of a moment
//! ago) is not compacted: the index snapshot a pass decides by cannot show
//! that record as live, so the pass would drop it, and the publish that
//! follows would point the key into a deleted segment. Once published, the
//! record is copied like any other.

mod compaction_common;

use anyhow::{Context, ensure};
use compaction_common::{manual_config, roll};
use hightower_engine::{Command, CompactionOptions, KvEngine, SingleNodeEngine};
use hightower_log::Mutation;

#[test]
fn unpublished_appends_keep_their_segment_out_of_a_pass() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let engine = SingleNodeEngine::with_config(manual_config(dir.path()))?;
    for i in 0..20u32 {
        engine.put(format!("k{i}").as_bytes(), &[b'a'; 100])?;
        engine.put(format!("k{i}").as_bytes(), &[b'b'; 100])?;
    }
    // A commit that has appended but not published yet (the engine does
    // both under the key's lock; here the storage is driven directly).
    let storage = engine.storage();
    let mutation = Mutation::Put {
        key: b"late",
        value: b"published later",
    };
    let appended = storage.append(&[mutation], None)?;
    let segment = appended.locations[0].segment_id;
    roll(&engine, "x")?;

    let only = || CompactionOptions::default().only_segments([segment]);
    let report = engine.run_compaction(only())?;
    ensure!(
        report.is_empty(),
        "a segment with an unpublished append was compacted: {report:?}"
    );

    storage.publish(
        &[Command::put(b"late".to_vec(), b"published later".to_vec())],
        &appended,
    );
    let report = engine.run_compaction(only())?;
    ensure!(report.input_segment_ids == vec![segment], "{report:?}");
    let got = engine
        .get(b"late")?
        .context("the published record is there")?;
    ensure!(got.value == b"published later");
    drop(engine);
    let engine = SingleNodeEngine::with_config(manual_config(dir.path()))?;
    let got = engine
        .get(b"late")?
        .context("the record survived the reopen")?;
    ensure!(got.value == b"published later");
    Ok(())
}
