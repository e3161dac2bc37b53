//! Bad input is refused with an error a person can act on, and refusing it
//! writes nothing and does not poison the engine: oversized keys, values
//! and batches name the size and the limit; empty keys and empty batches
//! are refused; `apply_at` takes only versions above the latest, and the
//! latest version it sets survives a reopen.

mod common;

use anyhow::{Context, bail, ensure};
use common::{Contents, dump, small_config};
use hightower_engine::{
    Command, Durability, EngineConfig, EngineError, KvEngine, SingleNodeEngine, SnapshotEngine,
};
use hightower_log::{Limits, LogError};

const LIMITS: Limits = Limits {
    key_bytes_max: 32,
    value_bytes_max: 1024,
    batch_bytes_max: 4096,
};

fn config(dir: &std::path::Path, worker_threads: usize) -> EngineConfig {
    let mut config = small_config(dir, Durability::None, worker_threads);
    config.limits = LIMITS;
    config
}

/// The error of a write that must fail, with the contents unchanged.
fn refused(engine: &SingleNodeEngine, commands: Vec<Command>) -> anyhow::Result<EngineError> {
    let before = dump(engine)?;
    let latest = engine.latest_version();
    let error = match engine.submit_batch(commands) {
        Ok(committed) => bail!("a bad write was committed: {committed:?}"),
        Err(error) => error,
    };
    ensure!(
        dump(engine)? == before,
        "a refused write changed the contents ({error})"
    );
    ensure!(
        engine.latest_version() == latest,
        "a refused write used up a version ({error})"
    );
    ensure!(
        engine.poison_reason().is_none(),
        "a refused write poisoned the engine ({error})"
    );
    Ok(error)
}

/// The error's message names both numbers.
fn names(error: &EngineError, size: usize, limit: usize) -> anyhow::Result<()> {
    let message = error.to_string();
    ensure!(
        message.contains(&size.to_string()) && message.contains(&limit.to_string()),
        "{message:?} does not name the size {size} and the limit {limit}"
    );
    Ok(())
}

fn check_size_limits(engine: &SingleNodeEngine) -> anyhow::Result<()> {
    let key_max = vec![b'k'; LIMITS.key_bytes_max];
    let value_max = vec![b'v'; LIMITS.value_bytes_max];
    engine
        .put(&key_max, &value_max)
        .context("a key and a value at the limits")?;

    let long_key = vec![b'k'; LIMITS.key_bytes_max + 1];
    let error = refused(engine, vec![Command::put(long_key, b"v".to_vec())])?;
    ensure!(
        matches!(
            error,
            EngineError::Log(LogError::KeyTooLarge { len: 33, max: 32 })
        ),
        "{error}"
    );
    names(&error, 33, 32)?;

    let long_value = vec![b'v'; LIMITS.value_bytes_max + 1];
    let error = refused(engine, vec![Command::put(b"k".to_vec(), long_value)])?;
    ensure!(
        matches!(
            error,
            EngineError::Log(LogError::ValueTooLarge {
                len: 1025,
                max: 1024
            })
        ),
        "{error}"
    );
    names(&error, 1025, 1024)?;

    // One bad command refuses the whole batch.
    let long_key = vec![b'k'; 40];
    let batch = vec![
        Command::put(b"good".to_vec(), b"v".to_vec()),
        Command::delete(long_key),
    ];
    let error = refused(engine, batch)?;
    names(&error, 40, 32)?;

    let big_batch: Vec<Command> = (0..5)
        .map(|i| Command::put(format!("big-{i}"), vec![b'v'; 1000]))
        .collect();
    let error = refused(engine, big_batch)?;
    ensure!(
        matches!(error, EngineError::Log(LogError::BadBatch { .. })),
        "{error}"
    );
    ensure!(
        error.to_string().contains("4096"),
        "the batch error does not name the limit: {error}"
    );
    Ok(())
}

fn check_empty_input(engine: &SingleNodeEngine) -> anyhow::Result<()> {
    let error = refused(engine, vec![Command::put(Vec::new(), b"v".to_vec())])?;
    ensure!(
        matches!(error, EngineError::Log(LogError::EmptyKey)),
        "an empty key gave {error}"
    );
    let error = refused(
        engine,
        vec![
            Command::put(b"k".to_vec(), b"v".to_vec()),
            Command::delete(Vec::new()),
        ],
    )?;
    ensure!(
        matches!(error, EngineError::Log(LogError::EmptyKey)),
        "an empty key in a batch gave {error}"
    );
    ensure!(
        engine.delete(b"").is_err(),
        "a delete of the empty key was accepted"
    );
    let error = refused(engine, Vec::new())?;
    ensure!(
        matches!(error, EngineError::EmptyBatch),
        "an empty batch gave {error}"
    );
    // An empty value is fine.
    let version = engine.put(b"empty-value", b"")?;
    ensure!(
        engine.get(b"empty-value")?.map(|v| (v.value, v.version)) == Some((Vec::new(), version))
    );
    Ok(())
}

