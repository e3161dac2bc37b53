//! The command-line surface of `hightower`: clap definitions only; the
//! work is in [`crate::commands`].

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Exit statuses, shown at the end of `--help`.
const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  success
  1  `get`: the key is absent
  2  any other failure (bad arguments, I/O, a locked or unreadable data directory)
  3  a compare-and-set (--expect-version, --expect-absent) found another version; nothing was written
  4  `verify`: a segment is corrupt or unreadable";

/// Hightower KV: a crash-safe, versioned key-value store.
///
/// Keys and values are taken from the arguments byte for byte. Output
/// shows them as ASCII: bytes outside printable ASCII as `\xNN`, and tab,
/// newline, carriage return and backslash as `\t`, `\n`, `\r` and `\\`.
#[derive(Debug, Parser)]
#[command(name = "hightower", version, after_help = EXIT_STATUS_HELP)]
pub(crate) struct Cli {
    /// The data directory.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "./hightower-data",
        help_heading = "Global options"
    )]
    pub(crate) data_dir: PathBuf,

    /// When writes reach the disk [default: sync; for bench: periodic].
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "MODE",
        help_heading = "Global options"
    )]
    pub(crate) durability: Option<DurabilityArg>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The `--durability` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DurabilityArg {
    /// fdatasync before a write is acknowledged (concurrent writers share one).
    Sync,
    /// fdatasync every 100 ms in the background.
    Periodic,
    /// No explicit fdatasync; the operating system writes back when it will.
    None,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Set a key; prints the version the write got.
    Put(PutArgs),
    /// Print a key's value (exit status 1 when the key is absent).
    Get(GetArgs),
    /// Delete a key; prints the version of the deletion.
    Del(DelArgs),
    /// Print `key<TAB>value` lines for the keys with a prefix, in key order.
    Scan(ScanArgs),
    /// Print the number of keys, the latest version, the time the last open
    /// took, and per segment its live and dead bytes.
    Stats,
    /// Check every checksum and footer of every segment.
    Verify,
    /// Rewrite the live records of segments with dead ones and delete the
    /// old segments; prints what the pass did.
    Compact(CompactArgs),
    /// Run a built-in workload (like RocksDB's db_bench) in a scratch
    /// directory and print throughput and latency per phase.
    Bench(BenchArgs),
    /// Serve the data directory over the Redis protocol (RESP2 and RESP3)
    /// until SIGINT or SIGTERM.
    Serve(Box<hightower_server::server::config::ServeArgs>),
    /// Manage users: add, passwd, disable, del, list.
    User(UserArgs),
    /// Manage API keys: create, revoke, list.
    Apikey(ApiKeyArgs),
    /// Raft group tools: new-secret, status, add-learner, promote, remove.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Write every live key of the stopped store in `--data-dir`, with its
    /// value, version and expiry time, into a new backup directory.
    Backup(BackupArgs),
    /// Check a backup and install it into an empty or missing `--data-dir`.
    Restore(RestoreArgs),
}

/// Arguments of `backup`.
#[derive(Debug, Args)]
pub(crate) struct BackupArgs {
    /// The backup directory to write; it must be missing or empty.
    #[arg(long, value_name = "DIR")]
    pub(crate) to: PathBuf,
}

/// Arguments of `restore`.
#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    /// The backup directory to read (as `backup --to` wrote it).
    #[arg(long, value_name = "DIR")]
    pub(crate) from: PathBuf,
}

/// The `cluster` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum ClusterCommand {
    /// Write a new random cluster secret to FILE (mode 0600), for
    /// `serve --cluster-secret-file` on every node of a group.
    NewSecret {
        /// The file to create; it must not exist.
        file: std::path::PathBuf,
    },
    /// Show the group as a node sees it: its members, who leads, and how
    /// far each member's log is (the leader knows every member's).
    Status(ClusterNodeArgs),
    /// Add a started node as a learner: it gets the log, or a snapshot,
    /// but does not vote until promoted.
    AddLearner {
        #[command(flatten)]
        node: ClusterNodeArgs,
        /// The new node's id (its `serve --node-id`).
        id: u64,
        /// The new node's Raft address (its `serve --raft-listen`).
        raft_addr: String,
    },
    /// Make a learner that caught up a voter (through joint consensus).
    Promote {
        #[command(flatten)]
        node: ClusterNodeArgs,
        /// The learner's id.
        id: u64,
    },
    /// Remove a voter or a learner from the group (through joint
    /// consensus); stop its process afterwards.
    Remove {
        #[command(flatten)]
        node: ClusterNodeArgs,
        /// The member's id.
        id: u64,
    },
}

