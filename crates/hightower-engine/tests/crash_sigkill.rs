//! Crash by SIGKILL: this test binary runs itself as a child process that
//! writes under `Durability::Sync` (single puts of counters, and batches
//! that put the same payload under five keys) and prints a line for every
//! acknowledged write. The parent kills it after a random short delay,
//! reopens the directory and checks that every acknowledged write is there
//! (at its version or a newer one), that no batch is half applied, that
//! versions never go backwards, and that the engine takes new writes. The
//! same directory goes through every round, so recovery also runs over
//! what earlier recoveries left.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use common::{show, small_config};
use hightower_engine::{
    AdminEngine, Command, Durability, EngineError, KvEngine, SingleNodeEngine, SnapshotEngine,
};

/// Set in the child's environment: the data directory to write to.
const CHILD_DIR_ENV: &str = "HIGHTOWER_CRASH_CHILD_DIR";
/// Set in the child's environment: its worker thread count.
const CHILD_WORKERS_ENV: &str = "HIGHTOWER_CRASH_CHILD_WORKERS";
/// Set in the child's environment: the round, to make payloads unique.
const CHILD_ROUND_ENV: &str = "HIGHTOWER_CRASH_CHILD_ROUND";
/// The name of the test that acts as the child.
const CHILD_TEST: &str = "crash_child";

const BATCH_KEYS: usize = 5;
const COUNTER_KEYS: usize = 8;
/// The child stops on its own after this long or this many writes, so it
/// cannot outlive a parent that failed to kill it for long.
const CHILD_RUN_MAX: Duration = Duration::from_secs(30);
const CHILD_WRITES_MAX: u64 = 100_000;
/// How long the parent waits for the child to open the engine.
const CHILD_READY_WAIT_MAX: Duration = Duration::from_secs(20);
/// How long an open waits for a directory lock to be let go.
const LOCK_WAIT_MAX: Duration = Duration::from_secs(5);
/// The kill comes this many milliseconds after the child is ready.
const KILL_DELAY_MS: std::ops::Range<u64> = 2..200;
/// Rounds stop starting after this long, whatever their number.
const ROUNDS_TIME_MAX: Duration = Duration::from_secs(25);

/// Opens the store under `Sync`, waiting out a lock the other test of this
/// binary may hold for a moment.
fn open_engine(dir: &Path, worker_threads: usize) -> Result<SingleNodeEngine, EngineError> {
    common::open_waiting_for_lock(
        || small_config(dir, Durability::Sync, worker_threads),
        LOCK_WAIT_MAX,
    )
}

fn batch_key(i: usize) -> Vec<u8> {
    format!("b{i}").into_bytes()
}

/// The child: writes until killed. Does nothing in a normal test run.
#[test]
fn crash_child() -> anyhow::Result<()> {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else {
        return Ok(());
    };
    let worker_threads: usize = std::env::var(CHILD_WORKERS_ENV)?.parse()?;
    let round: u64 = std::env::var(CHILD_ROUND_ENV)?.parse()?;
    let engine = open_engine(Path::new(&dir), worker_threads)?;
    say("ready")?;
    let started = Instant::now();
    std::thread::scope(|scope| {
        let counters = scope.spawn(|| write_counters(&engine, round, started));
        let batches = write_batches(&engine, round, started);
        counters
            .join()
            .expect("the counter writer does not panic")?;
        batches
    })
}

/// Prints one line and flushes it, so the parent sees it before a kill.
fn say(line: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

fn write_counters(engine: &SingleNodeEngine, round: u64, started: Instant) -> anyhow::Result<()> {
    for i in 0..CHILD_WRITES_MAX {
        if started.elapsed() > CHILD_RUN_MAX {
            break;
        }
        let key = format!("c{}", i % COUNTER_KEYS as u64);
        let value = format!("{round}-{i}");
        let version = engine.put(key.as_bytes(), value.as_bytes())?;
        say(&format!("ack {key} {version} {value}"))?;
    }
    Ok(())
}

fn write_batches(engine: &SingleNodeEngine, round: u64, started: Instant) -> anyhow::Result<()> {
    for i in 0..CHILD_WRITES_MAX {
        if started.elapsed() > CHILD_RUN_MAX {
            break;
        }
        // A payload long enough that batches fill segments quickly.
        let value = format!("{round}-{i}-{}", "x".repeat((i % 7 * 100) as usize));
        let commands = (0..BATCH_KEYS)
            .map(|k| Command::put(batch_key(k), value.clone()))
            .collect();
        let committed = engine.submit_batch(commands)?;
        let lines: Vec<String> = (0..BATCH_KEYS)
            .map(|k| format!("ack b{k} {} {value}", committed.first_version + k as u64))
            .collect();
        say(&lines.join("\n"))?;
    }
    Ok(())
}

/// An acknowledged write.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ack {
    key: String,
    version: u64,
    value: String,
}

fn parse_ack(line: &str) -> Option<Ack> {
    let mut parts = line.strip_prefix("ack ")?.splitn(3, ' ');
    let key = parts.next()?.to_string();
    let version = parts.next()?.parse().ok()?;
    let value = parts.next()?.to_string();
    Some(Ack {
        key,
        version,
        value,
    })
}

