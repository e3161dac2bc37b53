//! `hightower serve`: malformed and oversized frames over a raw socket get
//! `-ERR Protocol error: ...` and the connection closed, without the
//! server allocating what a frame claims; the server goes on serving.

mod server_common;

use std::io::Write;

use anyhow::{Result, ensure};
use server_common::{TestServer, exchange_until_close, expect_reply};

/// (what is sent, what the error must mention).
const CASES: &[(&[u8], &str)] = &[
    (
        b"*2\r\n$3\r\nGET\r\n$67108865\r\n",
        "invalid bulk length (67108865 bytes, above the value limit",
    ),
    (b"*1\r\n$9223372036854775807\r\n", "invalid bulk length"),
    (b"*1\r\n$-5\r\n", "invalid bulk length"),
    (b"*1\r\n$abc\r\n", "invalid bulk length"),
    (b"*9223372036854775807\r\n", "invalid multibulk length"),
    (b"*99999999999999999999999\r\n", "invalid multibulk length"),
    (b"*2\r\n:1\r\n", "expected '$', got ':'"),
    (b"*1\r\n$4\r\nPINGxx", "expected CRLF"),
    (b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPINGPONG", "expected CRLF"),
    (b"SET k \"unterminated\r\n", "unbalanced quotes"),
    (
        b"*111111111111111111111111111111111111111111\r\n",
        "too big length line",
    ),
];

#[test]
fn malformed_frames_are_refused_and_the_connection_closed() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_open(&dir.path().join("data"), &[])?;
    for (input, needle) in CASES {
        let mut raw = server.raw()?;
        let (reply, closed) = exchange_until_close(&mut raw, input)?;
        let reply = String::from_utf8_lossy(&reply);
        ensure!(
            closed,
            "the connection stays open after {input:?}: {reply:?}"
        );
        let error = reply.lines().last().unwrap_or_default();
        ensure!(
            error.starts_with("-ERR Protocol error: ") && error.contains(needle),
            "input {:?}: expected an error mentioning {needle:?}, got {reply:?}",
            String::from_utf8_lossy(input)
        );
    }

    // A negative array length carries no command: skipped, as Redis
    // skips it, and the connection goes on.
    let mut raw = server.raw()?;
    raw.write_all(b"*-7\r\n*1\r\n$4\r\nPING\r\n")?;
    expect_reply(&mut raw, b"+PONG\r\n")?;

    // An inline line longer than 64 KiB without a newline.
    let mut raw = server.raw()?;
    let (reply, closed) = exchange_until_close(&mut raw, &vec![b'a'; 70 * 1024])?;
    ensure!(closed && String::from_utf8_lossy(&reply).contains("too big inline request"));

    // Random garbage never takes the server down.
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..50 {
        let garbage: Vec<u8> = (0..256)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 24) as u8
            })
            .collect();
        let mut raw = server.raw()?;
        raw.write_all(&garbage)?;
        drop(raw);
    }

    let mut raw = server.raw()?;
    raw.write_all(b"*1\r\n$4\r\nPING\r\n")?;
    expect_reply(&mut raw, b"+PONG\r\n")?;
    let info = redis::cmd("INFO")
        .arg("stats")
        .query::<String>(&mut server.connect()?)?;
    ensure!(info.contains("protocol_errors:"), "{info}");
    Ok(())
}
