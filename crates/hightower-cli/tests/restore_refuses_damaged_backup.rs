//! A backup with a flipped byte, a cut-off data file or no manifest is
//! refused with a message naming the file (and the offset), and the
//! target data directory stays as it was: missing, or empty.

mod common;

use std::path::Path;

use anyhow::Result;
use common::{flip_byte, hightower, hightower_ok};

fn arg(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

fn assert_refused(target: &Path, backup: &Path, expected: &[&str]) -> Result<()> {
    let run = hightower(target, &["restore", "--from", arg(backup)])?;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    for part in expected {
        assert!(run.stderr.contains(part), "{part:?} missing: {run:?}");
    }
    Ok(())
}

#[test]
fn damaged_backups_restore_nothing() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("source");
    let backup = dir.path().join("backup");
    for i in 0..200u32 {
        hightower_ok(&source, &["put", &format!("key:{i:04}"), &"v".repeat(50)])?;
    }
    hightower_ok(&source, &["backup", "--to", arg(&backup)])?;
    let data = backup.join("backup.data");
    let pristine = std::fs::read(&data)?;

    // A flipped byte in the middle of the records, into a missing target.
    let missing = dir.path().join("missing");
    flip_byte(&data, pristine.len() / 2)?;
    assert_refused(&missing, &backup, &["backup.data", "offset 16", "checksum"])?;
    assert!(
        !missing.exists(),
        "a refused restore creates no data directory"
    );

    // The same into an empty target, which stays empty.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty)?;
    assert_refused(&empty, &backup, &["backup.data", "offset"])?;
    assert_eq!(std::fs::read_dir(&empty)?.count(), 0);

    // A data file cut short.
    std::fs::write(&data, &pristine[..pristine.len() - 7])?;
    assert_refused(&missing, &backup, &["backup.data", "offset"])?;
    assert!(!missing.exists());

    // A damaged manifest.
    std::fs::write(&data, &pristine)?;
    let manifest = backup.join("backup.manifest");
    flip_byte(&manifest, 20)?;
    assert_refused(&missing, &backup, &["backup.manifest", "offset"])?;
    assert!(!missing.exists());

    // No manifest: a backup that never finished.
    std::fs::remove_file(&manifest)?;
    assert_refused(&missing, &backup, &["not a whole backup"])?;
    assert!(!missing.exists());
    Ok(())
}
