//! The master key of the envelope encryptor, shared by `serve` and the
//! `user` and `apikey` commands: where its file is, loading it, and
//! creating it (mode 0600) when a command that writes finds none.
//!
//! The file is `--master-key-file`, else the file named by
//! `HIGHTOWER_MASTER_KEY_FILE`, else `<data-dir>.master-key` beside the
//! data directory. The key itself is never printed.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hightower_auth::{EnvelopeEncryptor, MasterKey};
use zeroize::Zeroizing;

/// The environment variable naming the master key file.
const MASTER_KEY_FILE_ENV: &str = "HIGHTOWER_MASTER_KEY_FILE";

/// What to do when the default key file does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missing {
    /// Create it with a new key (commands that write).
    Create,
    /// Use a throwaway key and create nothing (commands that only list,
    /// and so decrypt nothing).
    Throwaway,
}

/// The loaded keyring, and the file it came from if one was created.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// The encryptor over the file's keys.
    pub(crate) encryptor: EnvelopeEncryptor,
    /// The path of a key file this call created, for the caller to report.
    pub(crate) created: Option<PathBuf>,
}

/// Loads the master key for the store in `data_dir`; see the module docs.
pub(crate) fn load(data_dir: &Path, flag: Option<&Path>, missing: Missing) -> Result<Loaded> {
    let (path, named) = key_file_path(data_dir, flag)?;
    if path.exists() {
        let encryptor = read_key_file(&path)?;
        return Ok(Loaded {
            encryptor,
            created: None,
        });
    }
    if named {
        bail!("master key file {} does not exist", path.display());
    }
    let key = MasterKey::generate(1)?;
    if missing == Missing::Throwaway {
        return Ok(Loaded {
            encryptor: EnvelopeEncryptor::new(key),
            created: None,
        });
    }
    let mut file = create_owner_only(&path)?;
    file.write_all(
        b"# Hightower KV master keys: <id> <64 hex digits>; the highest id seals new data.\n",
    )?;
    file.write_all(key.to_key_file_line().as_bytes())?;
    file.sync_all()
        .with_context(|| format!("cannot sync master key file {}", path.display()))?;
    sync_parent_dir(&path)?;
    Ok(Loaded {
        encryptor: EnvelopeEncryptor::new(key),
        created: Some(path),
    })
}

/// The key file and whether the user named it (flag or environment).
fn key_file_path(data_dir: &Path, flag: Option<&Path>) -> Result<(PathBuf, bool)> {
    if let Some(path) = flag {
        return Ok((path.to_path_buf(), true));
    }
    if let Some(path) = std::env::var_os(MASTER_KEY_FILE_ENV).filter(|p| !p.is_empty()) {
        return Ok((PathBuf::from(path), true));
    }
    let Some(name) = data_dir.file_name() else {
        bail!(
            "cannot place a master key beside data directory {}; pass --master-key-file",
            data_dir.display()
        );
    };
    let mut file_name = name.to_owned();
    file_name.push(".master-key");
    Ok((data_dir.with_file_name(file_name), false))
}

fn read_key_file(path: &Path) -> Result<EnvelopeEncryptor> {
    let mut file = File::open(path)
        .with_context(|| format!("cannot open master key file {}", path.display()))?;
    check_owner_only(&file, path)?;
    let mut text = Zeroizing::new(String::new());
    file.read_to_string(&mut text)
        .with_context(|| format!("cannot read master key file {}", path.display()))?;
    EnvelopeEncryptor::from_key_file(&text)
        .with_context(|| format!("master key file {}", path.display()))
}

/// Creates a new file readable only by its owner (failing when it exists).
pub(crate) fn create_owner_only(path: &Path) -> Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

/// Makes the directory entry of a file just created durable: without
/// this, a crash can lose the file even though its bytes were synced.
pub(crate) fn sync_parent_dir(path: &Path) -> Result<()> {
    // A bare file name's parent is the empty path: the current directory.
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .with_context(|| format!("cannot sync directory {}", dir.display()))
}

#[cfg(unix)]
fn check_owner_only(file: &File, path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = file.metadata()?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "master key file {} is open to other users (mode {mode:04o}); run chmod 600 on it",
            path.display()
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_owner_only(_file: &File, _path: &Path) -> Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_created_key_file_is_owner_only_and_loads_again() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let data_dir = dir.path().join("data");
        let created = load(&data_dir, None, Missing::Create)?
            .created
            .context("no key file existed, so one is created")?;
        assert_eq!(created, dir.path().join("data.master-key"));
        let mode = std::fs::metadata(&created)?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "mode {mode:04o}");
        let again = load(&data_dir, None, Missing::Create)?;
        assert!(again.created.is_none(), "the existing key file is used");
        Ok(())
    }
}
