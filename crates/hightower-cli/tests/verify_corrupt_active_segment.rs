//! A flipped byte in the middle of the active segment, with whole records
//! after it, fails the open: `verify` names the file and the offset and
//! exits with status 4, and other commands fail too instead of reading
//! past it.

mod common;

use anyhow::Result;
use common::{flip_byte, hightower, hightower_ok};

#[test]
fn verify_names_the_corrupt_file_and_offset() -> Result<()> {
    let dir = tempfile::tempdir()?;
    for i in 0..40 {
        hightower_ok(
            dir.path(),
            &["put", &format!("key:{i:02}"), &format!("value number {i}")],
        )?;
    }
    let segment = dir.path().join("0000000001.log");
    let len = std::fs::metadata(&segment)?.len() as usize;
    flip_byte(&segment, len / 2)?;

    let verify = hightower(dir.path(), &["verify"])?;
    assert_eq!(verify.code, Some(4), "{verify:?}");
    assert!(verify.stderr.contains("0000000001.log"), "{verify:?}");
    assert!(verify.stderr.contains("offset"), "{verify:?}");
    assert_eq!(verify.stderr.lines().count(), 1, "one line: {verify:?}");

    let get = hightower(dir.path(), &["get", "key:00"])?;
    assert_eq!(get.code, Some(2), "{get:?}");
    assert!(get.stderr.contains("0000000001.log"), "{get:?}");
    Ok(())
}
