//! `hightower serve --durability none`: a SIGTERM stops the server
//! gracefully with its writes made durable, whether it arrives as soon as
//! the server says it listens or while a client that just wrote (and
//! logged in through the password pool) is still connected: the admin
//! user the first start created and the client's key (buffered writes
//! under `none`) are there after the restart.

mod server_common;

use anyhow::{Result, ensure};
use server_common::{TestServer, admin_password};

#[test]
fn a_signal_right_after_start_loses_nothing() -> Result<()> {
    for round in 0..6 {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        let server = TestServer::start(&data, &["--durability", "none"])?;
        let password = admin_password(&server)?;
        let mut writer = server.connect()?;
        if round % 2 == 1 {
            redis::cmd("AUTH")
                .arg("admin")
                .arg(&password)
                .query::<()>(&mut writer)?;
            redis::cmd("SET")
                .arg("kept")
                .arg(round)
                .query::<()>(&mut writer)?;
        }
        let status = server.terminate()?;
        drop(writer);
        ensure!(status.success(), "round {round}: exited with {status}");
        let server = TestServer::start(&data, &["--durability", "none"])?;
        let mut client = server.connect()?;
        let login = redis::cmd("AUTH")
            .arg("admin")
            .arg(&password)
            .query::<()>(&mut client);
        ensure!(
            login.is_ok(),
            "round {round}: the admin was lost: {login:?}"
        );
        if round % 2 == 1 {
            let kept: Option<u32> = redis::cmd("GET").arg("kept").query(&mut client)?;
            ensure!(kept == Some(round), "round {round}: the write was lost");
        }
    }
    Ok(())
}
