//! Random histories over many keys, written in synced batches to an
//! engine on a `CrashVfs` with small segments, so that a reopen has more
//! than 256 KiB of footers to replay and replays them on several
//! threads: after a clean close and after a power cut, the store must hold
//! exactly what a `BTreeMap` model of the history holds, with the same
//! versions and expiry times as before. A second test cuts the footer off
//! a large older segment (a seal a crash interrupted): the reopen scans it,
//! seals it in the background, and the next reopen reads its new footer.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, ensure};
use common::{Contents, dump, segment_files};
use hightower_engine::{
    AdminEngine, Durability, EngineConfig, Expect, KvEngine, SingleNodeEngine, WriteBatch,
};
use hightower_log::vfs::CrashVfs;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Keys drawn from this many; enough that the footers pass 256 KiB.
const KEY_SPACE: u32 = 40_000;

/// Segments this small roll every few thousand records.
const SEGMENT_BYTES: u64 = 256 * 1024;

/// An expiry time far beyond any test's run.
const FAR_EXPIRY_MS: u64 = 1 << 60;

/// One write: a key number and a put (value length, expiring or not) or
/// a delete.
type Write = (u32, Option<(usize, bool)>);

/// A key and its value and expiry time.
type Model = BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)>;

fn key(n: u32) -> Vec<u8> {
    format!("key-{n:08}").into_bytes()
}

fn value(n: u32, len: usize) -> Vec<u8> {
    (0..len).map(|i| (n as usize + i) as u8).collect()
}

fn open(dir: &Path) -> anyhow::Result<(SingleNodeEngine, CrashVfs)> {
    let vfs = CrashVfs::new(dir)?;
    let config = EngineConfig::new(dir)
        .segment_bytes_max(SEGMENT_BYTES)
        .durability(Durability::Sync)
        .vfs(Arc::new(vfs.clone()));
    Ok((SingleNodeEngine::with_config(config)?, vfs))
}

/// Writes `batches` and applies them to `model`.
fn write_all(
    engine: &SingleNodeEngine,
    batches: &[Vec<Write>],
    model: &mut Model,
) -> anyhow::Result<()> {
    for writes in batches {
        let mut batch = WriteBatch::new();
        for (n, write) in writes {
            let key = key(*n);
            match write {
                Some((len, expiring)) => {
                    let value = value(*n, *len);
                    let expires_at_ms = expiring.then_some(FAR_EXPIRY_MS);
                    batch.put_with(&key, &value, expires_at_ms, Expect::Any);
                    model.insert(key, (value, expires_at_ms));
                }
                None => {
                    batch.delete(&key);
                    model.remove(&key);
                }
            }
        }
        engine.write(&batch)?;
    }
    Ok(())
}

/// The engine's contents with every key's expiry time.
fn contents(engine: &SingleNodeEngine) -> anyhow::Result<(Contents, BTreeMap<Vec<u8>, u64>)> {
    let contents = dump(engine)?;
    let mut expiries = BTreeMap::new();
    for key in contents.keys() {
        let found = engine.get(key)?.context("a dumped key reads as absent")?;
        if let Some(at) = found.expires_at_ms {
            expiries.insert(key.clone(), at);
        }
    }
    Ok((contents, expiries))
}

/// The engine holds what `model` holds.
fn check_model(engine: &SingleNodeEngine, model: &Model) -> anyhow::Result<()> {
    let (contents, expiries) = contents(engine)?;
    let values: BTreeMap<Vec<u8>, Vec<u8>> = contents
        .into_iter()
        .map(|(key, (value, _))| (key, value))
        .collect();
    let expected: BTreeMap<Vec<u8>, Vec<u8>> = model
        .iter()
        .map(|(key, (value, _))| (key.clone(), value.clone()))
        .collect();
    ensure!(values == expected, "the values differ from the model");
    let expected_expiries: BTreeMap<Vec<u8>, u64> = model
        .iter()
        .filter_map(|(key, (_, at))| at.map(|at| (key.clone(), at)))
        .collect();
    ensure!(
        expiries == expected_expiries,
        "the expiry times differ from the model"
    );
    Ok(())
}

fn run_case((batches, seed): (Vec<Vec<Write>>, u64)) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut model = Model::new();
    let before = {
        let (engine, _) = open(dir.path())?;
        write_all(&engine, &batches, &mut model)?;
        check_model(&engine, &model)?;
        contents(&engine)?
    };
    // A clean close, then a reopen that replays every footer.
    let (engine, vfs) = open(dir.path())?;
    ensure!(
        engine.recovery_info().keys == model.len(),
        "{:?}",
        engine.recovery_info()
    );
    check_model(&engine, &model)?;
    ensure!(
        contents(&engine)? == before,
        "versions differ after a clean close"
    );
    // More writes, then a power cut with seals possibly in flight.
    let more: Vec<Vec<Write>> = batches.iter().rev().take(3).cloned().collect();
    write_all(&engine, &more, &mut model)?;
    let before = contents(&engine)?;
    vfs.crash(seed)?;
    drop(engine);
    let (engine, _) = open(dir.path())?;
    check_model(&engine, &model)?;
    ensure!(
        contents(&engine)? == before,
        "versions differ after a power cut"
    );
    Ok(())
}

fn batches() -> impl Strategy<Value = Vec<Vec<Write>>> {
    let write = (
        0..KEY_SPACE,
        prop::option::weighted(0.85, (1usize..40, prop::bool::weighted(0.2))),
    );
    vec(vec(write, 500..1500), 20..32)
}

#[test]
fn parallel_recovery_matches_the_model() -> anyhow::Result<()> {
    let mut runner = TestRunner::new(Config {
        cases: 6,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&(batches(), any::<u64>()), |case| {
        run_case(case).map_err(|error| TestCaseError::fail(format!("{error:#}")))
    });
    ensure!(result.is_ok(), "{result:?}");
    Ok(())
}

#[test]
fn a_large_unsealed_older_segment_is_sealed_in_the_background() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = || {
        EngineConfig::new(dir.path())
            .segment_bytes_max(6 << 20)
            .durability(Durability::None)
    };
    let value = vec![7u8; 4096];
    let before = {
        let engine = SingleNodeEngine::with_config(config())?;
        for n in 0..2_000u32 {
            engine.put(&key(n), &value)?;
        }
        engine.delete(&key(3))?;
        engine.checkpoint()?;
        dump(&engine)?
    };
    let files = segment_files(dir.path())?;
    ensure!(files.len() >= 2, "the writes did not roll a segment");
    let older = &files[0];
    let bytes = std::fs::read(older)?;
    let trailer = &bytes[bytes.len() - 16..];
    let footer_offset = u64::from_le_bytes(trailer[..8].try_into()?);
    std::fs::OpenOptions::new()
        .write(true)
        .open(older)?
        .set_len(footer_offset)?;
    {
        let engine = SingleNodeEngine::with_config(config())?;
        ensure!(
            dump(&engine)? == before,
            "contents differ with the seal in flight"
        );
        hightower_engine::testing::finish_seals(&engine)?;
        let sealed = engine.segments().iter().all(|segment| {
            segment.sealed || Some(segment.id) == engine.segments().last().map(|s| s.id)
        });
        ensure!(sealed, "the older segment was not sealed");
    }
    let engine = SingleNodeEngine::with_config(config())?;
    ensure!(dump(&engine)? == before, "contents differ after the seal");
    Ok(())
}
