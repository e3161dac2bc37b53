//! `hightower user ...` and `hightower apikey ...` on a data directory:
//! passwords come from stdin (`--password-stdin`), the master key file is
//! generated beside the data directory with mode 0600 and never printed,
//! and what the commands wrote verifies through `AuthService`.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use anyhow::{Context, Result};
use hightower_auth::{AuthError, AuthService, EnvelopeEncryptor, SecretHasher};
use hightower_engine::SingleNodeEngine;

use common::Run;

/// Runs `hightower --data-dir DIR ARGS...` with `stdin` piped in.
fn hightower_with_stdin(data_dir: &Path, args: &[&str], stdin: &[u8]) -> Result<Run> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hightower"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("HIGHTOWER_MASTER_KEY_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running hightower {args:?}"))?;
    let written = child
        .stdin
        .take()
        .context("stdin is piped")?
        .write_all(stdin);
    // A command that fails before it reads its password closes the pipe.
    if let Err(error) = written
        && error.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(error.into());
    }
    let output = child.wait_with_output()?;
    Ok(Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

fn ok(run: Run) -> Result<Run> {
    anyhow::ensure!(run.code == Some(0), "failed: {run:?}");
    Ok(run)
}

#[test]
fn users_and_api_keys_round_trip_through_the_cli() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let key_file = tmp.path().join("data.master-key");

    let run = ok(hightower_with_stdin(
        &data,
        &[
            "user",
            "add",
            "ada",
            "--grant",
            "write:app/",
            "--password-stdin",
        ],
        b"correct horse\n",
    )?)?;
    assert!(run.stderr.contains("generated a new master key"), "{run:?}");
    assert!(run.stderr.contains("data.master-key"), "{run:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file)?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let key_text = std::fs::read_to_string(&key_file)?;
    let key_hex = key_text
        .lines()
        .find(|l| !l.starts_with('#'))
        .and_then(|l| l.split_whitespace().nth(1))
        .context("a key line")?
        .to_owned();
    assert_eq!(key_hex.len(), 64);
    let mut printed = run.stdout.clone() + &run.stderr;

    let list = ok(hightower_with_stdin(&data, &["user", "list"], b"")?)?;
    assert_eq!(list.stdout, "ada\tenabled\twrite:app/\n");

    // A second add of the name fails; so does an oversize password.
    let again = hightower_with_stdin(&data, &["user", "add", "ada", "--password-stdin"], b"x\n")?;
    assert_eq!(again.code, Some(2), "{again:?}");
    let long = vec![b'p'; 5000];
    let oversize = hightower_with_stdin(&data, &["user", "add", "bob", "--password-stdin"], &long)?;
    assert_eq!(oversize.code, Some(2), "{oversize:?}");
    assert!(oversize.stderr.contains("4096"), "{oversize:?}");
    // A password is never taken from the arguments.
    let in_argv = hightower_with_stdin(&data, &["user", "add", "bob", "hunter2hunter2"], b"")?;
    assert_eq!(in_argv.code, Some(2), "{in_argv:?}");

    ok(hightower_with_stdin(
        &data,
        &["user", "passwd", "ada", "--password-stdin"],
        b"new battery staple\r\n",
    )?)?;
    let created = ok(hightower_with_stdin(
        &data,
        &[
            "apikey",
            "create",
            "ada",
            "--label",
            "ci",
            "--expires-days",
            "30",
        ],
        b"",
    )?)?;
    let token = created.stdout.trim().to_owned();
    assert!(token.starts_with("hk_"), "{created:?}");
    assert!(
        created.stderr.contains("shown only this once"),
        "{created:?}"
    );
    let key_id = token[3..19].to_owned();
    printed += &created.stderr;

    let keys = ok(hightower_with_stdin(
        &data,
        &["apikey", "list", "--user", "ada"],
        b"",
    )?)?;
    let fields: Vec<&str> = keys.stdout.trim_end().split('\t').collect();
    assert_eq!(fields[..3], [key_id.as_str(), "ada", "active"], "{keys:?}");
    assert_eq!(fields[4..], ["(owner's)", "ci"], "{keys:?}");
    assert!(
        !keys.stdout.contains(&token[20..]),
        "the secret is not listed"
    );

    // What the CLI wrote verifies through the library with the same key.
    {
        let engine = Arc::new(SingleNodeEngine::open(&data)?);
        let encryptor = EnvelopeEncryptor::from_key_file(&key_text)?;
        let auth = AuthService::new(engine, SecretHasher::builder().build()?, encryptor);
        auth.verify_password("ada", b"new battery staple", "test")?;
        assert!(matches!(
            auth.verify_password("ada", b"correct horse", "test"),
            Err(AuthError::InvalidCredentials)
        ));
        assert_eq!(auth.verify_api_key(&token)?.user_name(), "ada");
    }

    ok(hightower_with_stdin(
        &data,
        &["apikey", "revoke", &key_id],
        b"",
    )?)?;
    let keys = ok(hightower_with_stdin(&data, &["apikey", "list"], b"")?)?;
    assert!(keys.stdout.contains("\trevoked\t"), "{keys:?}");

    ok(hightower_with_stdin(
        &data,
        &["user", "disable", "ada"],
        b"",
    )?)?;
    let list = ok(hightower_with_stdin(&data, &["user", "list"], b"")?)?;
    assert_eq!(list.stdout, "ada\tdisabled\twrite:app/\n");
    ok(hightower_with_stdin(&data, &["user", "del", "ada"], b"")?)?;
    let list = ok(hightower_with_stdin(&data, &["user", "list"], b"")?)?;
    assert_eq!(list.stdout, "");
    let missing = hightower_with_stdin(&data, &["user", "del", "ada"], b"")?;
    assert_eq!(missing.code, Some(2), "{missing:?}");

    assert!(!printed.contains(&key_hex), "the master key was printed");
    assert!(!printed.contains("correct horse"));
    Ok(())
}

#[test]
fn master_key_file_is_taken_from_the_flag_or_the_environment() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let named = tmp.path().join("elsewhere.key");

    let named_text = named.to_str().context("utf-8")?;
    let add_with_named_key = || {
        hightower_with_stdin(
            &data,
            &[
                "user",
                "add",
                "ada",
                "--password-stdin",
                "--master-key-file",
                named_text,
            ],
            b"correct horse\n",
        )
    };

    // A named file must exist: it is never generated.
    let missing = add_with_named_key()?;
    assert_eq!(missing.code, Some(2), "{missing:?}");
    assert!(missing.stderr.contains("does not exist"), "{missing:?}");

    std::fs::write(&named, format!("7 {}\n", "ab".repeat(32)))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&named, std::fs::Permissions::from_mode(0o644))?;
        let open = add_with_named_key()?;
        assert_eq!(open.code, Some(2), "{open:?}");
        assert!(open.stderr.contains("chmod 600"), "{open:?}");
        std::fs::set_permissions(&named, std::fs::Permissions::from_mode(0o600))?;
    }

    let output = Command::new(env!("CARGO_BIN_EXE_hightower"))
        .arg("--data-dir")
        .arg(&data)
        .args(["user", "add", "ada", "--password-stdin"])
        .env("HIGHTOWER_MASTER_KEY_FILE", &named)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child
                .stdin
                .take()
                .expect("piped")
                .write_all(b"correct horse\n")?;
            child.wait_with_output()
        })?;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("generated"), "{stderr}");
    assert!(!tmp.path().join("data.master-key").exists());
    assert!(!stderr.contains(&"ab".repeat(32)));
    Ok(())
}
