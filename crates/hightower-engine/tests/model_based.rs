//! Random sequences of puts, deletes, compare-and-set writes, atomic
//! batches (some with a failing condition), point reads, prefix and range
//! scans, checkpoints and reopens, applied to the engine and to a
//! `BTreeMap` model: every answer must match the model, versions must
//! strictly increase, a conflict must name the key, the expected and the
//! actual version and write nothing. Runs inline and with a worker pool.

mod common;

use std::ops::Bound;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use common::{Contents, dump, show, small_config};
use hightower_engine::{
    Command, Durability, EngineError, Expect, KeyValue, KvEngine, SingleNodeEngine, SnapshotEngine,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// A small key space, with keys that are prefixes of one another, so that
/// overwrites, conflicts and prefix scans all have something to find.
const KEYS: [&[u8]; 12] = [
    b"a",
    b"aa",
    b"ab",
    b"aba",
    b"b",
    b"ba",
    b"bb",
    b"c",
    b"ca",
    b"cab",
    b"d",
    b"\xff\x00",
];
/// Prefixes and range bounds: some are keys, some fall between keys.
const PROBES: [&[u8]; 9] = [b"", b"a", b"ab", b"b", b"bz", b"c", b"ca", b"z", b"\xff"];
const CASES: u32 = 64;

/// A condition, turned into an [`Expect`] against the model's state.
#[derive(Clone, Debug)]
enum Cond {
    Any,
    Absent,
    /// The model's version of the key (a version that cannot match when
    /// the key is absent).
    Current,
    /// A version the key does not have.
    Wrong(u64),
}

/// A value made of a seed and a length; long ones roll segments over.
#[derive(Clone, Debug)]
struct Value(u8, usize);

impl Value {
    fn bytes(&self) -> Vec<u8> {
        (0..self.1)
            .map(|i| self.0.wrapping_add((i % 251) as u8))
            .collect()
    }
}

/// One command: a put when `value` is set, else a delete.
#[derive(Clone, Debug)]
struct Cmd {
    key: usize,
    value: Option<Value>,
    cond: Cond,
}

#[derive(Clone, Debug)]
enum Op {
    Write(Cmd),
    Batch(Vec<Cmd>),
    Get(usize),
    ScanPrefix(usize, usize),
    ScanRange((usize, u8), (usize, u8), usize),
    Checkpoint,
    Reopen,
}

fn value() -> impl Strategy<Value = Value> {
    let len = prop_oneof![8 => 0..48usize, 1 => 1000..3000usize];
    (any::<u8>(), len).prop_map(|(seed, len)| Value(seed, len))
}

fn key() -> impl Strategy<Value = usize> {
    0..KEYS.len()
}

fn cmd(cond: impl Strategy<Value = Cond>) -> impl Strategy<Value = Cmd> {
    let value = prop_oneof![3 => value().prop_map(Some), 1 => Just(None)];
    (key(), value, cond).prop_map(|(key, value, cond)| Cmd { key, value, cond })
}

fn any_cond() -> impl Strategy<Value = Cond> {
    prop_oneof![
        4 => Just(Cond::Any),
        1 => Just(Cond::Absent),
        2 => Just(Cond::Current),
        1 => (0..3u64).prop_map(Cond::Wrong),
    ]
}

fn limit() -> impl Strategy<Value = usize> {
    prop_oneof![0..4usize, Just(usize::MAX)]
}

fn op() -> impl Strategy<Value = Op> {
    let put = (key(), value()).prop_map(|(key, value)| Cmd {
        key,
        value: Some(value),
        cond: Cond::Any,
    });
    let delete = key().prop_map(|key| Cmd {
        key,
        value: None,
        cond: Cond::Any,
    });
    let cas = (
        key(),
        value(),
        prop_oneof![3 => Just(Cond::Current), 1 => (0..3u64).prop_map(Cond::Wrong)],
    )
        .prop_map(|(key, value, cond)| Cmd {
            key,
            value: Some(value),
            cond,
        });
    let if_absent = (key(), value()).prop_map(|(key, value)| Cmd {
        key,
        value: Some(value),
        cond: Cond::Absent,
    });
    let bound = (0..PROBES.len(), 0..3u8);
    prop_oneof![
        6 => put.prop_map(Op::Write),
        2 => delete.prop_map(Op::Write),
        4 => cas.prop_map(Op::Write),
        2 => if_absent.prop_map(Op::Write),
        1 => cmd(any_cond()).prop_map(Op::Write),
        4 => vec(cmd(any_cond()), 1..=5).prop_map(Op::Batch),
        3 => key().prop_map(Op::Get),
        2 => (0..PROBES.len(), limit()).prop_map(|(prefix, limit)| Op::ScanPrefix(prefix, limit)),
        2 => (bound.clone(), bound, limit()).prop_map(|(start, end, limit)| Op::ScanRange(start, end, limit)),
        1 => Just(Op::Checkpoint),
        1 => Just(Op::Reopen),
    ]
}

/// What the engine should hold.
#[derive(Debug, Default)]
struct Model {
    contents: Contents,
    latest_version: u64,
}

impl Model {
    fn version_of(&self, key: &[u8]) -> Option<u64> {
        self.contents.get(key).map(|(_, version)| *version)
    }

    /// The engine command for `cmd`, its condition resolved against the
    /// model's current state.
    fn command(&self, cmd: &Cmd) -> Command {
        let key = KEYS[cmd.key].to_vec();
        let current = self.version_of(&key);
        let expect = match cmd.cond {
            Cond::Any => Expect::Any,
            Cond::Absent => Expect::Absent,
            // Version 0 is never assigned, so it cannot match.
            Cond::Current => Expect::Version(current.unwrap_or(0)),
            Cond::Wrong(delta) => match current {
                Some(v) if delta % 2 == 0 => Expect::Version(v + 1 + delta),
                Some(v) => Expect::Version(v.saturating_sub(1 + delta)),
                None => Expect::Version(1 + delta),
            },
        };
        let command = match &cmd.value {
            Some(value) => Command::put(key, value.bytes()),
            None => Command::delete(key),
        };
        command.expecting(expect)
    }

    fn apply(&mut self, commands: &[Command], first_version: u64) {
        for (i, command) in commands.iter().enumerate() {
            let version = first_version + i as u64;
            match command {
                Command::Put { key, value, .. } => {
                    self.contents.insert(key.clone(), (value.clone(), version));
                }
                Command::Delete { key, .. } => {
                    self.contents.remove(key);
                }
            }
        }
        self.latest_version = first_version + commands.len() as u64 - 1;
    }
}

/// The engine under test and how to reopen it.
struct Subject {
    dir: tempfile::TempDir,
    durability: Durability,
    worker_threads: usize,
    engine: Option<SingleNodeEngine>,
}

impl Subject {
    fn open(durability: Durability, worker_threads: usize) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut subject = Subject {
            dir,
            durability,
            worker_threads,
            engine: None,
        };
        subject.reopen()?;
        Ok(subject)
    }

    fn engine(&self) -> &SingleNodeEngine {
        self.engine
            .as_ref()
            .expect("the engine is open between operations")
    }

    fn reopen(&mut self) -> anyhow::Result<()> {
        drop(self.engine.take());
        let config = small_config(self.dir.path(), self.durability, self.worker_threads);
        self.engine = Some(SingleNodeEngine::with_config(config).context("reopen")?);
        Ok(())
    }
}

