//! SIGKILL in the middle of compaction: this test binary runs itself as a
//! child that writes puts and deletes under `Durability::Sync`, printing a
//! line for every acknowledged one, while a second thread runs compaction
//! passes back to back (with a snapshot after each pass in every other
//! round). The parent kills it after a random short delay, reopens the
//! directory and checks that every acknowledged write is there and that
//! no acknowledged delete was undone by an older put coming back; the
//! only write allowed beyond the acknowledged ones is the one in flight.
//! The same directory goes through every round.

mod common;
mod compaction_common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use compaction_common::SEGMENT_BYTES;
use hightower_engine::{
    CompactionConfig, Durability, EngineConfig, EngineError, KvEngine, SingleNodeEngine,
    SnapshotEngine,
};

const CHILD_DIR_ENV: &str = "HIGHTOWER_COMPACT_CRASH_DIR";
const CHILD_ROUND_ENV: &str = "HIGHTOWER_COMPACT_CRASH_ROUND";
const CHILD_TEST: &str = "compaction_crash_child";
const KEYS: u64 = 16;
/// The child stops on its own after this long, should the kill not come.
const CHILD_RUN_MAX: Duration = Duration::from_secs(20);
const CHILD_READY_WAIT_MAX: Duration = Duration::from_secs(20);
const LOCK_WAIT_MAX: Duration = Duration::from_secs(5);
const KILL_DELAY_MS: std::ops::Range<u64> = 20..250;
const ROUNDS: u64 = 8;
const ROUNDS_TIME_MAX: Duration = Duration::from_secs(15);

fn config(dir: &Path, round: u64) -> EngineConfig {
    EngineConfig::new(dir)
        .segment_bytes_max(SEGMENT_BYTES)
        .durability(Durability::Sync)
        .compaction(CompactionConfig {
            emit_snapshot: round % 2 == 1,
            ..CompactionConfig::manual()
        })
}

fn open_engine(dir: &Path, round: u64) -> Result<SingleNodeEngine, EngineError> {
    common::open_waiting_for_lock(|| config(dir, round), LOCK_WAIT_MAX)
}

/// Operation `i` of a round: which key, and a put (with its value) or a
/// delete. Every third visit to a key deletes it.
fn op(round: u64, i: u64) -> (String, Option<String>) {
    let key = format!("k{:02}", i % KEYS);
    if (i / KEYS) % 3 == 2 {
        (key, None)
    } else {
        (key, Some(format!("{round}-{i}-{}", "p".repeat(150))))
    }
}

/// The child: writes and compacts until killed. Does nothing in a normal
/// test run.
#[test]
fn compaction_crash_child() -> anyhow::Result<()> {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else {
        return Ok(());
    };
    let round: u64 = std::env::var(CHILD_ROUND_ENV)?.parse()?;
    let engine = open_engine(Path::new(&dir), round)?;
    say("ready")?;
    let started = Instant::now();
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let compactor = scope.spawn(|| -> anyhow::Result<()> {
            while !done.load(Ordering::Relaxed) && started.elapsed() < CHILD_RUN_MAX {
                if !engine.run_compaction_now()?.is_empty() {
                    say("pass")?;
                }
            }
            Ok(())
        });
        let written = write(&engine, round, started);
        done.store(true, Ordering::Relaxed);
        compactor
            .join()
            .expect("the compaction thread does not panic")?;
        written
    })
}

fn write(engine: &SingleNodeEngine, round: u64, started: Instant) -> anyhow::Result<()> {
    let mut i = 0;
    while started.elapsed() < CHILD_RUN_MAX {
        let (key, value) = op(round, i);
        let version = match &value {
            Some(value) => engine.put(key.as_bytes(), value.as_bytes())?,
            None => engine.delete(key.as_bytes())?,
        };
        say(&format!("ack {i} {version}"))?;
        i += 1;
    }
    Ok(())
}

