//! Concurrent `Durability::Sync` writers and compare-and-set on a few hot
//! keys, on a `CrashVfs` that may cut the power after some fsync, checked
//! against a model built from what every thread saw:
//!
//! - versions are unique, and each key's acknowledged writes, in version
//!   order, are its history;
//! - compare-and-set is linearizable: an acknowledged conditional write
//!   expected exactly the key's previous write in that history, and a
//!   conflict reported a version the key really had;
//! - no reader sees a write before it is durable: every value read is an
//!   acknowledged write, and a thread never reads older than what it last
//!   wrote or read (per-key order: an older version never replaces a newer
//!   one in the index);
//! - after the run the store holds each key's newest acknowledged write,
//!   and after a power cut at least that (or a write whose call failed).

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, bail, ensure};
use common::{Contents, dump, small_config};
use hightower_engine::{
    Command, Durability, EngineError, Expect, KvEngine, SingleNodeEngine, SnapshotEngine,
};
use hightower_log::vfs::{CallKind, CrashVfs};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

const KEYS: [&[u8]; 3] = [b"hot-a", b"hot-b", b"hot-c"];
const CASES: u32 = 24;

#[derive(Debug, Clone, Copy)]
enum Op {
    Put(usize),
    Delete(usize),
    /// Reads the key, then puts expecting the version read.
    Cas(usize),
    /// Puts expecting the key to be absent.
    Create(usize),
    Get(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0..KEYS.len();
    prop_oneof![
        3 => key.clone().prop_map(Op::Put),
        1 => key.clone().prop_map(Op::Delete),
        4 => key.clone().prop_map(Op::Cas),
        1 => key.clone().prop_map(Op::Create),
        2 => key.prop_map(Op::Get),
    ]
}

/// What one thread saw, in its order.
#[derive(Debug, Clone)]
enum Event {
    /// An acknowledged write: a put with its value, or a delete.
    Wrote {
        key: usize,
        version: u64,
        value: Option<Vec<u8>>,
        expect: Expect,
    },
    Conflict {
        key: usize,
        actual: Option<u64>,
    },
    Read {
        key: usize,
        got: Option<(Vec<u8>, u64)>,
    },
    /// A call that failed after the power cut: it may or may not land.
    Failed {
        key: usize,
        put: bool,
    },
}

/// Runs one thread's operations; stops at its first failure once the
/// power is cut (every later call fails too).
fn run_thread(
    engine: &SingleNodeEngine,
    vfs: &CrashVfs,
    thread: usize,
    ops: &[Op],
) -> anyhow::Result<Vec<Event>> {
    let mut events = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let value = format!("t{thread}-op{i}").into_bytes();
        let outcome = one_op(engine, &mut events, *op, value);
        match outcome {
            Ok(()) => {}
            Err(_) if vfs.tripped() || vfs.is_frozen() => {
                match *op {
                    Op::Delete(key) => events.push(Event::Failed { key, put: false }),
                    Op::Put(key) | Op::Cas(key) | Op::Create(key) => {
                        events.push(Event::Failed { key, put: true });
                    }
                    Op::Get(_) => {}
                }
                break;
            }
            Err(e) => return Err(e).context(format!("thread {thread}, {op:?}, no power cut")),
        }
    }
    Ok(events)
}

