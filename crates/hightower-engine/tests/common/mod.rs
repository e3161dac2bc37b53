//! Helpers shared by the engine's integration tests: small configurations
//! that roll segments often, a full dump of an engine's contents, and the
//! segment files of a data directory; `crash_model` holds what a store
//! may hold after a power cut or a failed call.

#![allow(dead_code, reason = "each test file uses a different subset")]

pub(crate) mod crash_model;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hightower_engine::{Durability, EngineConfig, KvEngine};

/// Small segments, so a few hundred records already span several.
pub(crate) const SEGMENT_BYTES_SMALL: u64 = 8 * 1024;

/// Every key with its value and version.
pub(crate) type Contents = BTreeMap<Vec<u8>, (Vec<u8>, u64)>;

/// A configuration with small segments, the given durability and workers.
pub(crate) fn small_config(
    dir: &Path,
    durability: Durability,
    worker_threads: usize,
) -> EngineConfig {
    EngineConfig::new(dir)
        .segment_bytes_max(SEGMENT_BYTES_SMALL)
        .durability(durability)
        .worker_threads(worker_threads)
}

/// Everything an engine holds, read through one read view.
pub(crate) fn dump(engine: &impl KvEngine) -> anyhow::Result<Contents> {
    let view = engine.read_view()?;
    let mut contents = Contents::new();
    for item in view.iter() {
        let kv = item?;
        contents.insert(kv.key, (kv.value, kv.version));
    }
    Ok(contents)
}

/// The segment files of `dir`, lowest id first.
pub(crate) fn segment_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "log") {
            files.push(path);
        }
    }
    // Names are zero-padded ids, so name order is id order.
    files.sort();
    Ok(files)
}

/// The newest (highest-numbered) segment file of `dir`.
pub(crate) fn newest_segment(dir: &Path) -> anyhow::Result<PathBuf> {
    segment_files(dir)?
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no segment file in {}", dir.display()))
}

/// Text of a key for messages.
pub(crate) fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Opens the store with `config`, waiting up to `wait_max` out a lock held
/// for a moment by a process another test of the same binary is starting:
/// a forked child shares the parent's open lock file until it execs.
pub(crate) fn open_waiting_for_lock(
    config: impl Fn() -> EngineConfig,
    wait_max: std::time::Duration,
) -> Result<hightower_engine::SingleNodeEngine, hightower_engine::EngineError> {
    let deadline = std::time::Instant::now() + wait_max;
    loop {
        match hightower_engine::SingleNodeEngine::with_config(config()) {
            Err(hightower_engine::EngineError::Locked { .. })
                if std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            outcome => return outcome,
        }
    }
}

/// How a crash test runs its child: the test of this binary that plays the
/// child, its environment, how long to wait for it to say it is ready, and
/// how long after that to kill it.
pub(crate) struct CrashChild<'a> {
    pub(crate) test: &'a str,
    pub(crate) env: Vec<(&'a str, String)>,
    pub(crate) ready_wait_max: std::time::Duration,
    pub(crate) kill_delay_ms: std::ops::Range<u64>,
}

impl CrashChild<'_> {
    /// Re-runs this test binary as the child, lets `read` consume its
    /// stdout (signalling `ready` when the child says so), kills it with
    /// SIGKILL at a random moment, and returns what `read` gathered. A
    /// child that never got ready, or that failed on its own, is an error.
    pub(crate) fn run_and_kill<T: Send + 'static>(
        &self,
        read: impl FnOnce(std::process::ChildStdout, std::sync::mpsc::Sender<()>) -> std::io::Result<T>
        + Send
        + 'static,
    ) -> anyhow::Result<T> {
        use anyhow::Context as _;
        use rand::Rng as _;
        use std::io::Read as _;

        let mut command = std::process::Command::new(std::env::current_exe()?);
        command
            .args([
                self.test,
                "--exact",
                "--nocapture",
                "--test-threads",
                "1",
                "-q",
            ])
            .envs(self.env.iter().map(|(name, value)| (*name, value)))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().context("spawn the child")?;
        let stdout = child.stdout.take().context("the child's stdout is piped")?;
        let mut stderr = child.stderr.take().context("the child's stderr is piped")?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || read(stdout, ready_tx));
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let ready = ready_rx.recv_timeout(self.ready_wait_max);
        if ready.is_ok() {
            let delay_ms = rand::rng().random_range(self.kill_delay_ms.clone());
            std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        }
        child.kill().context("kill the child")?;
        let status = child.wait()?;
        let gathered = reader.join().expect("the reader does not panic")?;
        let stderr = errors.join().expect("the stderr reader does not panic");
        anyhow::ensure!(
            ready.is_ok(),
            "the child never became ready ({status}): {stderr}"
        );
        // Killed, or (rarely) done writing; anything else is the child failing.
        if status.code().is_some_and(|code| code != 0) {
            anyhow::bail!("the child failed on its own ({status}): {stderr}");
        }
        Ok(gathered)
    }
}
