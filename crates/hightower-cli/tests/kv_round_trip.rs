//! put, get, del and scan through the binary, with their outputs and exit
//! codes.

mod common;

use anyhow::Result;
use common::{hightower, hightower_ok};

#[test]
fn put_get_del_scan_round_trip() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");

    let missing = hightower(&data, &["get", "user:1"])?;
    assert_eq!(
        missing.code,
        Some(2),
        "get on a missing data directory: {missing:?}"
    );
    assert!(missing.stderr.contains("does not exist"), "{missing:?}");
    assert!(!data.exists(), "a read must not create the data directory");

    assert_eq!(hightower_ok(&data, &["put", "user:1", "ada"])?, "1\n");
    assert_eq!(
        hightower_ok(&data, &["put", "user:2", "tab\there\nnewline"])?,
        "2\n"
    );
    assert_eq!(hightower_ok(&data, &["put", "other", "x"])?, "3\n");

    assert_eq!(hightower_ok(&data, &["get", "user:1"])?, "ada\n");
    assert_eq!(
        hightower_ok(&data, &["get", "user:1", "--with-version"])?,
        "1\tada\n"
    );
    assert_eq!(
        hightower_ok(&data, &["get", "user:2", "--raw"])?,
        "tab\there\nnewline"
    );

    let scan = hightower_ok(&data, &["scan", "--prefix", "user:"])?;
    assert_eq!(scan, "user:1\tada\nuser:2\ttab\\there\\nnewline\n");
    assert_eq!(
        hightower_ok(&data, &["scan", "--limit", "1"])?,
        "other\tx\n"
    );

    assert_eq!(hightower_ok(&data, &["del", "user:1"])?, "4\n");
    let absent = hightower(&data, &["get", "user:1"])?;
    assert_eq!(absent.code, Some(1), "{absent:?}");
    assert!(absent.stdout.is_empty());
    assert!(
        absent.stderr.contains("key \"user:1\" not found"),
        "{absent:?}"
    );
    assert_eq!(
        hightower_ok(&data, &["scan", "--prefix", "user:"])?,
        "user:2\ttab\\there\\nnewline\n"
    );

    let empty_key = hightower(&data, &["put", "", "v"])?;
    assert_eq!(empty_key.code, Some(2), "{empty_key:?}");
    assert!(empty_key.stderr.contains("empty"), "{empty_key:?}");
    Ok(())
}
