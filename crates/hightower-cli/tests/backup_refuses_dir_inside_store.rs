//! A backup directory inside the data directory is refused, and nothing
//! is left inside the store: a backup must outlive the store it copies.

mod common;

use anyhow::Result;
use common::{hightower, hightower_ok};

#[test]
fn a_backup_inside_the_data_directory_is_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    hightower_ok(&data, &["put", "k", "v"])?;
    let inner = data.join("backup");
    let run = hightower(
        &data,
        &[
            "backup",
            "--to",
            inner.to_str().expect("temporary paths are UTF-8"),
        ],
    )?;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("inside the data directory"), "{run:?}");
    assert!(!inner.exists(), "the refused backup directory is removed");
    assert_eq!(hightower_ok(&data, &["get", "k"])?, "v\n");
    Ok(())
}
