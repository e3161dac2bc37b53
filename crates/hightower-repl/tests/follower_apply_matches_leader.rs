//! Scenario: a follower that applies the leader's committed batches as log
//! entries, at the leader's versions, ends with the leader's contents,
//! versions and latest version, and keeps them across a reopen.

mod common;

use common::{contents, open};
use hightower_engine::{Command, Expect, KvEngine};
use hightower_repl::{CommandSubmitter, LogEntry, ReplicationHandle};

#[test]
fn follower_apply_matches_leader() -> anyhow::Result<()> {
    let (dir_leader, dir_follower) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let leader = open(dir_leader.path())?;
    let mut log = Vec::new();
    for round in 0..50u32 {
        let key = |i: u32| format!("key-{}", (round * 3 + i) % 17);
        let mut batch = vec![Command::put(key(0), round.to_le_bytes().to_vec())];
        if round % 3 == 0 {
            batch.push(Command::delete(key(1)));
        }
        if let Some(current) = leader.engine().get(key(2).as_bytes())? {
            batch.push(Command::put(key(2), "cas").expecting(Expect::Version(current.version)));
        }
        let committed = leader.submit(batch.clone())?;
        log.push(LogEntry::new(committed.first_version, batch));
    }

    let follower = open(dir_follower.path())?.with_node_id(2);
    for entry in log {
        let expected = entry.versions()?;
        assert_eq!(follower.apply_entry(entry)?, expected);
    }
    assert_eq!(follower.applied_version(), leader.applied_version());
    assert_eq!(contents(&follower)?, contents(&leader)?);

    drop(follower);
    let reopened = open(dir_follower.path())?;
    assert_eq!(reopened.applied_version(), leader.applied_version());
    assert_eq!(contents(&reopened)?, contents(&leader)?);
    Ok(())
}
