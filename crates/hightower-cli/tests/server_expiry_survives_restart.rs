//! `hightower serve`: expiry times survive a restart, and a key whose
//! time came while the server was down reads as absent after it.

mod server_common;

use std::time::Duration;

use anyhow::{Result, bail, ensure};
use redis::{Connection, cmd};
use server_common::TestServer;

fn ttl(con: &mut Connection, key: &str) -> Result<i64> {
    Ok(cmd("PTTL").arg(key).query(con)?)
}

#[test]
fn expiry_survives_a_restart() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let server = TestServer::start_open(&data, &[])?;
    let mut con = server.connect()?;
    let _: () = cmd("SET")
        .arg("long")
        .arg("v")
        .arg("EX")
        .arg("1000")
        .query(&mut con)?;
    let _: () = cmd("SET")
        .arg("short")
        .arg("v")
        .arg("PX")
        .arg("300")
        .query(&mut con)?;
    let _: () = cmd("SET").arg("plain").arg("v").query(&mut con)?;
    let _: i64 = cmd("EXPIRE").arg("plain").arg("2000").query(&mut con)?;
    let _: i64 = cmd("PERSIST").arg("plain").query(&mut con)?;
    let at: i64 = cmd("PEXPIRETIME").arg("long").query(&mut con)?;
    let status = server.terminate()?;
    ensure!(status.success(), "exit status {status:?}");

    let server = TestServer::start_open(&data, &[])?;
    let mut con = server.connect()?;
    assert_eq!(cmd("PEXPIRETIME").arg("long").query::<i64>(&mut con)?, at);
    assert!(ttl(&mut con, "long")? > 990_000);
    assert_eq!(ttl(&mut con, "plain")?, -1);
    assert_eq!(cmd("GET").arg("long").query::<String>(&mut con)?, "v");
    let mut gone = false;
    for _ in 0..250 {
        if ttl(&mut con, "short")? == -2 {
            gone = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if !gone {
        bail!("the short-lived key did not expire");
    }
    assert_eq!(
        cmd("GET").arg("short").query::<Option<String>>(&mut con)?,
        None
    );
    let status = server.terminate()?;
    ensure!(status.success(), "exit status {status:?}");
    Ok(())
}
