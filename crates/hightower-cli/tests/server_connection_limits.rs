//! `hightower serve`: past `--max-connections` a client is refused with
//! Redis's error, a freed slot is reused, and a connection silent for
//! `--idle-timeout-secs` is closed.

mod server_common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use server_common::{TestServer, expect_reply};

#[test]
fn connection_limit_and_idle_timeout_are_enforced() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_open(
        &dir.path().join("data"),
        &["--max-connections", "2", "--idle-timeout-secs", "1"],
    )?;
    let mut first = server.raw()?;
    let mut second = server.raw()?;
    for stream in [&mut first, &mut second] {
        stream.write_all(b"PING\r\n")?;
        expect_reply(stream, b"+PONG\r\n")?;
    }
    let mut third = server.raw()?;
    let mut refusal = Vec::new();
    third.read_to_end(&mut refusal)?;
    assert_eq!(refusal, b"-ERR max number of clients reached\r\n");

    // Closing one frees its slot (the server notices the close first).
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut again = server.raw()?;
        again.write_all(b"PING\r\n")?;
        let mut reply = [0_u8; 7];
        if again.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n" {
            break;
        }
        ensure!(Instant::now() < deadline, "the freed slot is never reused");
        std::thread::sleep(Duration::from_millis(20));
    }

    // `second` stays silent past the idle timeout: the server closes it.
    let started = Instant::now();
    let mut rest = Vec::new();
    second.read_to_end(&mut rest)?;
    ensure!(rest.is_empty(), "no reply expected: {rest:?}");
    ensure!(
        started.elapsed() < Duration::from_secs(8),
        "closed by the idle timeout"
    );
    ensure!(
        server.stderr().contains("idle timeout"),
        "{}",
        server.stderr()
    );
    Ok(())
}