/// Which node a `cluster` subcommand asks, and the secret it proves.
#[derive(Debug, Args)]
pub(crate) struct ClusterNodeArgs {
    /// The Raft address of any member; a change is sent on to the leader.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7391")]
    pub(crate) node: String,
    /// The group's cluster secret file (as given to `serve`).
    #[arg(long, value_name = "FILE")]
    pub(crate) cluster_secret_file: PathBuf,
}

/// Compare-and-set conditions of `put` and `del`.
#[derive(Debug, Args)]
pub(crate) struct ExpectArgs {
    /// Write only when the key is at this version now.
    #[arg(long, value_name = "VERSION", conflicts_with = "expect_absent")]
    pub(crate) expect_version: Option<u64>,

    /// Write only when the key is absent now.
    #[arg(long)]
    pub(crate) expect_absent: bool,
}

/// Arguments of `put`.
#[derive(Debug, Args)]
pub(crate) struct PutArgs {
    /// The key (non-empty).
    pub(crate) key: OsString,
    /// The value.
    pub(crate) value: OsString,
    #[command(flatten)]
    pub(crate) expect: ExpectArgs,
}

/// Arguments of `get`.
#[derive(Debug, Args)]
pub(crate) struct GetArgs {
    /// The key.
    pub(crate) key: OsString,
    /// Print the version before the value, separated by a tab.
    #[arg(long)]
    pub(crate) with_version: bool,
    /// Write the value's bytes unescaped and without a trailing newline.
    #[arg(long, conflicts_with = "with_version")]
    pub(crate) raw: bool,
}

/// Arguments of `del`.
#[derive(Debug, Args)]
pub(crate) struct DelArgs {
    /// The key.
    pub(crate) key: OsString,
    #[command(flatten)]
    pub(crate) expect: ExpectArgs,
}

/// Arguments of `scan`.
#[derive(Debug, Args)]
pub(crate) struct ScanArgs {
    /// Only keys starting with these bytes (the empty default matches every key).
    #[arg(long, value_name = "P", default_value = "")]
    pub(crate) prefix: OsString,
    /// Print at most this many keys.
    #[arg(long, value_name = "N")]
    pub(crate) limit: Option<usize>,
}

/// Arguments of `compact`.
#[derive(Debug, Args)]
pub(crate) struct CompactArgs {
    /// Take only the segments the automatic policy would (at least 60 %
    /// dead, 8 MiB of garbage in all, 16 at most), instead of every segment
    /// with a dead byte.
    #[arg(long)]
    pub(crate) policy: bool,

    /// Take at most this many segments (the most dead bytes first).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_segments: Option<u32>,
}

/// The phases `bench` can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Workload {
    /// Put every key once, in random order.
    Fillrandom,
    /// Get N keys picked uniformly at random.
    Readrandom,
    /// Put N keys picked uniformly at random over existing ones.
    Overwrite,
    /// One full compaction pass (the table shows the bytes it read and
    /// reclaimed); `fillrandom` again before it overwrites every key once.
    Compact,
}

/// Arguments of `bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Number of distinct keys, and of operations per phase.
    #[arg(long, value_name = "N", default_value_t = 1_000_000,
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub(crate) keys: u64,

    /// Bytes per value.
    #[arg(long, value_name = "B", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(0..=16 * 1024 * 1024))]
    pub(crate) value_size: u32,

    /// Bytes per key (random bytes from a seeded generator).
    #[arg(long, value_name = "B", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(8..=1024))]
    pub(crate) key_size: u16,

    /// Client threads; each runs an equal share of every phase.
    #[arg(long, value_name = "T", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub(crate) threads: u16,

    /// Writes per `submit_batch` call (1: one `submit` per write).
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub(crate) batch_size: u32,

    /// Phases to run, in order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        value_name = "LIST",
        default_value = "fillrandom,readrandom,overwrite"
    )]
    pub(crate) workload: Vec<Workload>,

    /// Seed of the key and value generator.
    #[arg(long, value_name = "SEED", default_value_t = 0x4854_4b56)]
    pub(crate) seed: u64,

    /// A phase stops after this many seconds even when unfinished.
    #[arg(long, value_name = "SECS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub(crate) phase_seconds_max: u64,

    /// Scratch data directory, emptied before the run and removed after it
    /// [default: <DATA_DIR>/bench]. It must be empty or made by an earlier
    /// `bench`.
    #[arg(long, value_name = "DIR")]
    pub(crate) bench_dir: Option<PathBuf>,

    /// Keep the scratch directory after the run.
    #[arg(long)]
    pub(crate) keep: bool,

    /// Automatic compaction during the run.
    #[arg(long, value_enum, value_name = "MODE", default_value = "on")]
    pub(crate) compaction: Switch,

    /// Segment size in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=3072))]
    pub(crate) segment_mib: u32,

    /// Automatic compaction takes segments at least this dead (0..=1)
    /// [default: the engine's].
    #[arg(long, value_name = "R", value_parser = parse_ratio)]
    pub(crate) compaction_dead_ratio: Option<f64>,

    /// Automatic compaction takes at most this many segments per pass
    /// [default: the engine's].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) compaction_max_segments: Option<u32>,
}

