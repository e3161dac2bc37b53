//! `hightower serve`: a client that disconnects in the middle of a frame
//! (after the header of a SET, inside its value) leaves nothing written and
//! does not disturb other clients.

mod server_common;

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use redis::Commands;
use server_common::{TestServer, expect_reply};

#[test]
fn a_connection_dropped_mid_frame_writes_nothing() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_open(&dir.path().join("data"), &[])?;
    let mut con = server.connect()?;

    let mut raw = server.raw()?;
    // One whole SET, then a second cut inside its value.
    raw.write_all(b"*3\r\n$3\r\nSET\r\n$4\r\nkept\r\n$1\r\n1\r\n")?;
    expect_reply(&mut raw, b"+OK\r\n")?;
    raw.write_all(b"*3\r\n$3\r\nSET\r\n$4\r\nlost\r\n$100\r\n0123456789")?;
    drop(raw);

    // The server notices the close and logs it; wait for that (bounded).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server
        .stderr()
        .contains("client closed in the middle of a request")
    {
        ensure!(
            Instant::now() < deadline,
            "no close logged:\n{}",
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(con.get::<_, Option<String>>("kept")?.as_deref(), Some("1"));
    assert_eq!(con.get::<_, Option<String>>("lost")?, None);
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut con)?, 1);
    Ok(())
}