/// Reads the child's stdout: sends `()` once it is ready, and returns every
/// whole acknowledgement line once the pipe closes.
fn read_acks(stdout: impl Read, ready: mpsc::Sender<()>) -> std::io::Result<Vec<Ack>> {
    let mut reader = BufReader::new(stdout);
    let mut acks = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(acks);
        }
        // A line cut by the kill has no newline and proves nothing.
        let Some(whole) = line.strip_suffix('\n') else {
            continue;
        };
        if whole == "ready" {
            let _ = ready.send(());
        } else if let Some(ack) = parse_ack(whole) {
            acks.push(ack);
        }
    }
}

/// Runs one child, kills it, and returns what it acknowledged.
fn crash_round(dir: &Path, worker_threads: usize, round: u64) -> anyhow::Result<Vec<Ack>> {
    common::CrashChild {
        test: CHILD_TEST,
        env: vec![
            (CHILD_DIR_ENV, dir.display().to_string()),
            (CHILD_WORKERS_ENV, worker_threads.to_string()),
            (CHILD_ROUND_ENV, round.to_string()),
        ],
        ready_wait_max: CHILD_READY_WAIT_MAX,
        kill_delay_ms: KILL_DELAY_MS,
    }
    .run_and_kill(read_acks)
}

/// Checks the reopened engine against every acknowledgement so far.
fn check_recovered(
    engine: &SingleNodeEngine,
    newest: &BTreeMap<String, Ack>,
) -> anyhow::Result<()> {
    for ack in newest.values() {
        let got = engine
            .get(ack.key.as_bytes())?
            .with_context(|| format!("acknowledged {ack:?} is gone"))?;
        ensure!(
            got.version >= ack.version,
            "{ack:?} went back to version {}",
            got.version
        );
        if got.version == ack.version {
            ensure!(
                got.value == ack.value.as_bytes(),
                "{ack:?} reads {:?}",
                show(&got.value)
            );
        }
    }
    let batch: Vec<_> = (0..BATCH_KEYS)
        .map(|k| engine.get(&batch_key(k)))
        .collect::<Result<_, _>>()?;
    if let Some(Some(first)) = batch.first() {
        for (k, got) in batch.iter().enumerate() {
            let got = got
                .as_ref()
                .with_context(|| format!("b{k} is missing while b0 is there: half a batch"))?;
            ensure!(
                got.value == first.value,
                "b{k} holds another payload than b0: half a batch"
            );
            ensure!(
                got.version == first.version + k as u64,
                "b{k} is not from b0's batch"
            );
        }
    } else {
        ensure!(
            batch.iter().all(Option::is_none),
            "b0 is missing while other batch keys are there"
        );
    }
    let acked_max = newest.values().map(|ack| ack.version).max().unwrap_or(0);
    let latest = engine.latest_version();
    ensure!(
        latest >= acked_max,
        "latest version {latest} is below acknowledged version {acked_max}"
    );
    Ok(())
}

/// New writes after recovery get versions above everything before.
fn write_after_recovery(engine: &SingleNodeEngine, round: u64) -> anyhow::Result<Vec<Ack>> {
    let latest = engine.latest_version();
    let value = format!("parent-{round}");
    let version = engine.put(b"parent", value.as_bytes())?;
    ensure!(
        version > latest,
        "new version {version} is not above {latest}"
    );
    let commands = (0..BATCH_KEYS)
        .map(|k| Command::put(batch_key(k), value.clone()))
        .collect();
    let committed = engine.submit_batch(commands)?;
    ensure!(
        committed.first_version > version,
        "batch version {} after {version}",
        committed.first_version
    );
    let mut acks = vec![Ack {
        key: "parent".into(),
        version,
        value: value.clone(),
    }];
    for k in 0..BATCH_KEYS {
        acks.push(Ack {
            key: format!("b{k}"),
            version: committed.first_version + k as u64,
            value: value.clone(),
        });
    }
    Ok(acks)
}

fn run_rounds(worker_threads: usize, rounds: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut newest: BTreeMap<String, Ack> = BTreeMap::new();
    let (mut acked_total, mut rounds_run) = (0usize, 0u64);
    let started = Instant::now();
    for round in 0..rounds {
        if started.elapsed() > ROUNDS_TIME_MAX && rounds_run > 0 {
            break;
        }
        let acks = crash_round(dir.path(), worker_threads, round)
            .with_context(|| format!("round {round}"))?;
        acked_total += acks.len();
        let engine = open_engine(dir.path(), worker_threads)
            .with_context(|| format!("reopen after round {round}"))?;
        for ack in acks {
            newest.insert(ack.key.clone(), ack);
        }
        check_recovered(&engine, &newest).with_context(|| format!("after round {round}"))?;
        for ack in write_after_recovery(&engine, round)? {
            newest.insert(ack.key.clone(), ack);
        }
        rounds_run += 1;
    }
    let engine = open_engine(dir.path(), 0)?;
    check_recovered(&engine, &newest).context("after the last round")?;
    eprintln!(
        "{rounds_run} crash rounds with {worker_threads} workers: {acked_total} acknowledged writes, {} segments",
        engine.segments().len()
    );
    ensure!(
        acked_total > 0,
        "the children acknowledged nothing: the test proved nothing"
    );
    Ok(())
}

#[test]
fn sigkill_keeps_acknowledged_writes_inline() -> anyhow::Result<()> {
    run_rounds(0, 20)
}

#[test]
fn sigkill_keeps_acknowledged_writes_with_workers() -> anyhow::Result<()> {
    run_rounds(2, 2)
}