/// `apply_at`: refused at or below the latest version, accepted above it.
/// Returns the latest version it left.
fn check_apply_at(engine: &SingleNodeEngine) -> anyhow::Result<u64> {
    let latest = engine.latest_version();
    for requested in [0, 1, latest] {
        match engine.apply_at(
            requested,
            vec![Command::put(b"replicated".to_vec(), b"no".to_vec())],
        ) {
            Err(EngineError::VersionNotAhead {
                requested: r,
                latest: l,
            }) => {
                ensure!(
                    (r, l) == (requested, latest),
                    "VersionNotAhead names {r} and {l}"
                );
            }
            other => bail!("apply_at({requested}) with latest {latest} gave {other:?}"),
        }
    }
    ensure!(
        engine.get(b"replicated")?.is_none(),
        "a refused apply_at wrote"
    );
    let first = latest + 100;
    let commands = vec![
        Command::put(b"replicated".to_vec(), b"yes".to_vec()),
        Command::delete(b"empty-value".to_vec()),
    ];
    let committed = engine.apply_at(first, commands)?;
    ensure!(
        (committed.first_version, committed.count) == (first, 2),
        "apply_at committed {committed:?}"
    );
    ensure!(
        engine.latest_version() == first + 1,
        "latest {} after apply_at",
        engine.latest_version()
    );
    ensure!(
        engine.get(b"replicated")?.map(|v| v.version) == Some(first),
        "apply_at's put has another version"
    );
    ensure!(
        engine.get(b"empty-value")?.is_none(),
        "apply_at's delete did not land"
    );
    let next = engine.put(b"local", b"after")?;
    ensure!(
        next == first + 2,
        "the next local write got {next}, not {}",
        first + 2
    );
    // A batch of deletes only still moves the latest version.
    let last = next + 1_000;
    engine.apply_at(last, vec![Command::delete(b"never-written".to_vec())])?;
    ensure!(
        engine.latest_version() == last,
        "a tombstone-only apply_at left latest {}",
        engine.latest_version()
    );
    Ok(last)
}

fn check_reopen(
    dir: &std::path::Path,
    worker_threads: usize,
    latest: u64,
    contents: &Contents,
) -> anyhow::Result<()> {
    let engine = SingleNodeEngine::with_config(config(dir, worker_threads))?;
    ensure!(
        engine.latest_version() == latest,
        "reopen: latest {} instead of {latest}",
        engine.latest_version()
    );
    ensure!(dump(&engine)? == *contents, "reopen changed the contents");
    engine.checkpoint()?;
    drop(engine);
    let engine = SingleNodeEngine::with_config(config(dir, worker_threads))?;
    ensure!(
        engine.latest_version() == latest,
        "after a checkpoint: latest {}",
        engine.latest_version()
    );
    ensure!(
        dump(&engine)? == *contents,
        "reopen after a checkpoint changed the contents"
    );
    ensure!(
        engine.put(b"more", b"x")? == latest + 1,
        "a reused or skipped version after reopen"
    );
    Ok(())
}

#[test]
fn bad_input_is_refused_clearly() -> anyhow::Result<()> {
    for worker_threads in [0, 2] {
        let dir = tempfile::tempdir()?;
        let engine = SingleNodeEngine::with_config(config(dir.path(), worker_threads))?;
        engine.put(b"before", b"anything")?;
        check_size_limits(&engine).with_context(|| format!("{worker_threads} workers"))?;
        check_empty_input(&engine).with_context(|| format!("{worker_threads} workers"))?;
        let latest =
            check_apply_at(&engine).with_context(|| format!("{worker_threads} workers"))?;
        let contents = dump(&engine)?;
        drop(engine);
        check_reopen(dir.path(), worker_threads, latest, &contents)
            .with_context(|| format!("{worker_threads} workers"))?;
    }
    Ok(())
}

#[test]
fn default_limits_are_named_in_errors() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let engine =
        SingleNodeEngine::with_config(EngineConfig::new(dir.path()).durability(Durability::None))?;
    let error = refused(
        &engine,
        vec![Command::put(vec![b'k'; 64 * 1024 + 1], b"v".to_vec())],
    )?;
    names(&error, 64 * 1024 + 1, 64 * 1024)?;
    engine.put(&vec![b'k'; 64 * 1024], b"v")?;
    Ok(())
}
