//! Compare-and-set through `--expect-version` and `--expect-absent`: a
//! conflict exits with status 3, says why, and writes nothing.

mod common;

use anyhow::Result;
use common::{hightower, hightower_ok};

#[test]
fn conflicting_writes_exit_with_status_3_and_write_nothing() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path();

    assert_eq!(
        hightower_ok(data, &["put", "k", "v1", "--expect-absent"])?,
        "1\n"
    );

    let stale = hightower(data, &["put", "k", "v2", "--expect-version", "7"])?;
    assert_eq!(stale.code, Some(3), "{stale:?}");
    assert!(stale.stderr.contains("version conflict"), "{stale:?}");
    assert!(
        stale.stderr.contains("expected version 7, found version 1"),
        "{stale:?}"
    );

    let exists = hightower(data, &["put", "k", "v2", "--expect-absent"])?;
    assert_eq!(exists.code, Some(3), "{exists:?}");

    let stale_delete = hightower(data, &["del", "k", "--expect-version", "2"])?;
    assert_eq!(stale_delete.code, Some(3), "{stale_delete:?}");
    assert_eq!(
        hightower_ok(data, &["get", "k", "--with-version"])?,
        "1\tv1\n"
    );

    assert_eq!(
        hightower_ok(data, &["put", "k", "v2", "--expect-version", "1"])?,
        "2\n"
    );
    assert_eq!(
        hightower_ok(data, &["del", "k", "--expect-version", "2"])?,
        "3\n"
    );
    assert_eq!(hightower(data, &["get", "k"])?.code, Some(1));
    Ok(())
}
