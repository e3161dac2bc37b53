//! Scenario: an entry that skips a version, or straddles the applied
//! version, is refused with an error naming the versions, writes nothing,
//! and the node still takes the right next entry afterwards.

use std::sync::Arc;

use hightower_engine::{Command, Durability, EngineConfig, KvEngine, SingleNodeEngine};
use hightower_repl::{LocalReplication, LogEntry, ReplError, ReplicationHandle};

#[test]
fn apply_out_of_order_rejected() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = EngineConfig::new(dir.path()).durability(Durability::None);
    let node = LocalReplication::new(Arc::new(SingleNodeEngine::with_config(config)?));
    node.apply_entry(LogEntry::new(
        1,
        vec![Command::put("a", "1"), Command::put("b", "1")],
    ))?;

    let gap = node
        .apply_entry(LogEntry::new(5, vec![Command::put("gap", "x")]))
        .expect_err("version 3 is missing");
    assert!(
        matches!(
            gap,
            ReplError::VersionGap {
                first_version: 5,
                next_version: 3
            }
        ),
        "{gap:?}"
    );
    assert_eq!(
        gap.to_string(),
        "entry starts at version 5 but the next version is 3: an entry is missing"
    );

    let straddle = LogEntry::new(2, vec![Command::put("b", "2"), Command::put("c", "2")]);
    let overlap = node
        .apply_entry(straddle)
        .expect_err("version 2 is applied");
    assert!(
        matches!(
            overlap,
            ReplError::VersionOverlap {
                first_version: 2,
                last_version: 3,
                applied_version: 2
            }
        ),
        "{overlap:?}"
    );
    assert!(
        overlap
            .to_string()
            .contains("straddles the applied version 2"),
        "{overlap}"
    );

    let empty = node
        .apply_entry(LogEntry::new(3, Vec::new()))
        .expect_err("no commands");
    assert!(
        matches!(
            empty,
            ReplError::InvalidEntry {
                first_version: 3,
                ..
            }
        ),
        "{empty:?}"
    );

    assert_eq!(node.applied_version(), 2);
    for key in ["gap", "c"] {
        assert!(
            node.engine().get(key.as_bytes())?.is_none(),
            "{key} was not written"
        );
    }
    assert_eq!(
        node.apply_entry(LogEntry::new(3, vec![Command::put("c", "3")]))?
            .first_version,
        3
    );
    Ok(())
}
