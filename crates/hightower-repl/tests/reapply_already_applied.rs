//! Scenario: an entry applied a second time, right away or after a
//! reopen, is reported as `AlreadyApplied` with the versions it got the
//! first time, and writes nothing.

mod common;

use common::{contents, open};
use hightower_engine::Command;
use hightower_repl::{LogEntry, ReplError, ReplicationHandle};

#[test]
fn reapply_already_applied() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let node = open(dir.path())?;
    let first = LogEntry::new(1, vec![Command::put("a", "1"), Command::put("b", "1")]);
    let second = LogEntry::new(3, vec![Command::put("a", "2")]);
    let first_committed = node.apply_entry(first.clone())?;
    node.apply_entry(second.clone())?;
    let before = contents(&node)?;

    for round in 0..2 {
        for (entry, expected) in [(&first, first_committed), (&second, second.versions()?)] {
            match node.apply_entry(entry.clone()) {
                Err(ReplError::AlreadyApplied {
                    committed,
                    applied_version: 3,
                }) => {
                    assert_eq!(committed, expected, "round {round}");
                }
                other => anyhow::bail!("round {round}: expected AlreadyApplied, got {other:?}"),
            }
        }
        assert_eq!(
            (node.applied_version(), contents(&node)?),
            (3, before.clone()),
            "round {round}"
        );
    }

    drop(node);
    let reopened = open(dir.path())?;
    let again = reopened
        .apply_entry(first)
        .expect_err("applied before the reopen");
    assert!(
        matches!(again, ReplError::AlreadyApplied { .. }),
        "{again:?}"
    );
    assert_eq!(contents(&reopened)?, before);
    Ok(())
}
