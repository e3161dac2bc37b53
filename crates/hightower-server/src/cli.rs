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
    /// Print the number of keys, the latest version, the segments and the
    /// time the last open took.
    Stats,
    /// Check every checksum and footer of every segment.
    Verify,
    /// Run a built-in workload (like RocksDB's db_bench) in a scratch
    /// directory and print throughput and latency per phase.
    Bench(BenchArgs),
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

/// The phases `bench` can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Workload {
    /// Put every key once, in random order.
    Fillrandom,
    /// Get N keys picked uniformly at random.
    Readrandom,
    /// Put N keys picked uniformly at random over existing ones.
    Overwrite,
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
