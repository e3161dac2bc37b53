//! Under `sync` durability the reply of a SET or an MSET goes out only
//! after the fsync that covers it, while the fsync is held the network
//! threads keep serving other connections (which do not see the write
//! yet), a read pipelined after the set waits for it and sees it, and
//! when the fsync fails the set gets an error, never `+OK`.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use hightower_engine::{Durability, EngineConfig, SingleNodeEngine};
use hightower_log::vfs::{FaultPlan, FaultyVfs};
use hightower_server::server::{DurabilityMode, OpenAccess, Server, ServerConfig};

/// How long a reply that should come may take before the test calls the
/// server stuck (a guard against a hang, not a speed bar).
const STUCK_AFTER: Duration = Duration::from_secs(20);

/// How long a connection is watched for a reply that must not come while
/// the fsync is held.
const QUIET_FOR: Duration = Duration::from_millis(300);

/// Lifts the faults when dropped, so that a failing test ends instead of
/// leaving the server's fsync held while it shuts down.
struct HealOnDrop(Arc<FaultPlan>);

impl Drop for HealOnDrop {
    fn drop(&mut self) {
        self.0.heal();
    }
}

struct Client(TcpStream);

impl Client {
    fn connect(addr: SocketAddr) -> anyhow::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(Client(stream))
    }

    fn send(&mut self, requests: &[&[&str]]) -> anyhow::Result<()> {
        let mut bytes = Vec::new();
        for request in requests {
            bytes.extend_from_slice(format!("*{}\r\n", request.len()).as_bytes());
            for arg in *request {
                bytes.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
            }
        }
        self.0.write_all(&bytes)?;
        Ok(())
    }

    /// Reads until `expected` has arrived whole; fails on anything else.
    fn expect(&mut self, expected: &str) -> anyhow::Result<()> {
        self.0.set_read_timeout(Some(STUCK_AFTER))?;
        let mut got = vec![0; expected.len()];
        self.0
            .read_exact(&mut got)
            .with_context(|| format!("waiting for {expected:?}"))?;
        ensure!(
            got == expected.as_bytes(),
            "expected {expected:?}, got {:?}",
            String::from_utf8_lossy(&got)
        );
        Ok(())
    }

    /// Reads one line (an error reply), whatever it says.
    fn line(&mut self) -> anyhow::Result<String> {
        self.0.set_read_timeout(Some(STUCK_AFTER))?;
        let mut line = Vec::new();
        let mut byte = [0];
        while !line.ends_with(b"\r\n") {
            self.0.read_exact(&mut byte)?;
            line.push(byte[0]);
        }
        Ok(String::from_utf8_lossy(&line).into_owned())
    }

    /// Fails if any byte arrives within [`QUIET_FOR`].
    fn expect_nothing(&mut self, why: &str) -> anyhow::Result<()> {
        self.0.set_read_timeout(Some(QUIET_FOR))?;
        let mut byte = [0];
        match self.0.read(&mut byte) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(()),
            Err(e) => Err(e.into()),
            Ok(0) => bail!("the server closed the connection"),
            Ok(_) => bail!("{why}"),
        }
    }
}

#[test]
fn a_sync_set_replies_only_after_its_fsync() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let vfs = FaultyVfs::new();
    let plan = vfs.plan().clone();
    let engine = SingleNodeEngine::with_config(
        EngineConfig::new(dir.path())
            .durability(Durability::Sync)
            .vfs(Arc::new(vfs)),
    )?;
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse()?,
        durability: DurabilityMode::Sync,
        ..ServerConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let server = runtime.block_on(Server::bind(config, Arc::new(engine), Arc::new(OpenAccess)))?;
    let addr = server.local_addr().context("the server has an address")?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = runtime.spawn(server.run(async {
        let _ = stopped.await;
    }));
    // Declared after the server, so dropped before it.
    let _heal = HealOnDrop(plan.clone());

    let mut writer = Client::connect(addr)?;
    let mut reader = Client::connect(addr)?;
    writer.send(&[&["SET", "k", "old"]])?;
    writer.expect("+OK\r\n")?;

    // The fsync of the next set is held: no reply, and others are served.
    plan.hold_syncs();
    writer.send(&[
        &["SET", "k", "new"],
        &["MSET", "j", "1", "m", "2"],
        &["GET", "k"],
    ])?;
    ensure!(
        plan.wait_for_held_sync(STUCK_AFTER),
        "the sets never reached their fsync"
    );
    writer.expect_nothing("a set was acknowledged before its fsync")?;
    let started = Instant::now();
    reader.send(&[&["GET", "k"], &["PING"]])?;
    reader.expect("$3\r\nold\r\n+PONG\r\n")?;
    ensure!(
        started.elapsed() < STUCK_AFTER,
        "another connection waited for the held fsync"
    );

    plan.release_syncs();
    writer.expect("+OK\r\n+OK\r\n$3\r\nnew\r\n")?;
    reader.send(&[&["MGET", "j", "m"]])?;
    reader.expect("*2\r\n$1\r\n1\r\n$1\r\n2\r\n")?;

    // A failed fsync: the set is refused, and so is every write after it.
    plan.set_fail_sync(true);
    writer.send(&[&["SET", "k", "lost"]])?;
    let reply = writer.line()?;
    ensure!(
        reply.starts_with("-ERR "),
        "a set whose fsync failed got {reply:?}"
    );
    writer.send(&[&["SET", "k", "later"]])?;
    let reply = writer.line()?;
    ensure!(
        reply.starts_with("-ERR "),
        "a set after a failed fsync got {reply:?}"
    );

    drop((writer, reader));
    let _ = stop.send(());
    // The engine is poisoned, so the shutdown's final sync fails.
    let outcome = runtime.block_on(serving)?;
    ensure!(outcome.is_err(), "shutdown reported {outcome:?}");
    Ok(())
}
