//! `user add|passwd|disable|del|list` and `apikey create|revoke|list`:
//! managing the users and API keys of the store in `--data-dir` through
//! [`hightower_auth::AuthService`].
//!
//! Passwords are read without echo from the terminal, or from standard
//! input with `--password-stdin`; never from the arguments. The master key
//! of the envelope encryptor comes from `--master-key-file`, else from the
//! file named by `HIGHTOWER_MASTER_KEY_FILE`, else from
//! `<data-dir>.master-key` beside the data directory, which a command that
//! writes creates (mode 0600) when it is missing. The key is never printed.

use std::io::{BufRead, BufWriter, Write};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use hightower_auth::{
    ApiKeyInfo, ApiKeyOptions, AuthService, Grant, PASSWORD_BYTES_MAX, SecretHasher, UserInfo,
};
use hightower_engine::SingleNodeEngine;
use zeroize::Zeroizing;

use super::master_key::{self, Missing};
use super::{Access, open_engine};
use crate::cli::{
    ApiKeyArgs, ApiKeyCommand, ApiKeyCreateArgs, Cli, MasterKeyArgs, PasswordArgs, UserAddArgs,
    UserArgs, UserCommand,
};

/// What `list` prints at most.
const LIST_LIMIT: usize = 1_000_000;

/// Runs `hightower user ...`.
pub(crate) fn user(cli: &Cli, args: &UserArgs) -> Result<()> {
    match &args.command {
        UserCommand::Add(add) => user_add(cli, &args.master_key, add),
        UserCommand::Passwd { name, password } => {
            let auth = open_auth(cli, &args.master_key, Access::MustExist, KeyUse::Create)?;
            let password = read_new_password(name, password)?;
            auth.change_password(name, password.as_bytes())
                .with_context(|| format!("cannot change the password of {name:?}"))?;
            eprintln!("hightower: password of user {name:?} changed");
            Ok(())
        }
        UserCommand::Disable { name } => {
            let auth = open_auth(cli, &args.master_key, Access::MustExist, KeyUse::Create)?;
            auth.disable_user(name)
                .with_context(|| format!("cannot disable user {name:?}"))?;
            eprintln!("hightower: user {name:?} disabled; its logins and API keys are refused");
            Ok(())
        }
        UserCommand::Del { name } => {
            let auth = open_auth(cli, &args.master_key, Access::MustExist, KeyUse::Create)?;
            auth.delete_user(name)
                .with_context(|| format!("cannot delete user {name:?}"))?;
            eprintln!("hightower: user {name:?} and its API keys deleted");
            Ok(())
        }
        UserCommand::List => {
            let auth = open_auth(cli, &args.master_key, Access::MustExist, KeyUse::ReadOnly)?;
            let users = auth.list_users(LIST_LIMIT).context("cannot list users")?;
            print_lines(users.iter().map(user_line))
        }
    }
}

/// Runs `hightower apikey ...`.
pub(crate) fn apikey(cli: &Cli, args: &ApiKeyArgs) -> Result<()> {
    match &args.command {
        ApiKeyCommand::Create(create) => apikey_create(cli, &args.master_key, create),
        ApiKeyCommand::Revoke { id } => {
            let auth = open_auth(cli, &args.master_key, Access::MustExist, KeyUse::Create)?;
            auth.revoke_api_key(id)
                .with_context(|| format!("cannot revoke API key {id}"))?;
            eprintln!("hightower: API key {id} revoked");
            Ok(())
        }
        ApiKeyCommand::List { user } => {
            let auth = open_auth(cli, &args.master_key, Access::MustExist, KeyUse::ReadOnly)?;
            let keys = auth
                .list_api_keys(user.as_deref(), LIST_LIMIT)
                .context("cannot list API keys")?;
            let now_ms = unix_ms(SystemTime::now());
            print_lines(keys.iter().map(|key| key_line(key, now_ms)))
        }
    }
}

fn user_add(cli: &Cli, master_key: &MasterKeyArgs, args: &UserAddArgs) -> Result<()> {
    let grants = parse_grants(&args.grant)?;
    hightower_auth::validate_user_name(&args.name)?;
    let auth = open_auth(cli, master_key, Access::CreateMissing, KeyUse::Create)?;
    let password = read_new_password(&args.name, &args.password)?;
    auth.create_user(&args.name, password.as_bytes(), grants)
        .with_context(|| format!("cannot create user {:?}", args.name))?;
    eprintln!("hightower: user {:?} created", args.name);
    Ok(())
}

fn apikey_create(cli: &Cli, master_key: &MasterKeyArgs, args: &ApiKeyCreateArgs) -> Result<()> {
    let options = ApiKeyOptions {
        label: args.label.clone(),
        grants: (!args.grant.is_empty())
            .then(|| parse_grants(&args.grant))
            .transpose()?,
        expires_in: args
            .expires_days
            .map(|days| Duration::from_secs(u64::from(days) * 86_400)),
    };
    let auth = open_auth(cli, master_key, Access::MustExist, KeyUse::Create)?;
    let key = auth
        .create_api_key(&args.user, options)
        .with_context(|| format!("cannot create an API key for {:?}", args.user))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", key.token.expose_secret())?;
    out.flush()?;
    eprintln!(
        "hightower: API key {} created for {:?}; the token above is shown only this once",
        key.id, args.user
    );
    Ok(())
}