/// A number between 0 and 1.
fn parse_ratio(text: &str) -> Result<f64, String> {
    let ratio: f64 = text.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&ratio) {
        Ok(ratio)
    } else {
        Err(format!("{ratio} is not between 0 and 1"))
    }
}

/// On or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Switch {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// Where the master key of the envelope encryptor is.
#[derive(Debug, Args)]
pub(crate) struct MasterKeyArgs {
    /// The master key file [default: $HIGHTOWER_MASTER_KEY_FILE, else
    /// <DATA_DIR>.master-key beside the data directory, created with mode
    /// 0600 by a command that writes when missing].
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) master_key_file: Option<PathBuf>,
}

/// How a new password is read: never from the arguments.
#[derive(Debug, Args)]
pub(crate) struct PasswordArgs {
    /// Read the password from the first line of standard input instead of
    /// asking on the terminal (without echo).
    #[arg(long)]
    pub(crate) password_stdin: bool,
}

/// Arguments of `user`.
#[derive(Debug, Args)]
pub(crate) struct UserArgs {
    #[command(flatten)]
    pub(crate) master_key: MasterKeyArgs,
    #[command(subcommand)]
    pub(crate) command: UserCommand,
}

/// The `user` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Create a user; the password is asked for twice (or read from stdin).
    Add(UserAddArgs),
    /// Set a new password.
    Passwd {
        /// The user name.
        name: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Refuse the user's logins and API keys.
    Disable {
        /// The user name.
        name: String,
    },
    /// Delete the user and its API keys.
    Del {
        /// The user name.
        name: String,
    },
    /// Print `name<TAB>enabled|disabled<TAB>grants` lines.
    List,
}

/// Arguments of `user add`.
#[derive(Debug, Args)]
pub(crate) struct UserAddArgs {
    /// The user name (1-64 ASCII letters, digits, `.`, `_`, `-`, `@`).
    pub(crate) name: String,
    /// A grant, `read:PREFIX`, `write:PREFIX` or `admin:PREFIX` (repeatable;
    /// an empty prefix covers every key).
    #[arg(long, value_name = "GRANT")]
    pub(crate) grant: Vec<String>,
    #[command(flatten)]
    pub(crate) password: PasswordArgs,
}

/// Arguments of `apikey`.
#[derive(Debug, Args)]
pub(crate) struct ApiKeyArgs {
    #[command(flatten)]
    pub(crate) master_key: MasterKeyArgs,
    #[command(subcommand)]
    pub(crate) command: ApiKeyCommand,
}

/// The `apikey` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum ApiKeyCommand {
    /// Create a key and print its token (shown only this once).
    Create(ApiKeyCreateArgs),
    /// Revoke a key by its id.
    Revoke {
        /// The key id (the 16 hex digits after `hk_`).
        id: String,
    },
    /// Print `id<TAB>owner<TAB>state<TAB>expiry<TAB>grants<TAB>label` lines.
    List {
        /// Only the keys of this user.
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
    },
}

/// Arguments of `apikey create`.
#[derive(Debug, Args)]
pub(crate) struct ApiKeyCreateArgs {
    /// The user the key acts for.
    pub(crate) user: String,
    /// A grant (repeatable), as for `user add`; the key gets only what its
    /// owner's grants also allow [default: the owner's grants].
    #[arg(long, value_name = "GRANT")]
    pub(crate) grant: Vec<String>,
    /// A label to tell keys apart.
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub(crate) label: String,
    /// The key stops working this many days after its creation.
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub(crate) expires_days: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn workloads_parse_as_a_comma_list() {
        let cli =
            Cli::try_parse_from(["hightower", "bench", "--workload", "readrandom,fillrandom"])
                .expect("valid");
        let Command::Bench(args) = cli.command else {
            panic!("bench expected")
        };
        assert_eq!(args.workload, [Workload::Readrandom, Workload::Fillrandom]);
    }

    #[test]
    fn expect_flags_exclude_each_other() {
        let parsed = Cli::try_parse_from([
            "hightower",
            "put",
            "k",
            "v",
            "--expect-version",
            "3",
            "--expect-absent",
        ]);
        assert!(parsed.is_err());
    }
}