fn one_op(
    engine: &SingleNodeEngine,
    events: &mut Vec<Event>,
    op: Op,
    value: Vec<u8>,
) -> anyhow::Result<()> {
    let (key, command) = match op {
        Op::Get(key) => {
            let got = engine.get(KEYS[key])?.map(|v| (v.value, v.version));
            events.push(Event::Read { key, got });
            return Ok(());
        }
        Op::Put(key) => (key, Command::put(KEYS[key], value)),
        Op::Delete(key) => (key, Command::delete(KEYS[key])),
        Op::Create(key) => (
            key,
            Command::put(KEYS[key], value).expecting(Expect::Absent),
        ),
        Op::Cas(key) => {
            let got = engine.get(KEYS[key])?.map(|v| (v.value, v.version));
            let expect = got
                .as_ref()
                .map_or(Expect::Absent, |(_, v)| Expect::Version(*v));
            events.push(Event::Read { key, got });
            (key, Command::put(KEYS[key], value).expecting(expect))
        }
    };
    let expect = command.expect();
    let written = match &command {
        Command::Put { value, .. } => Some(value.clone()),
        Command::Delete { .. } => None,
        Command::Check { .. } => unreachable!("this test makes no checks"),
    };
    match engine.submit(command) {
        Ok(version) => events.push(Event::Wrote {
            key,
            version,
            value: written,
            expect,
        }),
        Err(EngineError::VersionConflict { actual, .. }) => {
            events.push(Event::Conflict { key, actual })
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// Each key's acknowledged writes by version: the value, or `None` for a
/// delete.
type History = Vec<BTreeMap<u64, Option<Vec<u8>>>>;

fn history_of(threads: &[Vec<Event>]) -> anyhow::Result<History> {
    let mut history: History = vec![BTreeMap::new(); KEYS.len()];
    let mut versions = std::collections::BTreeSet::new();
    for event in threads.iter().flatten() {
        if let Event::Wrote {
            key,
            version,
            value,
            ..
        } = event
        {
            ensure!(
                versions.insert(*version),
                "version {version} was handed out twice"
            );
            history[*key].insert(*version, value.clone());
        }
    }
    Ok(history)
}

/// The key's newest acknowledged write below `version`.
fn before(history: &History, key: usize, version: u64) -> Option<(u64, &Option<Vec<u8>>)> {
    history[key]
        .range(..version)
        .next_back()
        .map(|(v, value)| (*v, value))
}

/// A conflict may report a version whose fsync the power cut then
/// failed (`cut`): checks see appended writes before they are durable.
fn check_cas(history: &History, threads: &[Vec<Event>], cut: bool) -> anyhow::Result<()> {
    for event in threads.iter().flatten() {
        match event {
            Event::Wrote {
                key,
                version,
                expect,
                ..
            } => {
                let previous = before(history, *key, *version);
                let live = previous.and_then(|(v, value)| value.as_ref().map(|_| v));
                ensure!(
                    expect.holds(live),
                    "{} at version {version} expected {expect}, but the write before it left {live:?}",
                    String::from_utf8_lossy(KEYS[*key])
                );
            }
            Event::Conflict {
                key,
                actual: Some(actual),
            } => ensure!(
                cut || history[*key].get(actual).is_some_and(Option::is_some),
                "a conflict on {} reported version {actual}, which no acknowledged put made",
                String::from_utf8_lossy(KEYS[*key])
            ),
            _ => {}
        }
    }
    Ok(())
}

/// Every read shows an acknowledged (so durable) put, and no thread reads
/// older than what it last wrote or read.
fn check_reads(history: &History, thread: &[Event]) -> anyhow::Result<()> {
    let mut floor = [0u64; KEYS.len()];
    for event in thread {
        match event {
            Event::Wrote { key, version, .. } => floor[*key] = floor[*key].max(*version),
            Event::Read {
                key,
                got: Some((value, version)),
            } => {
                ensure!(
                    history[*key].get(version) == Some(&Some(value.clone())),
                    "a read of {} saw version {version}, which is not an acknowledged put",
                    String::from_utf8_lossy(KEYS[*key])
                );
                ensure!(
                    *version >= floor[*key],
                    "a read went back from {} to {version}",
                    floor[*key]
                );
                floor[*key] = *version;
            }
            Event::Read { key, got: None } => {
                let deleted = history[*key]
                    .range(floor[*key]..)
                    .any(|(_, value)| value.is_none());
                ensure!(
                    floor[*key] == 0 || deleted,
                    "{} read as absent after version {}",
                    String::from_utf8_lossy(KEYS[*key]),
                    floor[*key]
                );
            }
            _ => {}
        }
    }
    Ok(())
}

/// The store holds each key's newest acknowledged write; after a power
/// cut it may instead hold a write whose call failed.
fn check_store(
    history: &History,
    threads: &[Vec<Event>],
    got: &Contents,
    cut: bool,
) -> anyhow::Result<()> {
    for (key, name) in KEYS.iter().enumerate() {
        let newest = history[key].iter().next_back();
        let expected = newest.and_then(|(v, value)| value.clone().map(|value| (value, *v)));
        let held = got.get(*name).cloned();
        if held == expected {
            continue;
        }
        let newest_version = newest.map_or(0, |(v, _)| *v);
        let failed = |want_put: bool| {
            threads.iter().flatten().any(
                |e| matches!(e, Event::Failed { key: k, put } if *k == key && *put == want_put),
            )
        };
        let allowed = cut
            && match &held {
                Some((_, version)) => *version > newest_version && failed(true),
                None => failed(false),
            };
        ensure!(
            allowed,
            "{} holds {:?}, the newest acknowledged write is {:?}",
            String::from_utf8_lossy(name),
            held.map(|(_, v)| v),
            newest.map(|(v, _)| v)
        );
    }
    Ok(())
}

fn open(dir: &std::path::Path) -> anyhow::Result<(SingleNodeEngine, CrashVfs)> {
    let vfs = CrashVfs::new(dir)?;
    let config = small_config(dir, Durability::Sync, 0).vfs(Arc::new(vfs.clone()));
    Ok((SingleNodeEngine::with_config(config)?, vfs))
}

fn run_case(threads: &[Vec<Op>], cut: Option<(u64, u64)>) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (engine, vfs) = open(dir.path())?;
    if let Some((nth, _)) = cut {
        vfs.cut_power_after_nth(nth, CallKind::SYNCS);
    }
    let events = std::thread::scope(|scope| {
        let handles: Vec<_> = threads
            .iter()
            .enumerate()
            .map(|(t, ops)| {
                let (engine, vfs) = (&engine, &vfs);
                scope.spawn(move || run_thread(engine, vfs, t, ops))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| anyhow::anyhow!("a writer panicked"))?)
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    let history = history_of(&events)?;
    let frozen = vfs.is_frozen();
    check_cas(&history, &events, frozen)?;
    for thread in &events {
        check_reads(&history, thread)?;
    }
    if !frozen {
        check_store(&history, &events, &dump(&engine)?, false).context("before the reopen")?;
        ensure!(
            engine.read_view()?.version() == engine.latest_version(),
            "a read view after every writer returned misses versions"
        );
    }
    let seed = cut.map_or(0, |(_, seed)| seed);
    drop(engine);
    if frozen {
        vfs.crash(seed)?;
    }
    let (engine, _vfs) = open(dir.path())?;
    check_store(&history, &events, &dump(&engine)?, frozen).context("after the reopen")
}

#[test]
fn sync_writers_and_cas_on_hot_keys_match_the_model() -> anyhow::Result<()> {
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        source_file: Some(file!()),
        failure_persistence: None,
        max_shrink_iters: 256,
        ..Config::default()
    });
    let threads = vec(vec(op(), 1..25), 2..=4);
    let cut = proptest::option::weighted(0.5, (1..40u64, any::<u64>()));
    let outcome = runner.run(&(threads, cut), |(threads, cut)| {
        run_case(&threads, cut).map_err(|e| TestCaseError::fail(format!("{e:#}")))
    });
    if let Err(e) = outcome {
        bail!("{e}");
    }
    Ok(())
}
