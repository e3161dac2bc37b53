//! Overwriting every key several times leaves most of the log dead; one
//! full compaction pass brings the data bytes down to within 1.2x of the
//! live records (and the files to within 1.2x of a store that wrote the
//! same contents once), while every key keeps its value and its version,
//! also after a reopen.

mod common;
mod compaction_common;

use std::path::Path;

use anyhow::ensure;
use common::dump;
use compaction_common::{data_and_live_bytes, manual_config, segment_file_bytes};
use hightower_engine::{SingleNodeEngine, SnapshotEngine};

const KEYS: u32 = 2000;
const ROUNDS: u32 = 5;
const SEGMENT_BYTES: u64 = 64 * 1024;

fn open(dir: &Path) -> anyhow::Result<SingleNodeEngine> {
    Ok(SingleNodeEngine::with_config(
        manual_config(dir).segment_bytes_max(SEGMENT_BYTES),
    )?)
}

fn key(i: u32) -> Vec<u8> {
    format!("key-{i:05}").into_bytes()
}

fn value(i: u32, round: u32) -> Vec<u8> {
    let mut value = format!("{round}-{i}-").into_bytes();
    value.resize(100, b'v');
    value
}

#[test]
fn full_pass_reclaims_overwritten_space_and_keeps_contents() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let engine = open(dir.path())?;
    for round in 0..ROUNDS {
        for i in 0..KEYS {
            engine.put(&key(i), &value(i, round))?;
        }
    }
    let before = dump(&engine)?;
    let latest = engine.latest_version();
    let files_before = segment_file_bytes(dir.path())?;

    let report = engine.run_compaction_now()?;
    let (data_bytes, live_bytes) = data_and_live_bytes(&engine);
    let files_after = segment_file_bytes(dir.path())?;
    eprintln!(
        "{report:?}\nfiles {files_before} -> {files_after} bytes; data {data_bytes}, live {live_bytes}"
    );
    ensure!(report.segments_in > 1 && report.bytes_reclaimed > 0);
    ensure!(
        data_bytes * 10 <= live_bytes * 12,
        "data bytes {data_bytes} exceed 1.2x the live bytes {live_bytes}"
    );
    ensure!(dump(&engine)? == before, "compaction changed the contents");
    ensure!(engine.latest_version() == latest);

    drop(engine);
    let engine = open(dir.path())?;
    ensure!(dump(&engine)? == before, "the reopened store differs");
    ensure!(engine.latest_version() >= latest);
    let version = engine.put(b"after", b"reopen")?;
    ensure!(
        version > latest,
        "version {version} reused after compaction"
    );

    let fresh_dir = tempfile::tempdir()?;
    let fresh = open(fresh_dir.path())?;
    for (key, (value, _)) in &before {
        fresh.put(key, value)?;
    }
    hightower_engine::testing::finish_seals(&fresh)?;
    let fresh_bytes = segment_file_bytes(fresh_dir.path())?;
    ensure!(
        files_after * 10 <= fresh_bytes * 12,
        "{files_after} bytes after compaction, {fresh_bytes} for the same contents written once"
    );
    Ok(())
}
