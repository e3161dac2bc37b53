//! An AUTH flood from many connections fills the password-check pool:
//! the attempts past its queue are refused at once with a clear error,
//! and a write of an authenticated connection (under `sync` durability,
//! so on the blocking pool) still completes meanwhile.

mod server_common;

use std::io::Write;

use anyhow::{Result, bail, ensure};
use hightower_server::server::resp::Value;
use redis::cmd;
use server_common::{TestServer, admin_password, read_value};

/// Connections that send one password check each, all at once.
const FLOOD_CONNECTIONS: usize = 48;

#[test]
fn a_full_password_pool_refuses_fast_and_writes_go_on() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start(&dir.path().join("data"), &["--durability", "sync"])?;
    let password = admin_password(&server)?;
    let mut writer = server.connect()?;
    let _: () = cmd("AUTH").arg("admin").arg(&password).query(&mut writer)?;

    let request = format!(
        "*3\r\n$4\r\nAUTH\r\n$5\r\nadmin\r\n${}\r\n{password}\r\n",
        password.len()
    );
    let mut flood = Vec::with_capacity(FLOOD_CONNECTIONS);
    for _ in 0..FLOOD_CONNECTIONS {
        let mut stream = server.raw()?;
        stream.write_all(request.as_bytes())?;
        flood.push(stream);
    }
    let _: () = cmd("SET").arg("k").arg("v").query(&mut writer)?;
    assert_eq!(cmd("GET").arg("k").query::<String>(&mut writer)?, "v");

    let (mut accepted, mut refused) = (0, 0);
    for stream in &mut flood {
        match read_value(stream)? {
            Value::Simple(text) if text == b"OK" => accepted += 1,
            Value::Error(text)
                if String::from_utf8_lossy(&text).contains("too many password checks") =>
            {
                refused += 1;
            }
            other => bail!("unexpected reply {other:?}"),
        }
    }
    ensure!(refused > 0, "the pool never filled: {accepted} accepted");
    ensure!(accepted > 0, "the pool refused everything");
    // A refused connection may try again once the flood is over.
    let mut again = server.raw()?;
    again.write_all(request.as_bytes())?;
    ensure!(matches!(read_value(&mut again)?, Value::Simple(text) if text == b"OK"));
    Ok(())
}
