//! `put`, `get`, `del` and `scan`: one engine call each, on a store opened
//! for the duration of the command.

use std::ffi::OsStr;
use std::io::{BufWriter, Write};

use anyhow::{Context, Result};
use hightower_engine::{Command, Expect, KeyDisplay, KvEngine};

use super::{Access, open_engine};
use crate::cli::{Cli, DelArgs, ExpectArgs, GetArgs, PutArgs, ScanArgs};
use crate::escape::escape_bytes;

/// `get` found no value for the key (exit status 1).
#[derive(Debug)]
pub(crate) struct KeyNotFound {
    key: KeyDisplay,
}

impl std::fmt::Display for KeyNotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "key {:?} not found", self.key)
    }
}

impl std::error::Error for KeyNotFound {}

/// The argument's bytes as given (on Unix, any bytes; elsewhere UTF-8).
fn arg_bytes(arg: &OsStr) -> &[u8] {
    arg.as_encoded_bytes()
}

impl ExpectArgs {
    fn condition(&self) -> Expect {
        match (self.expect_version, self.expect_absent) {
            (Some(version), _) => Expect::Version(version),
            (None, true) => Expect::Absent,
            (None, false) => Expect::Any,
        }
    }
}

/// `hightower put KEY VALUE`: prints the version.
pub(crate) fn put(cli: &Cli, args: &PutArgs) -> Result<()> {
    let engine = open_engine(cli, Access::CreateMissing)?;
    let command = Command::put(arg_bytes(&args.key), arg_bytes(&args.value))
        .expecting(args.expect.condition());
    let version = engine.submit(command).context("put not applied")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{version}")?;
    out.flush()?;
    Ok(())
}

/// `hightower del KEY`: prints the version of the deletion.
pub(crate) fn del(cli: &Cli, args: &DelArgs) -> Result<()> {
    let engine = open_engine(cli, Access::CreateMissing)?;
    let command = Command::delete(arg_bytes(&args.key)).expecting(args.expect.condition());
    let version = engine.submit(command).context("delete not applied")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{version}")?;
    out.flush()?;
    Ok(())
}

/// `hightower get KEY`: prints the value, or fails with [`KeyNotFound`].
pub(crate) fn get(cli: &Cli, args: &GetArgs) -> Result<()> {
    let engine = open_engine(cli, Access::MustExist)?;
    let key = arg_bytes(&args.key);
    let found = engine.get(key).context("get failed")?;
    let Some(versioned) = found else {
        return Err(KeyNotFound {
            key: KeyDisplay(key.to_vec()),
        }
        .into());
    };
    let mut out = std::io::stdout().lock();
    if args.raw {
        out.write_all(&versioned.value)?;
    } else if args.with_version {
        writeln!(
            out,
            "{}\t{}",
            versioned.version,
            escape_bytes(&versioned.value)
        )?;
    } else {
        writeln!(out, "{}", escape_bytes(&versioned.value))?;
    }
    out.flush()?;
    Ok(())
}

/// `hightower scan --prefix P`: streams `key<TAB>value` lines from one
/// point-in-time view, so memory stays flat however many keys match.
pub(crate) fn scan(cli: &Cli, args: &ScanArgs) -> Result<()> {
    let engine = open_engine(cli, Access::MustExist)?;
    let view = engine.read_view().context("scan failed")?;
    let limit = args.limit.unwrap_or(usize::MAX);
    let mut out = BufWriter::new(std::io::stdout().lock());
    for item in view.prefix(arg_bytes(&args.prefix)).take(limit) {
        let kv = item.context("scan failed")?;
        writeln!(
            out,
            "{}\t{}",
            escape_bytes(&kv.key),
            escape_bytes(&kv.value)
        )?;
    }
    out.flush()?;
    Ok(())
}
