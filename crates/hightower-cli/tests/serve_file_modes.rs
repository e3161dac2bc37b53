//! What `hightower serve` creates is private by default: the data
//! directory 0700, its files (segments, `LOCK`, the first admin's
//! password) 0600, and the master key beside it 0600. With
//! `--group-read` the store's files are 0640 and its directories 0750,
//! while the two secrets stay 0600.

#![cfg(unix)]

mod server_common;

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, Result, ensure};
use server_common::TestServer;

fn mode(path: &Path) -> Result<u32> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("{} is missing", path.display()))?
        .permissions()
        .mode()
        & 0o777)
}

/// The bits the umask lets through, found from a directory asked for 0777.
fn umask_allows(scratch: &Path) -> Result<u32> {
    let probe = scratch.join("umask-probe");
    std::fs::DirBuilder::new().mode(0o777).create(&probe)?;
    let allowed = mode(&probe)?;
    std::fs::remove_dir(&probe)?;
    Ok(allowed)
}

/// Starts a server with auth on `data` (creating the first admin), writes
/// a key, stops it, and checks the modes of what it created.
fn check_modes(data: &Path, args: &[&str], file_mode: u32, dir_mode: u32) -> Result<()> {
    let server = TestServer::start(data, args)?;
    drop(server.connect());
    server.terminate()?;
    ensure!(
        mode(data)? == dir_mode,
        "data directory {:04o}",
        mode(data)?
    );
    let mut segments = 0;
    for entry in std::fs::read_dir(data)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let expected = if name == "admin-password" {
            0o600
        } else {
            file_mode
        };
        segments += usize::from(name.ends_with(".log"));
        ensure!(
            mode(&path)? == expected,
            "{name}: {:04o}, expected {expected:04o}",
            mode(&path)?
        );
    }
    ensure!(segments > 0, "no segment in {}", data.display());
    ensure!(mode(&data.join("LOCK"))? == file_mode, "LOCK");
    ensure!(
        mode(&data.join("admin-password"))? == 0o600,
        "admin-password"
    );
    ensure!(
        mode(&data.with_extension("master-key"))? == 0o600,
        "master key"
    );
    Ok(())
}

#[test]
fn serve_creates_private_files_unless_group_read_is_asked() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let allowed = umask_allows(dir.path())?;
    check_modes(
        &dir.path().join("private"),
        &[],
        0o600 & allowed,
        0o700 & allowed,
    )?;
    check_modes(
        &dir.path().join("shared"),
        &["--group-read"],
        0o640 & allowed,
        0o750 & allowed,
    )?;
    Ok(())
}