fn bound(probe: (usize, u8)) -> Bound<&'static [u8]> {
    match probe.1 {
        0 => Bound::Included(PROBES[probe.0]),
        1 => Bound::Excluded(PROBES[probe.0]),
        _ => Bound::Unbounded,
    }
}

fn in_range(key: &[u8], start: Bound<&[u8]>, end: Bound<&[u8]>) -> bool {
    let after_start = match start {
        Bound::Included(s) => key >= s,
        Bound::Excluded(s) => key > s,
        Bound::Unbounded => true,
    };
    let before_end = match end {
        Bound::Included(e) => key <= e,
        Bound::Excluded(e) => key < e,
        Bound::Unbounded => true,
    };
    after_start && before_end
}

fn expected_scan(model: &Model, keep: impl Fn(&[u8]) -> bool, limit: usize) -> Vec<KeyValue> {
    model
        .contents
        .iter()
        .filter(|(key, _)| keep(key))
        .take(limit)
        .map(|(key, (value, version))| KeyValue {
            key: key.clone(),
            value: value.clone(),
            version: *version,
        })
        .collect()
}

/// Submits `commands` as one batch (or one write) and checks the outcome.
fn write(
    subject: &Subject,
    model: &mut Model,
    commands: Vec<Command>,
    as_batch: bool,
) -> anyhow::Result<()> {
    let failing: Vec<(Vec<u8>, Expect, Option<u64>)> = commands
        .iter()
        .map(|c| (c.key().to_vec(), c.expect(), model.version_of(c.key())))
        .filter(|(_, expect, actual)| !expect.holds(*actual))
        .collect();
    let engine = subject.engine();
    let outcome = if as_batch {
        engine.submit_batch(commands.clone())
    } else {
        let command = commands[0].clone();
        let version = match (&command, command.expect()) {
            (Command::Put { key, value, .. }, Expect::Any) => engine.put(key, value),
            (Command::Delete { key, .. }, Expect::Any) => engine.delete(key),
            _ => engine.submit(command),
        };
        version.map(|v| hightower_engine::Committed {
            first_version: v,
            count: 1,
        })
    };
    match outcome {
        Ok(committed) => {
            ensure!(
                failing.is_empty(),
                "write committed although {failing:?} should conflict"
            );
            ensure!(
                committed.first_version > model.latest_version,
                "version {} is not above the previous latest {}",
                committed.first_version,
                model.latest_version
            );
            ensure!(
                committed.count as usize == commands.len(),
                "count {} for {} commands",
                committed.count,
                commands.len()
            );
            model.apply(&commands, committed.first_version);
        }
        Err(EngineError::VersionConflict {
            key,
            expected,
            actual,
        }) => {
            let reported = (key.0.clone(), expected, actual);
            ensure!(
                failing.contains(&reported),
                "conflict {reported:?} is not one of {failing:?}"
            );
            ensure!(
                dump(engine)? == model.contents,
                "a refused write changed the contents"
            );
        }
        Err(other) => bail!("write failed: {other}"),
    }
    Ok(())
}

