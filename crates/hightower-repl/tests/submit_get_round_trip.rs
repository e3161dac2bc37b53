//! Scenario: batches submitted through `LocalReplication` come back from
//! its engine with the versions `submit` reported, and the node reports
//! itself as the leader at the latest version.

use std::sync::Arc;

use hightower_engine::{Command, Durability, EngineConfig, Expect, KvEngine, SingleNodeEngine};
use hightower_repl::{
    CommandSubmitter, LocalReplication, ReplicationHandle, Role, SnapshotProvider,
};

#[test]
fn submit_get_round_trip() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = EngineConfig::new(dir.path()).durability(Durability::None);
    let node = LocalReplication::new(Arc::new(SingleNodeEngine::with_config(config)?));
    assert_eq!(
        (node.role(), node.leader()),
        (Role::Leader, Some(node.node_id()))
    );

    let committed = node.submit(vec![
        Command::put("user:1", "ada"),
        Command::put("user:2", "grace"),
        Command::delete("user:3"),
    ])?;
    assert_eq!(committed.count, 3);
    let ada = node.engine().get(b"user:1")?.expect("submitted");
    assert_eq!(
        (ada.value.as_slice(), ada.version),
        (b"ada".as_slice(), committed.first_version)
    );
    let grace = node.engine().get(b"user:2")?.expect("submitted");
    assert_eq!(grace.version, committed.first_version + 1);
    assert!(node.engine().get(b"user:3")?.is_none());

    let cas = Command::put("user:1", "lovelace").expecting(Expect::Version(ada.version));
    let version = node.submit_one(cas)?;
    assert_eq!(version, committed.last_version() + 1);
    let updated = node.engine().get(b"user:1")?.expect("updated");
    assert_eq!(
        (updated.value.as_slice(), updated.version),
        (b"lovelace".as_slice(), version)
    );
    assert_eq!(node.applied_version(), version);
    assert_eq!(node.latest_version(), version);
    Ok(())
}