fn say(line: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

/// An acknowledged operation: its index in the round and its version.
type Ack = (u64, u64);

/// What a child printed: its acknowledgements and how many passes it
/// committed.
#[derive(Debug, Default)]
struct ChildReport {
    acks: Vec<Ack>,
    passes: u64,
}

fn read_acks(stdout: impl Read, ready: mpsc::Sender<()>) -> std::io::Result<ChildReport> {
    let mut reader = BufReader::new(stdout);
    let mut report = ChildReport::default();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(report);
        }
        let Some(whole) = line.strip_suffix('\n') else {
            continue;
        };
        if whole == "ready" {
            let _ = ready.send(());
            continue;
        }
        if whole == "pass" {
            report.passes += 1;
            continue;
        }
        let mut parts = whole.strip_prefix("ack ").unwrap_or_default().split(' ');
        if let (Some(Ok(i)), Some(Ok(version))) = (
            parts.next().map(str::parse::<u64>),
            parts.next().map(str::parse::<u64>),
        ) {
            report.acks.push((i, version));
        }
    }
}

fn crash_round(dir: &Path, round: u64) -> anyhow::Result<ChildReport> {
    common::CrashChild {
        test: CHILD_TEST,
        env: vec![
            (CHILD_DIR_ENV, dir.display().to_string()),
            (CHILD_ROUND_ENV, round.to_string()),
        ],
        ready_wait_max: CHILD_READY_WAIT_MAX,
        kill_delay_ms: KILL_DELAY_MS,
    }
    .run_and_kill(read_acks)
}

/// The newest acknowledged state of a key: its version and its value
/// (`None` for a delete).
type Newest = BTreeMap<String, (u64, Option<String>)>;

/// Checks the reopened engine against the acknowledged operations; `next`
/// is the one operation that may have landed unacknowledged.
fn check(
    engine: &SingleNodeEngine,
    newest: &Newest,
    next: &(String, Option<String>),
) -> anyhow::Result<()> {
    for key in (0..KEYS).map(|k| format!("k{k:02}")) {
        let got = engine.get(key.as_bytes())?;
        let in_flight = next.0 == key;
        match (newest.get(&key), &got) {
            (Some((version, Some(value))), Some(got)) => {
                ensure!(
                    got.version >= *version,
                    "{key} went back to {}",
                    got.version
                );
                if got.version == *version {
                    ensure!(got.value == value.as_bytes(), "{key} reads another value");
                }
            }
            (Some((version, None)), Some(got)) => ensure!(
                in_flight && next.1.is_some() && got.version > *version,
                "{key} was deleted at {version} but reads version {}: resurrected",
                got.version
            ),
            (Some((version, Some(_))), None) => ensure!(
                in_flight && next.1.is_none(),
                "{key} acknowledged at {version} is gone"
            ),
            (None, Some(_)) => ensure!(in_flight, "{key} was never written"),
            (Some((_, None)) | None, None) => {}
        }
    }
    let acked_max = newest.values().map(|(v, _)| *v).max().unwrap_or(0);
    ensure!(
        engine.latest_version() >= acked_max,
        "latest version {} is below the acknowledged {acked_max}",
        engine.latest_version()
    );
    Ok(())
}

#[test]
fn sigkill_during_compaction_keeps_acknowledged_writes() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut newest = Newest::new();
    let started = Instant::now();
    let (mut rounds, mut acked, mut passes) = (0u64, 0usize, 0u64);
    for round in 0..ROUNDS {
        if started.elapsed() > ROUNDS_TIME_MAX && rounds > 0 {
            break;
        }
        let child = crash_round(dir.path(), round).with_context(|| format!("round {round}"))?;
        let acks = child.acks;
        acked += acks.len();
        passes += child.passes;
        let last = acks.last().map_or(0, |(i, _)| i + 1);
        for (i, version) in acks {
            let (key, value) = op(round, i);
            newest.insert(key, (version, value));
        }
        let engine = open_engine(dir.path(), round)
            .with_context(|| format!("reopen after round {round}"))?;
        check(&engine, &newest, &op(round, last)).with_context(|| format!("round {round}"))?;
        // What the in-flight operation left is now the key's state.
        for key in (0..KEYS).map(|k| format!("k{k:02}")) {
            match engine.get(key.as_bytes())? {
                Some(got) => {
                    let value = String::from_utf8(got.value)?;
                    newest.insert(key, (got.version, Some(value)));
                }
                None => {
                    if let Some(state) = newest.get_mut(&key) {
                        state.1 = None;
                    }
                }
            }
        }
        rounds += 1;
    }
    eprintln!("{rounds} rounds, {acked} acknowledged writes, {passes} compaction passes");
    ensure!(
        acked > 0,
        "the children acknowledged nothing: the test proved nothing"
    );
    ensure!(
        passes > 0,
        "no compaction pass committed: the test proved little"
    );
    Ok(())
}
