//! `hightower serve` with authentication: FLUSHALL drops every key but
//! the users and API keys, only a global admin may run it, and versions
//! keep growing across it and across a restart.

mod server_common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, ensure};
use redis::cmd;
use server_common::{TestServer, error_text};

/// Adds a user with `grant` to a stopped server's data.
fn add_user(data: &Path, name: &str, password: &str, grant: &str) -> Result<()> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hightower"))
        .arg("--data-dir")
        .arg(data)
        .args(["user", "add", name, "--grant", grant, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .context("stdin is piped")?
        .write_all(format!("{password}\n").as_bytes())?;
    let output = child.wait_with_output()?;
    ensure!(output.status.success(), "user add {name}: {output:?}");
    Ok(())
}

fn login(server: &TestServer, user: &str, password: &str) -> Result<redis::Connection> {
    let mut con = server.connect()?;
    let _: () = cmd("AUTH").arg(user).arg(password).query(&mut con)?;
    Ok(con)
}

#[test]
fn flushall_keeps_users_and_moves_versions_on() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let server = TestServer::start(&data, &[])?;
    let admin_password = server_common::admin_password(&server)?;
    server.terminate()?;
    add_user(&data, "app", "app-password", "write:app:")?;

    let server = TestServer::start(&data, &["--durability", "none"])?;
    let mut admin = login(&server, "admin", &admin_password)?;
    let mut app = login(&server, "app", "app-password")?;
    let _: () = cmd("SET").arg("app:1").arg("x").query(&mut app)?;
    let (_, before): (String, u64) = cmd("HT.GETV").arg("app:1").query(&mut admin)?;

    let error = cmd("FLUSHALL")
        .query::<()>(&mut app)
        .expect_err("not an admin");
    assert!(
        error_text(&error).starts_with("NOPERM"),
        "{}",
        error_text(&error)
    );
    let error = cmd("FLUSHDB")
        .query::<()>(&mut app)
        .expect_err("not an admin");
    assert!(
        error_text(&error).starts_with("NOPERM"),
        "{}",
        error_text(&error)
    );
    let _: () = cmd("FLUSHALL").query(&mut admin)?;
    assert_eq!(cmd("EXISTS").arg("app:1").query::<i64>(&mut admin)?, 0);

    // The users survived the flush: both log in again.
    let mut app = login(&server, "app", "app-password")?;
    let _ = login(&server, "admin", &admin_password)?;
    let _: () = cmd("SET").arg("app:2").arg("y").query(&mut app)?;
    let (_, after): (String, u64) = cmd("HT.GETV").arg("app:2").query(&mut admin)?;
    assert!(after > before, "versions move on: {after} > {before}");

    // And the flush itself survived a restart.
    server.terminate()?;
    let server = TestServer::start(&data, &["--durability", "none"])?;
    let mut admin = login(&server, "admin", &admin_password)?;
    assert_eq!(cmd("GET").arg("app:2").query::<String>(&mut admin)?, "y");
    assert_eq!(
        cmd("GET")
            .arg("app:1")
            .query::<Option<String>>(&mut admin)?,
        None
    );
    let _ = login(&server, "app", "app-password")?;
    Ok(())
}
