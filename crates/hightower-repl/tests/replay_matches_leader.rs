//! Property: random command batches (puts, deletes, and conditional
//! writes that may fail) submitted to a leader, then replayed into a
//! follower with `apply_entry` at the leader's versions, leave both
//! engines with the same contents and latest version, and the leader
//! with the contents of a `BTreeMap` model.

use std::collections::BTreeMap;
use std::sync::Arc;

use hightower_engine::{
    Command, Durability, EngineConfig, Expect, KeyValue, KvEngine, SingleNodeEngine,
};
use hightower_repl::{CommandSubmitter, LocalReplication, LogEntry, ReplError, ReplicationHandle};
use proptest::prelude::*;

type Node = LocalReplication<SingleNodeEngine>;
type Model = BTreeMap<Vec<u8>, (Vec<u8>, u64)>;

#[derive(Debug, Clone)]
enum Op {
    Put(u8, Vec<u8>),
    Delete(u8),
    PutIfAbsent(u8, Vec<u8>),
    /// Put expecting the key's current version (or a stale one).
    PutIfCurrent(u8, Vec<u8>, bool),
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..12;
    let value = proptest::collection::vec(any::<u8>(), 0..24);
    prop_oneof![
        4 => (key.clone(), value.clone()).prop_map(|(k, v)| Op::Put(k, v)),
        2 => key.clone().prop_map(Op::Delete),
        1 => (key.clone(), value.clone()).prop_map(|(k, v)| Op::PutIfAbsent(k, v)),
        2 => (key, value, any::<bool>()).prop_map(|(k, v, stale)| Op::PutIfCurrent(k, v, stale)),
    ]
}

fn key_of(k: u8) -> Vec<u8> {
    format!("key-{k:02}").into_bytes()
}

fn command(op: &Op, model: &Model) -> Command {
    match op {
        Op::Put(k, v) => Command::put(key_of(*k), v.clone()),
        Op::Delete(k) => Command::delete(key_of(*k)),
        Op::PutIfAbsent(k, v) => Command::put(key_of(*k), v.clone()).expecting(Expect::Absent),
        Op::PutIfCurrent(k, v, stale) => {
            let current = model.get(&key_of(*k)).map_or(0, |(_, version)| *version);
            let expected = if *stale { current + 1000 } else { current };
            Command::put(key_of(*k), v.clone()).expecting(Expect::Version(expected))
        }
    }
}

/// The model after `commands` committed at `first_version`, or `None`
/// when a condition fails (checked against the state before the batch).
fn model_commit(model: &Model, commands: &[Command], first_version: u64) -> Option<Model> {
    let holds = commands.iter().all(|c| {
        c.expect()
            .holds(model.get(c.key()).map(|(_, version)| *version))
    });
    if !holds {
        return None;
    }
    let mut next = model.clone();
    // Checks take no version; the commands that write take one each.
    let writes = commands
        .iter()
        .filter(|c| !matches!(c, Command::Check { .. }));
    for (version, command) in (first_version..).zip(writes) {
        match command {
            Command::Put { key, value, .. } => {
                next.insert(key.clone(), (value.clone(), version));
            }
            Command::Delete { key, .. } => {
                next.remove(key);
            }
            Command::Check { .. } => {}
        }
    }
    Some(next)
}

fn open(dir: &std::path::Path) -> Result<Node, TestCaseError> {
    let config = EngineConfig::new(dir).durability(Durability::None);
    let engine =
        SingleNodeEngine::with_config(config).map_err(|e| TestCaseError::fail(e.to_string()))?;
    Ok(LocalReplication::new(Arc::new(engine)))
}

fn contents(node: &Node) -> Vec<KeyValue> {
    let view = node.engine().read_view().expect("read view");
    view.iter()
        .collect::<Result<_, _>>()
        .expect("read every entry")
}

fn run(batches: Vec<Vec<Op>>) -> Result<(), TestCaseError> {
    let (dir_leader, dir_follower) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let leader = open(dir_leader.path())?;
    let mut model = Model::new();
    let mut log = Vec::new();
    for ops in &batches {
        let commands: Vec<Command> = ops.iter().map(|op| command(op, &model)).collect();
        let predicted = model_commit(&model, &commands, leader.applied_version() + 1);
        match (leader.submit(commands.clone()), predicted) {
            (Ok(committed), Some(next)) => {
                model = next;
                log.push(LogEntry::new(committed.first_version, commands));
            }
            (
                Err(ReplError::Engine(hightower_engine::EngineError::VersionConflict { .. })),
                None,
            ) => {}
            (outcome, predicted) => {
                return Err(TestCaseError::fail(format!(
                    "leader gave {outcome:?}, model expected {predicted:?}"
                )));
            }
        }
    }
    let from_model: Vec<KeyValue> = model
        .into_iter()
        .map(|(key, (value, version))| KeyValue {
            key,
            value,
            version,
            expires_at_ms: None,
        })
        .collect();
    prop_assert_eq!(contents(&leader), from_model);

    let follower = open(dir_follower.path())?;
    for entry in log {
        let expected = entry
            .versions()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(
            follower
                .apply_entry(entry)
                .map_err(|e| TestCaseError::fail(e.to_string()))?,
            expected
        );
    }
    prop_assert_eq!(follower.applied_version(), leader.applied_version());
    prop_assert_eq!(contents(&follower), contents(&leader));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn replay_matches_leader(batches in proptest::collection::vec(proptest::collection::vec(op(), 1..5), 0..24)) {
        run(batches)?;
    }
}
