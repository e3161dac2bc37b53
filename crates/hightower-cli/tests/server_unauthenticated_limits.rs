//! `hightower serve` with auth: before a connection authenticates it may
//! send only small requests (Redis's limits: ten arguments, 16 KiB bulk
//! strings), and all unauthenticated connections together hold a bounded
//! number of input bytes; past either, a clear error and the connection is
//! closed. After `AUTH`, the full limits apply.

mod server_common;

use std::io::Write;
use std::net::TcpStream;

use anyhow::{Context, Result, ensure};
use server_common::{TestServer, exchange_until_close};

fn admin_password(server: &TestServer) -> Result<String> {
    let path = server.data_dir.join("admin-password");
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
    Ok(text.trim().to_string())
}

#[test]
fn big_requests_before_auth_are_refused_and_allowed_after() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start(&dir.path().join("data"), &[])?;
    let cases: [(&[u8], &str); 3] = [
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$41943040\r\n",
            "unauthenticated bulk length",
        ),
        (b"*11\r\n", "unauthenticated multibulk length"),
        (b"*1000000\r\n", "unauthenticated multibulk length"),
    ];
    for (request, needle) in cases {
        let mut raw = server.raw()?;
        let (reply, closed) = exchange_until_close(&mut raw, request)?;
        let reply = String::from_utf8_lossy(&reply);
        ensure!(closed, "open after {request:?}");
        ensure!(reply.contains(needle), "{request:?}: {reply}");
    }
    // After AUTH, a 1 MiB value goes through on the same connection.
    let mut client = server.connect()?;
    let password = admin_password(&server)?;
    redis::cmd("AUTH")
        .arg("admin")
        .arg(&password)
        .query::<()>(&mut client)?;
    let value = vec![b'v'; 1 << 20];
    redis::cmd("SET")
        .arg("big")
        .arg(&value)
        .query::<()>(&mut client)?;
    let back: Vec<u8> = redis::cmd("GET").arg("big").query(&mut client)?;
    ensure!(back == value);
    Ok(())
}

#[test]
fn unauthenticated_connections_share_a_bounded_input() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start(&dir.path().join("data"), &[])?;
    // Each connection holds an unfinished frame of about 48 KiB, under the
    // per-request limit; 400 of them would hold 19 MiB.
    let mut partial = b"*4\r\n$3\r\nSET\r\n".to_vec();
    for _ in 0..3 {
        partial.extend_from_slice(b"$16000\r\n");
        partial.extend(std::iter::repeat_n(b'x', 16000));
        partial.extend_from_slice(b"\r\n");
    }
    partial.truncate(partial.len() - 100);
    let mut held: Vec<TcpStream> = Vec::new();
    let mut refused = 0;
    for _ in 0..400 {
        let mut raw = server.raw()?;
        raw.write_all(&partial)?;
        held.push(raw);
    }
    // Give the server time to read everything, then look at each socket
    // without waiting long on the ones still open.
    std::thread::sleep(std::time::Duration::from_millis(500));
    for raw in &mut held {
        raw.set_read_timeout(Some(std::time::Duration::from_millis(5)))?;
        let (reply, closed) = exchange_until_close(raw, b"")?;
        if closed {
            let reply = String::from_utf8_lossy(&reply);
            ensure!(reply.contains("authenticate first"), "{reply}");
            refused += 1;
        }
    }
    ensure!(refused > 0, "no connection was refused");
    ensure!(refused < 400, "every connection was refused");
    drop(held);
    // The server still serves, and a new client logs in.
    let mut client = server.connect()?;
    let password = admin_password(&server)?;
    redis::cmd("AUTH")
        .arg("admin")
        .arg(&password)
        .query::<()>(&mut client)?;
    Ok(())
}
