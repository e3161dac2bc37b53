//! For a user limited to a prefix, SCAN and KEYS walk that prefix only:
//! the cursor, the number of calls and the replies are the same whatever
//! lies outside it, a MATCH outside the grant comes back empty at once,
//! and the auth records never show; an admin still sees everything.

mod server_common;

use anyhow::Result;
use redis::{Connection, cmd};
use server_common::{TestServer, add_user, admin_password};

/// Runs a whole SCAN with `COUNT count`; returns the keys and the calls.
fn full_scan(con: &mut Connection, pattern: &[u8], count: usize) -> Result<(Vec<Vec<u8>>, usize)> {
    let (mut keys, mut cursor) = (Vec::new(), "0".to_string());
    for calls in 1..=10_000 {
        let (next, page): (String, Vec<Vec<u8>>) = cmd("SCAN")
            .arg(&cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(count)
            .query(con)?;
        keys.extend(page);
        if next == "0" {
            return Ok((keys, calls));
        }
        cursor = next;
    }
    anyhow::bail!("the scan did not end")
}

#[test]
fn scan_and_keys_reveal_nothing_outside_the_grant() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let server = TestServer::start(&data, &[])?;
    let mut admin = server.connect()?;
    let _: () = cmd("AUTH")
        .arg("admin")
        .arg(admin_password(&server)?)
        .query(&mut admin)?;
    // Hidden keys sort before and after the readable ones.
    let mut mset = cmd("MSET");
    for i in 0..300 {
        mset.arg(format!("a:{i:03}"))
            .arg("x")
            .arg(format!("c:{i:03}"))
            .arg("x");
    }
    for i in 0..3 {
        mset.arg(format!("b:{i}")).arg("x");
    }
    let _: () = mset.query(&mut admin)?;
    server.terminate()?;
    add_user(&data, "reader", "reader-password", "read:b:")?;
    let server = TestServer::start(&data, &[])?;
    let mut reader = server.connect()?;
    let _: () = cmd("AUTH")
        .arg("reader")
        .arg("reader-password")
        .query(&mut reader)?;

    let (keys, calls) = full_scan(&mut reader, b"*", 2)?;
    let expected: Vec<Vec<u8>> = (0..3).map(|i| format!("b:{i}").into_bytes()).collect();
    assert_eq!(keys, expected);
    assert_eq!(
        calls, 2,
        "three readable keys, two per call, whatever is hidden"
    );
    let (next, page): (String, Vec<Vec<u8>>) =
        cmd("SCAN").arg(0).arg("COUNT").arg(3).query(&mut reader)?;
    assert_eq!(
        (next.as_str(), page.len()),
        ("0", 3),
        "one call holds them all"
    );
    for pattern in [&b"a:*"[..], b"c:1*", b"\xffauth/*", b"\xff*"] {
        let (next, page): (String, Vec<Vec<u8>>) = cmd("SCAN")
            .arg(0)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(10)
            .query(&mut reader)?;
        assert_eq!((next.as_str(), page.len()), ("0", 0), "{pattern:?}");
    }
    let listed: Vec<Vec<u8>> = cmd("KEYS").arg("*").query(&mut reader)?;
    assert_eq!(listed, expected);
    let listed: Vec<Vec<u8>> = cmd("KEYS").arg(b"\xffauth/*").query(&mut reader)?;
    assert!(listed.is_empty());

    let mut admin = server.connect()?;
    let _: () = cmd("AUTH")
        .arg("admin")
        .arg(admin_password(&server)?)
        .query(&mut admin)?;
    let (users, _) = full_scan(&mut admin, b"\xffauth/user/*", 1000)?;
    assert_eq!(users.len(), 2, "admin and reader");
    let all: Vec<Vec<u8>> = cmd("KEYS").arg("[abc]:*").query(&mut admin)?;
    assert_eq!(all.len(), 603);
    Ok(())
}
