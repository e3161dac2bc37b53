//! `hightower serve`: SIGTERM while a client streams pipelined writes.
//! The server stops accepting, answers the requests it has read, closes,
//! syncs and exits with status 0; after a restart every write the client
//! saw acknowledged is there.

mod server_common;

use std::io::{Read, Write};
use std::time::Duration;

use anyhow::{Result, ensure};
use redis::Commands;
use server_common::TestServer;

const CHUNK: usize = 100;
const CHUNKS_MAX: usize = 2_000;

#[test]
fn sigterm_answers_what_was_read_and_keeps_it() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let server = TestServer::start_open(&data, &["--durability", "periodic"])?;
    let mut stream = server.raw()?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut acknowledged = 0_usize;
    let mut signalled = None;
    for chunk in 0..CHUNKS_MAX {
        let mut requests = Vec::new();
        for i in chunk * CHUNK..(chunk + 1) * CHUNK {
            let key = format!("k:{i}");
            requests.extend_from_slice(
                format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$1\r\nv\r\n", key.len()).as_bytes(),
            );
        }
        if stream.write_all(&requests).is_err() {
            break;
        }
        let mut replies = vec![0_u8; CHUNK * 5];
        let mut got = 0;
        while got < replies.len() {
            match stream.read(&mut replies[got..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        ensure!(
            replies[..got] == b"+OK\r\n".repeat(CHUNK)[..got],
            "only whole OK replies"
        );
        acknowledged += got / 5;
        if got < replies.len() {
            break;
        }
        if chunk == 5 {
            // The client goes on writing while the server shuts down.
            let pid = server.pid().expect("running").to_string();
            signalled = Some(
                std::process::Command::new("kill")
                    .args(["-TERM", &pid])
                    .status()?,
            );
        }
    }
    ensure!(signalled.is_some_and(|s| s.success()), "SIGTERM was sent");
    ensure!(
        acknowledged >= 6 * CHUNK,
        "the chunks before the signal are answered"
    );
    ensure!(
        acknowledged < CHUNKS_MAX * CHUNK,
        "the server stopped reading"
    );
    let status = server.terminate_after_signal()?;
    ensure!(status.success(), "exit status {status:?}");

    let server = TestServer::start_open(&data, &[])?;
    let mut con = server.connect()?;
    let n_keys: usize = redis::cmd("DBSIZE").query(&mut con)?;
    ensure!(
        n_keys >= acknowledged,
        "{n_keys} keys, {acknowledged} acknowledged"
    );
    for i in [0, acknowledged / 2, acknowledged - 1] {
        ensure!(
            con.exists::<_, bool>(format!("k:{i}"))?,
            "k:{i} was acknowledged"
        );
    }
    Ok(())
}
