//! `cargo xtask bench --server`: `redis-benchmark` against `hightower
//! serve` and against a real `redis-server`, in one run, side by side.
//!
//! Both servers run on loopback ports of this machine at the same time:
//! Hightower (release build) under `--durability periodic` (fsync every
//! 100 ms) and Redis with `appendonly yes`, `appendfsync everysec`, no RDB
//! snapshots; with `-- --sync`, Hightower under `--durability sync` and
//! Redis with `appendfsync always` (every write durable before its reply). For each pipeline depth (1 and 16) and test (SET, then GET),
//! the rounds alternate between the two servers, and the table shows the
//! median of the rounds: ops/s, p50 and p99 latency, and Hightower's ratio
//! of ops/s. Both servers are stopped by pid at the end, also on failure.
//!
//! With `-- --cluster`, the other side is Hightower itself: three `hightower
//! serve` nodes of one Raft group on loopback, `redis-benchmark` against
//! the leader, beside a single node at the same durability, so the ratio
//! is what replication costs.
//!
//! Bounds: every `redis-benchmark` run has a request count and a time
//! limit, the servers get a time limit to start and to stop, and the
//! number of rounds is capped.
//!
//! `redis-server` and `redis-benchmark` come from the distribution
//! (`apt-get install redis-server redis-tools` on Debian and Ubuntu).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use xshell::{Shell, cmd};

/// How long a server may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a server may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one `redis-benchmark` run may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);
/// The pipeline depths measured.
const PIPELINES: [u32; 2] = [1, 16];
/// The tests measured, in order (GET reads what SET wrote).
const TESTS: [&str; 2] = ["set", "get"];

/// Options of the server benchmark, after `--`.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask bench --server --")]
struct Options {
    /// Requests per `redis-benchmark` run.
    #[arg(long, default_value_t = 200_000,
          value_parser = clap::value_parser!(u64).range(1_000..=10_000_000))]
    requests: u64,
    /// Parallel client connections.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1_000))]
    clients: u32,
    /// Random keys drawn from this many (`-r`); 0 (the default, as in the
    /// plain `redis-benchmark` command) uses one key for every request.
    #[arg(long, default_value_t = 0)]
    keyspace: u64,
    /// Bytes of each SET value (`-d`; redis-benchmark's own default is 3).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    value_bytes: u32,
    /// Rounds per measurement; the table shows the median.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=9))]
    rounds: u32,
    /// Compare every write made durable before it is acknowledged:
    /// Hightower `--durability sync` against Redis `appendfsync always`
    /// (instead of `periodic` against `everysec`).
    #[arg(long)]
    sync: bool,
    /// Compare a three-node Raft group of Hightower nodes (against its
    /// leader) with a single Hightower node, instead of with Redis.
    #[arg(long)]
    cluster: bool,
}

impl Options {
    /// Hightower's durability flag and Redis's appendfsync policy.
    fn modes(&self) -> (&'static str, &'static str) {
        if self.sync {
            ("sync", "always")
        } else {
            ("periodic", "everysec")
        }
    }
}