fn parse_grants(texts: &[String]) -> Result<Vec<Grant>> {
    texts
        .iter()
        .map(|text| Grant::parse(text).map_err(anyhow::Error::from))
        .collect()
}

/// `name<TAB>enabled|disabled<TAB>grants`, grants separated by spaces.
fn user_line(user: &UserInfo) -> String {
    let state = if user.disabled { "disabled" } else { "enabled" };
    format!(
        "{}\t{state}\t{}",
        user.name,
        grants_text(Some(&user.grants))
    )
}

/// `id<TAB>owner<TAB>active|revoked|expired<TAB>expiry<TAB>grants<TAB>label`.
fn key_line(key: &ApiKeyInfo, now_ms: u64) -> String {
    let state = if key.revoked_unix_ms.is_some() {
        "revoked"
    } else if key.is_active(now_ms) {
        "active"
    } else {
        "expired"
    };
    let expiry = key
        .expires_unix_ms
        .map_or_else(|| "never".to_owned(), |ms| format!("{}", ms / 1000));
    format!(
        "{}\t{}\t{state}\t{expiry}\t{}\t{}",
        key.id,
        key.owner,
        grants_text(key.grants.as_ref()),
        key.label
    )
}

fn grants_text(grants: Option<&Vec<Grant>>) -> String {
    match grants {
        None => "(owner's)".to_owned(),
        Some(grants) if grants.is_empty() => "(none)".to_owned(),
        Some(grants) => grants
            .iter()
            .map(Grant::to_string)
            .collect::<Vec<_>>()
            .join(" "),
    }
}

fn print_lines(lines: impl Iterator<Item = String>) -> Result<()> {
    let mut out = BufWriter::new(std::io::stdout().lock());
    for line in lines {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(())
}

fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

// ----- Passwords -----

/// A new password, typed twice on the terminal or read from stdin.
fn read_new_password(name: &str, args: &PasswordArgs) -> Result<Zeroizing<String>> {
    if args.password_stdin {
        return read_password_line(std::io::stdin().lock());
    }
    let first = Zeroizing::new(
        rpassword::prompt_password(format!("New password for {name}: ")).context(
            "cannot read the password from the terminal (use --password-stdin to pipe it)",
        )?,
    );
    let second = Zeroizing::new(
        rpassword::prompt_password("Repeat it: ")
            .context("cannot read the password from the terminal")?,
    );
    if first != second {
        bail!("the two passwords differ; nothing was changed");
    }
    Ok(first)
}

/// The first line of `input`, without its line ending, refused when it is
/// over the password limit (read no further than the limit allows).
fn read_password_line(input: impl BufRead) -> Result<Zeroizing<String>> {
    // The limit, the line ending (up to two bytes), and one more byte to
    // tell an oversize password from one at the limit.
    let read_max = PASSWORD_BYTES_MAX + 3;
    let mut line = Zeroizing::new(Vec::with_capacity(read_max));
    let limit = u64::try_from(read_max).expect("a small constant");
    input
        .take(limit)
        .read_until(b'\n', &mut line)
        .context("cannot read the password from stdin")?;
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    if line.len() > PASSWORD_BYTES_MAX {
        bail!("the password on stdin is over {PASSWORD_BYTES_MAX} bytes");
    }
    let text = std::str::from_utf8(&line).context("the password on stdin is not UTF-8")?;
    Ok(Zeroizing::new(text.to_owned()))
}

// ----- The service and its master key -----

/// Whether a command may create the master key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyUse {
    /// A command that writes: the key file is created when missing.
    Create,
    /// A command that only lists: nothing is decrypted, so without a key
    /// file a throwaway key will do, and no file is created.
    ReadOnly,
}

fn open_auth(
    cli: &Cli,
    master_key: &MasterKeyArgs,
    access: Access,
    key_use: KeyUse,
) -> Result<AuthService<SingleNodeEngine>> {
    let missing = match key_use {
        KeyUse::Create => Missing::Create,
        KeyUse::ReadOnly => Missing::Throwaway,
    };
    let loaded = master_key::load(
        &cli.data_dir,
        master_key.master_key_file.as_deref(),
        missing,
    )?;
    if let Some(path) = &loaded.created {
        eprintln!(
            "hightower: generated a new master key in {} (mode 0600); keep it safe and \
             apart from the data directory: without it, encrypted user metadata cannot be read",
            path.display()
        );
    }
    let engine = Arc::new(open_engine(cli, access)?);
    let hasher = SecretHasher::builder().build()?;
    Ok(AuthService::new(engine, hasher, loaded.encryptor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_lines_lose_their_line_ending() {
        for input in [
            &b"secret\n"[..],
            b"secret\r\n",
            b"secret",
            b"secret\nsecond line\n",
        ] {
            let password = read_password_line(input).unwrap();
            assert_eq!(password.as_str(), "secret");
        }
    }

    #[test]
    fn oversize_passwords_on_stdin_are_refused() {
        let at_limit = vec![b'a'; PASSWORD_BYTES_MAX];
        assert_eq!(
            read_password_line(&at_limit[..]).unwrap().len(),
            PASSWORD_BYTES_MAX
        );
        let over = vec![b'a'; PASSWORD_BYTES_MAX + 1];
        assert!(read_password_line(&over[..]).is_err());
        let mut over_with_newline = over.clone();
        over_with_newline.push(b'\n');
        assert!(read_password_line(&over_with_newline[..]).is_err());
    }
}