fn step(subject: &mut Subject, model: &mut Model, op: &Op) -> anyhow::Result<()> {
    match op {
        Op::Write(cmd) => write(subject, model, vec![model.command(cmd)], false)?,
        Op::Batch(cmds) => {
            let commands = cmds.iter().map(|c| model.command(c)).collect();
            write(subject, model, commands, true)?;
        }
        Op::Get(key) => {
            let key = KEYS[*key];
            let got = subject.engine().get(key)?.map(|v| (v.value, v.version));
            ensure!(
                got.as_ref() == model.contents.get(key),
                "get {:?}: {got:?}",
                show(key)
            );
        }
        Op::ScanPrefix(prefix, limit) => {
            let prefix = PROBES[*prefix];
            let got = subject.engine().scan_prefix(prefix, *limit)?;
            ensure!(
                got == expected_scan(model, |k| k.starts_with(prefix), *limit),
                "scan_prefix {:?}",
                show(prefix)
            );
        }
        Op::ScanRange(start, end, limit) => {
            let (start, end) = (bound(*start), bound(*end));
            let got = subject.engine().scan_range(start, end, *limit)?;
            let expected = expected_scan(model, |k| in_range(k, start, end), *limit);
            ensure!(
                got == expected,
                "scan_range {start:?}..{end:?} limit {limit}: {got:?}"
            );
        }
        Op::Checkpoint => {
            subject.engine().checkpoint()?;
        }
        Op::Reopen => {
            subject.reopen()?;
            ensure!(
                dump(subject.engine())? == model.contents,
                "contents differ after reopen"
            );
        }
    }
    let latest = subject.engine().latest_version();
    ensure!(
        latest == model.latest_version,
        "latest version {latest}, model {}",
        model.latest_version
    );
    Ok(())
}

fn run_case(worker_threads: usize, durability: Durability, ops: &[Op]) -> anyhow::Result<()> {
    let mut subject = Subject::open(durability, worker_threads)?;
    let mut model = Model::default();
    for (i, op) in ops.iter().enumerate() {
        step(&mut subject, &mut model, op).with_context(|| format!("operation {i}: {op:?}"))?;
    }
    ensure!(
        dump(subject.engine())? == model.contents,
        "contents differ at the end"
    );
    subject.reopen()?;
    ensure!(
        dump(subject.engine())? == model.contents,
        "contents differ after the last reopen"
    );
    ensure!(
        subject.engine().latest_version() == model.latest_version,
        "latest version lost by the last reopen"
    );
    Ok(())
}

fn run(worker_threads: usize) -> anyhow::Result<()> {
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        max_shrink_iters: 512,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    // Sync in about a quarter of the cases: real fsyncs are slow.
    let durability = prop_oneof![
        5 => Just(Durability::None),
        2 => Just(Durability::Sync),
        1 => Just(Durability::Periodic(Duration::from_millis(2))),
    ];
    let strategy = (durability, vec(op(), 1..60));
    runner
        .run(&strategy, |(durability, ops)| {
            run_case(worker_threads, durability, &ops)
                .map_err(|e| TestCaseError::fail(format!("{e:#}")))
        })
        .map_err(|e| anyhow::anyhow!("{e}"))
}

#[test]
fn model_based_inline() -> anyhow::Result<()> {
    run(0)
}

#[test]
fn model_based_workers() -> anyhow::Result<()> {
    run(2)
}