/// One `redis-benchmark` result row.
#[derive(Debug, Clone, Copy)]
struct Sample {
    ops_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// A server child process, stopped with SIGTERM (then killed) when dropped.
struct Running {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
}

impl Running {
    /// Sends SIGTERM and waits, bounded, for the exit; kills on timeout.
    fn stop(mut self) -> Result<()> {
        let status = terminate(&mut self.child)?;
        ensure!(status.success(), "{} exited with {status}", self.name);
        Ok(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = terminate(&mut self.child);
        }
    }
}

fn terminate(child: &mut Child) -> Result<std::process::ExitStatus> {
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let deadline = Instant::now() + STOP_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let status = child.wait()?;
            bail!("pid {pid} did not stop within {STOP_TIMEOUT:?} of SIGTERM; killed ({status})");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the comparison and prints the table.
pub(crate) fn run(sh: &Shell, args: &[String]) -> Result<()> {
    let options = Options::try_parse_from(
        std::iter::once("cargo xtask bench --server --".to_string()).chain(args.iter().cloned()),
    )?;
    let redis_version = check_tools(sh)?;
    let hightower = build_hightower(sh)?;
    let scratch = sh.current_dir().join("target").join("bench-server");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let (durability, appendfsync) = options.modes();
    if options.cluster {
        let group = start_group(&hightower, &scratch, durability)?;
        let single = start_hightower(&hightower, &scratch.join("single"), durability, &[])?;
        let rows = measure(&options, &group[0], &single)?;
        for node in group {
            node.stop()?;
        }
        single.stop()?;
        let _ = std::fs::remove_dir_all(&scratch);
        return print_table(&options, &redis_version, &rows);
    }
    let ours = start_hightower(&hightower, &scratch.join("hightower"), durability, &[])?;
    let theirs = start_redis(&scratch.join("redis"), appendfsync)?;
    let rows = measure(&options, &ours, &theirs)?;
    ours.stop()?;
    theirs.stop()?;
    let _ = std::fs::remove_dir_all(&scratch);
    print_table(&options, &redis_version, &rows)
}

/// Nodes of a Raft group.
const GROUP_NODES: u16 = 3;

/// Starts a group of three nodes under `dir` and returns them, the
/// leader first, once it leads.
fn start_group(binary: &Path, dir: &Path, durability: &str) -> Result<Vec<Running>> {
    std::fs::create_dir_all(dir)?;
    let secret = dir.join("cluster.secret");
    let status = Command::new(binary)
        .args(["cluster", "new-secret"])
        .arg(&secret)
        .stdout(Stdio::null())
        .status()?;
    ensure!(
        status.success(),
        "hightower cluster new-secret failed: {status}"
    );
    let raft_ports: Vec<u16> = (0..GROUP_NODES)
        .map(|_| free_port())
        .collect::<Result<_>>()?;
    let mut nodes = Vec::new();
    for id in 1..=GROUP_NODES {
        let mut args = vec![
            "--node-id".to_string(),
            id.to_string(),
            "--raft-listen".to_string(),
            format!("127.0.0.1:{}", raft_ports[usize::from(id - 1)]),
            "--cluster-secret-file".to_string(),
            secret.display().to_string(),
        ];
        for peer in (1..=GROUP_NODES).filter(|&peer| peer != id) {
            args.push("--peer".to_string());
            args.push(format!(
                "{peer}=127.0.0.1:{}",
                raft_ports[usize::from(peer - 1)]
            ));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        nodes.push(start_hightower(
            binary,
            &dir.join(format!("node-{id}")),
            durability,
            &args,
        )?);
    }
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        for at in 0..nodes.len() {
            if role(nodes[at].addr).is_ok_and(|role| role == "leader") {
                nodes.swap(0, at);
                return Ok(nodes);
            }
        }
        ensure!(
            Instant::now() < deadline,
            "the group elected no leader in {START_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `role` field of a node's `INFO replication`.
fn role(addr: SocketAddr) -> Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    stream.write_all(b"INFO replication\r\n")?;
    let mut reader = BufReader::new(stream);
    let mut header = String::new();
    reader.read_line(&mut header)?;
    let len: usize = header
        .strip_prefix('$')
        .and_then(|len| len.trim().parse().ok())
        .with_context(|| format!("INFO answered {header:?}"))?;
    ensure!(len <= 64 * 1024, "an INFO reply of {len} bytes");
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    let body = String::from_utf8(body)?;
    body.lines()
        .find_map(|line| line.strip_prefix("role:"))
        .map(|role| role.trim().to_string())
        .context("INFO replication names no role")
}

/// Checks that both Redis tools run; returns the server's version line.
fn check_tools(sh: &Shell) -> Result<String> {
    let missing = "`redis-server` and `redis-benchmark` are needed on PATH; on Debian or Ubuntu: \
                   apt-get install redis-server redis-tools";
    let version = cmd!(sh, "redis-server --version")
        .quiet()
        .read()
        .context(missing)?;
    cmd!(sh, "redis-benchmark --version")
        .quiet()
        .ignore_stdout()
        .run()
        .context(missing)?;
    Ok(version
        .split_whitespace()
        .find(|w| w.starts_with("v="))
        .unwrap_or("v=?")[2..]
        .to_string())
}

/// Builds the release binary; returns its path (wherever the target
/// directory is).
fn build_hightower(sh: &Shell) -> Result<PathBuf> {
    let messages = cmd!(
        sh,
        "cargo build --release -p hightower-cli --bin hightower --message-format json-render-diagnostics"
    )
    .read()
    .context("building the release `hightower` failed")?;
    for line in messages.lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] == "compiler-artifact"
            && message["target"]["name"] == "hightower"
            && let Some(path) = message["executable"].as_str()
        {
            return Ok(PathBuf::from(path));
        }
    }
    bail!("cargo did not report the `hightower` executable")
}

/// A free loopback port (bound and released: a small race remains).
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn start_hightower(
    binary: &Path,
    data_dir: &Path,
    durability: &str,
    args: &[&str],
) -> Result<Running> {
    let mut child = Command::new(binary)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--durability", durability, "serve", "--no-auth"])
        .args(["--listen", "127.0.0.1:0", "--log-level", "warn"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let stdout = child.stdout.take().context("stdout is piped")?;
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut running = Running {
        name: "hightower",
        child,
        addr: "127.0.0.1:0".parse()?,
    };
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = received
            .recv_timeout(left)
            .context("hightower serve did not report its address")?;
        if let Some(addr) = line.strip_prefix("listening on ") {
            running.addr = addr.trim().parse()?;
            wait_for_pong(running.addr)?;
            return Ok(running);
        }
    }
}

fn start_redis(dir: &Path, appendfsync: &str) -> Result<Running> {
    std::fs::create_dir_all(dir)?;
    let port = free_port()?;
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args([
            "--appendonly",
            "yes",
            "--appendfsync",
            appendfsync,
            "--save",
            "",
        ])
        .arg("--dir")
        .arg(dir)
        .args(["--daemonize", "no", "--loglevel", "warning"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start redis-server")?;
    let running = Running {
        name: "redis-server",
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    };
    wait_for_pong(running.addr)?;
    Ok(running)
}

/// Waits until `addr` answers PING, for at most `START_TIMEOUT`.
fn wait_for_pong(addr: SocketAddr) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let answered = (|| -> std::io::Result<bool> {
            let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
            stream.set_read_timeout(Some(Duration::from_secs(1)))?;
            stream.write_all(b"PING\r\n")?;
            let mut reply = [0_u8; 7];
            stream.read_exact(&mut reply)?;
            Ok(&reply == b"+PONG\r\n")
        })();
        if matches!(answered, Ok(true)) {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "{addr} did not answer PING in {START_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One line of the table.
#[derive(Debug)]
struct Row {
    test: &'static str,
    pipeline: u32,
    /// Hightower, or the group's leader with `--cluster`.
    ours: Sample,
    /// Redis, or the single node with `--cluster`.
    theirs: Sample,
}

fn measure(options: &Options, ours: &Running, theirs: &Running) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for pipeline in PIPELINES {
        for test in TESTS {
            let (mut ours_samples, mut theirs_samples) = (Vec::new(), Vec::new());
            for round in 1..=options.rounds {
                eprintln!(
                    "bench --server: {test} -P {pipeline}, round {round}/{}",
                    options.rounds
                );
                ours_samples.push(benchmark(options, ours.addr, test, pipeline)?);
                theirs_samples.push(benchmark(options, theirs.addr, test, pipeline)?);
            }
            rows.push(Row {
                test,
                pipeline,
                ours: median(&ours_samples),
                theirs: median(&theirs_samples),
            });
        }
    }
    Ok(rows)
}

/// One `redis-benchmark` run, bounded by `RUN_TIMEOUT`.
fn benchmark(options: &Options, addr: SocketAddr, test: &str, pipeline: u32) -> Result<Sample> {
    let mut command = Command::new("redis-benchmark");
    command
        .args(["-h", "127.0.0.1", "-p", &addr.port().to_string()])
        .args(["-t", test, "-c", &options.clients.to_string()])
        .args([
            "-n",
            &options.requests.to_string(),
            "-P",
            &pipeline.to_string(),
            "-d",
            &options.value_bytes.to_string(),
        ])
        .arg("--csv");
    if options.keyspace > 0 {
        command.args(["-r", &options.keyspace.to_string()]);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start redis-benchmark")?;
    let deadline = Instant::now() + RUN_TIMEOUT;
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("redis-benchmark {test} -P {pipeline} on {addr} took over {RUN_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut csv = String::new();
    child
        .stdout
        .take()
        .context("stdout is piped")?
        .read_to_string(&mut csv)?;
    parse_csv(&csv).with_context(|| format!("unexpected redis-benchmark output: {csv:?}"))
}

/// The data row of `redis-benchmark --csv`: test, rps, avg, min, p50,
/// p95, p99, max.
fn parse_csv(csv: &str) -> Result<Sample> {
    let row = csv
        .lines()
        .find(|line| !line.starts_with("\"test\"") && line.contains(','))
        .context("no data row")?;
    let fields: Vec<f64> = row
        .split(',')
        .skip(1)
        .map(|field| field.trim_matches('"').parse::<f64>())
        .collect::<Result<_, _>>()?;
    ensure!(fields.len() >= 6, "too few fields");
    Ok(Sample {
        ops_per_sec: fields[0],
        p50_ms: fields[3],
        p99_ms: fields[5],
    })
}

/// The sample with the median ops/s.
fn median(samples: &[Sample]) -> Sample {
    let mut sorted = samples.to_vec();
    sorted.sort_by(|a, b| a.ops_per_sec.total_cmp(&b.ops_per_sec));
    sorted[sorted.len() / 2]
}

fn print_table(options: &Options, redis_version: &str, rows: &[Row]) -> Result<()> {
    let (durability, appendfsync) = options.modes();
    let keys = match options.keyspace {
        0 => "one key".to_string(),
        n => format!("-r {n}"),
    };
    let keys = format!("{keys} -d {}", options.value_bytes);
    let (compared, ours_name, theirs_name) = if options.cluster {
        (
            format!(
                "hightower serve --durability {durability}: the leader of a {GROUP_NODES}-node \
                 group vs a single node"
            ),
            "group",
            "single",
        )
    } else {
        (
            format!(
                "hightower serve --durability {durability} vs redis-server {redis_version} \
                 (appendonly yes, appendfsync {appendfsync})"
            ),
            "hightower",
            "redis",
        )
    };
    let mut table = format!(
        "\nredis-benchmark -c {} -n {} {keys}, median of {} rounds\n{compared}\n\n\
         | test | pipeline | {ours_name} ops/s | p50 ms | p99 ms | {theirs_name} ops/s | p50 ms | p99 ms | ratio |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        options.clients, options.requests, options.rounds
    );
    for row in rows {
        let (ours, theirs) = (row.ours, row.theirs);
        table.push_str(&format!(
            "| {} | {} | {:.0} | {:.3} | {:.3} | {:.0} | {:.3} | {:.3} | {:.2}x |\n",
            row.test.to_uppercase(),
            row.pipeline,
            ours.ops_per_sec,
            ours.p50_ms,
            ours.p99_ms,
            theirs.ops_per_sec,
            theirs.p50_ms,
            theirs.p99_ms,
            ours.ops_per_sec / theirs.ops_per_sec,
        ));
    }
    let mut out = std::io::stdout().lock();
    out.write_all(table.as_bytes())?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_parse() {
        let csv = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\
                   \"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n\
                   \"SET\",\"81967.21\",\"0.331\",\"0.096\",\"0.295\",\"0.615\",\"0.807\",\"1.959\"\n";
        let sample = parse_csv(csv).expect("valid");
        assert_eq!(sample.ops_per_sec, 81967.21);
        assert_eq!(sample.p50_ms, 0.295);
        assert_eq!(sample.p99_ms, 0.807);
        assert!(parse_csv("garbage").is_err());
    }

    #[test]
    fn the_median_is_taken_by_throughput() {
        let sample = |ops_per_sec| Sample {
            ops_per_sec,
            p50_ms: ops_per_sec,
            p99_ms: 0.0,
        };
        let median = median(&[sample(3.0), sample(1.0), sample(2.0)]);
        assert_eq!(median.p50_ms, 2.0);
    }

    #[test]
    fn options_have_bounds() {
        let parse = |args: &[&str]| {
            Options::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
        };
        assert!(parse(&[]).is_ok());
        assert!(parse(&["--rounds", "0"]).is_err());
        assert!(parse(&["--requests", "10"]).is_err());
    }
}
