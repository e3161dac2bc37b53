//! Neither command writes into a directory that holds anything: `restore`
//! never overwrites a store, `backup` never overwrites a backup.

mod common;

use anyhow::Result;
use common::{hightower, hightower_ok};

#[test]
fn non_empty_directories_are_refused_and_left_alone() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("source");
    let backup = dir.path().join("backup");
    let backup_arg = backup.to_str().expect("temporary paths are UTF-8");
    hightower_ok(&source, &["put", "k", "v"])?;
    hightower_ok(&source, &["backup", "--to", backup_arg])?;

    let occupied = dir.path().join("occupied");
    hightower_ok(&occupied, &["put", "k", "mine"])?;
    let run = hightower(&occupied, &["restore", "--from", backup_arg])?;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("is not empty"), "{run:?}");
    assert_eq!(
        hightower_ok(&occupied, &["get", "k", "--with-version"])?,
        "1\tmine\n"
    );

    let manifest_before = std::fs::read(backup.join("backup.manifest"))?;
    hightower_ok(&source, &["put", "k", "newer"])?;
    let run = hightower(&source, &["backup", "--to", backup_arg])?;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("is not empty"), "{run:?}");
    assert_eq!(
        std::fs::read(backup.join("backup.manifest"))?,
        manifest_before
    );
    Ok(())
}
