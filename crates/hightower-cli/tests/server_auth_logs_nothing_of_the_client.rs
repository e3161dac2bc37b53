//! `hightower serve`: a failed `AUTH` logs neither a user name the client
//! sent nor, when the arguments are swapped, the password; a user name
//! with line breaks cannot forge a log line.

mod server_common;

use anyhow::{Context, Result, ensure};
use server_common::TestServer;

#[test]
fn failed_logins_keep_client_strings_out_of_the_log() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start(&dir.path().join("data"), &[])?;
    let password_path = server.data_dir.join("admin-password");
    let password = std::fs::read_to_string(&password_path)
        .with_context(|| password_path.display().to_string())?;
    let password = password.trim();
    let mut client = server.connect()?;
    let forged = "mallory\n2026-01-01T00:00:00Z  INFO user admin logged in";
    for (user, secret) in [(forged, "wrong"), (password, "admin")] {
        let refused = redis::cmd("AUTH")
            .arg(user)
            .arg(secret)
            .query::<()>(&mut client);
        ensure!(refused.is_err(), "AUTH {user:?} was accepted");
    }
    let log = server.stderr();
    ensure!(
        log.contains("authentication failed"),
        "no failure logged:\n{log}"
    );
    ensure!(
        !log.contains("mallory"),
        "a client's user name reached the log:\n{log}"
    );
    ensure!(!log.contains(password), "the password reached the log");
    ensure!(
        !log.lines()
            .any(|line| line.starts_with("2026-01-01T00:00:00Z")),
        "a forged line:\n{log}"
    );
    redis::cmd("AUTH")
        .arg("admin")
        .arg(password)
        .query::<()>(&mut client)?;
    Ok(())
}
