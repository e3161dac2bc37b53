//! `hightower serve`: SIGTERM while clients are connected stops the server
//! with status 0 after syncing; a restart on the same directory serves
//! every acknowledged write.

mod server_common;

use anyhow::{Result, ensure};
use redis::Commands;
use server_common::TestServer;

#[test]
fn restart_after_sigterm_keeps_every_acknowledged_write() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    for durability in ["periodic", "none"] {
        let server = TestServer::start_open(&data, &["--durability", durability])?;
        let mut con = server.connect()?;
        for i in 0..200 {
            let _: () = con.set(format!("{durability}:{i}"), i)?;
        }
        let _: i64 = con.incr("restarts", 1)?;
        // The connection stays open over the shutdown.
        let status = server.terminate()?;
        ensure!(status.success(), "exit status {status:?}");
    }
    let server = TestServer::start_open(&data, &[])?;
    let mut con = server.connect()?;
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut con)?, 401);
    assert_eq!(con.get::<_, i64>("restarts")?, 2);
    for durability in ["periodic", "none"] {
        for i in [0, 99, 199] {
            assert_eq!(con.get::<_, i64>(format!("{durability}:{i}"))?, i);
        }
    }
    let status = server.terminate()?;
    ensure!(status.success(), "exit status {status:?}");
    Ok(())
}
