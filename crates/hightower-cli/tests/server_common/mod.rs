//! Helpers shared by the server's integration tests: start the built
//! `hightower serve` on a free loopback port, connect clients, stop it by
//! signal or kill it.

// Each test file is its own crate and uses a different subset of these.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use hightower_server::server::resp::{ParserLimits, Value, decode_value};

/// How long a server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a stopped server may take to exit.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a raw test socket waits for the server.
pub(crate) const SOCKET_TIMEOUT: Duration = Duration::from_secs(10);

/// A running `hightower serve` child process, killed when dropped.
pub(crate) struct TestServer {
    child: Option<Child>,
    /// The address it listens on.
    pub(crate) addr: SocketAddr,
    /// The address of its metrics endpoint, when started with one.
    pub(crate) metrics_addr: Option<SocketAddr>,
    /// Lines it printed on stdout before `listening on`.
    pub(crate) banner: Vec<String>,
    /// Its data directory.
    pub(crate) data_dir: PathBuf,
    stderr_path: PathBuf,
}

impl TestServer {
    /// Starts `hightower --data-dir DIR serve --listen 127.0.0.1:0 ARGS...`
    /// (without the `--listen` when ARGS have one).
    pub(crate) fn start(data_dir: &Path, args: &[&str]) -> Result<TestServer> {
        let listen: &[&str] = if args.contains(&"--listen") {
            &[]
        } else {
            &["--listen", "127.0.0.1:0"]
        };
        let stderr_path = data_dir.with_extension(format!("stderr-{}", std::process::id()));
        let stderr = std::fs::File::create(&stderr_path)
            .with_context(|| format!("creating {}", stderr_path.display()))?;
        let mut child = Command::new(env!("CARGO_BIN_EXE_hightower"))
            .arg("--data-dir")
            .arg(data_dir)
            .arg("serve")
            .args(listen)
            .args(["--log-level", "debug"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .context("spawning hightower serve")?;
        let stdout = child.stdout.take().context("stdout is piped")?;
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = TestServer {
            child: Some(child),
            addr: "127.0.0.1:0".parse()?,
            metrics_addr: None,
            banner: Vec::new(),
            data_dir: data_dir.to_path_buf(),
            stderr_path,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = received.recv_timeout(left) else {
                bail!(
                    "the server did not start listening; stderr:\n{}",
                    server.stderr()
                );
            };
            if let Some(addr) = line.strip_prefix("metrics on ") {
                server.metrics_addr = Some(addr.trim().parse()?);
            } else if let Some(addr) = line.strip_prefix("listening on ") {
                server.addr = addr.trim().parse()?;
                return Ok(server);
            } else {
                server.banner.push(line);
            }
        }
    }

    /// Starts the server without authentication (the usual test setup).
    pub(crate) fn start_open(data_dir: &Path, args: &[&str]) -> Result<TestServer> {
        let mut all = vec!["--no-auth"];
        all.extend_from_slice(args);
        Self::start(data_dir, &all)
    }

    /// What the server logged so far.
    pub(crate) fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// A `redis` client for the server.
    pub(crate) fn client(&self) -> Result<redis::Client> {
        Ok(redis::Client::open(format!("redis://{}/", self.addr))?)
    }

    /// A new connection of the `redis` client, with timeouts.
    pub(crate) fn connect(&self) -> Result<redis::Connection> {
        let connection = self.client()?.get_connection()?;
        connection.set_read_timeout(Some(SOCKET_TIMEOUT))?;
        connection.set_write_timeout(Some(SOCKET_TIMEOUT))?;
        Ok(connection)
    }

    /// A raw socket to the server, with timeouts.
    pub(crate) fn raw(&self) -> Result<TcpStream> {
        let stream = TcpStream::connect(self.addr)?;
        stream.set_read_timeout(Some(SOCKET_TIMEOUT))?;
        stream.set_write_timeout(Some(SOCKET_TIMEOUT))?;
        Ok(stream)
    }

    /// The process id.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub(crate) fn terminate(self) -> Result<ExitStatus> {
        let pid = self.pid().context("already stopped")?;
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .context("running kill -TERM")?;
        ensure!(status.success(), "kill -TERM failed");
        self.terminate_after_signal()
    }

    /// Waits for the process to exit after a signal was sent to it.
    pub(crate) fn terminate_after_signal(mut self) -> Result<ExitStatus> {
        let mut child = self.child.take().context("already stopped")?;
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "the server did not exit after SIGTERM; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.stderr_path);
    }
}

/// Writes `request` on a raw socket and reads until the server closes it
/// or `SOCKET_TIMEOUT` passes; returns what it sent back and whether it
/// closed the connection.
pub(crate) fn exchange_until_close(
    stream: &mut TcpStream,
    request: &[u8],
) -> Result<(Vec<u8>, bool)> {
    stream.write_all(request)?;
    let mut reply = Vec::new();
    let mut buffer = [0_u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return Ok((reply, true)),
            Ok(n) => reply.extend_from_slice(&buffer[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::ConnectionReset) => {
                return Ok((reply, true));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Ok((reply, false));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Reads exactly the bytes of `expected` from a raw socket and compares.
pub(crate) fn expect_reply(stream: &mut TcpStream, expected: &[u8]) -> Result<()> {
    let mut got = vec![0_u8; expected.len()];
    stream.read_exact(&mut got)?;
    ensure!(
        got == expected,
        "expected {:?}, got {:?}",
        String::from_utf8_lossy(expected),
        String::from_utf8_lossy(&got)
    );
    Ok(())
}

/// The error of a failed `redis` call as the server sent it:
/// `CODE message`.
pub(crate) fn error_text(error: &redis::RedisError) -> String {
    match (error.code(), error.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_string(),
        _ => error.to_string(),
    }
}

/// A `redis` command from its words.
pub(crate) fn command_of(args: &[&str]) -> redis::Cmd {
    let mut command = redis::cmd(args[0]);
    for arg in &args[1..] {
        command.arg(*arg);
    }
    command
}

/// Runs the command `args` and decodes its reply as `T`.
pub(crate) fn query<T: redis::FromRedisValue>(
    con: &mut redis::Connection,
    args: &[&str],
) -> Result<T> {
    Ok(command_of(args).query(con)?)
}

/// Runs the command `args`, which must fail; returns the error as the
/// server sent it.
pub(crate) fn refused(con: &mut redis::Connection, args: &[&str]) -> String {
    let outcome = command_of(args).query::<redis::Value>(con);
    error_text(&outcome.expect_err("an error"))
}

/// Reads one whole RESP2 or RESP3 value from a raw socket, decoded with
/// the server's own decoder.
pub(crate) fn read_value(stream: &mut TcpStream) -> Result<Value> {
    let limits = ParserLimits::default();
    let mut bytes = Vec::new();
    let mut chunk = [0_u8; 1];
    loop {
        if let Some((value, used)) = decode_value(&bytes, &limits)? {
            ensure!(used == bytes.len(), "read past one value");
            return Ok(value);
        }
        // One byte at a time, so that nothing of the next value is taken.
        stream.read_exact(&mut chunk)?;
        bytes.push(chunk[0]);
    }
}

/// A bulk string value.
pub(crate) fn bulk(text: &str) -> Value {
    Value::Bulk(text.as_bytes().to_vec())
}

/// The first admin's password, from the file the first start wrote.
pub(crate) fn admin_password(server: &TestServer) -> Result<String> {
    let path = server.data_dir.join("admin-password");
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
    Ok(text.trim().to_string())
}

/// Runs a `hightower` management command on a stopped server's data,
/// with `stdin` as its input; returns its standard output.
pub(crate) fn run_hightower(data: &Path, args: &[&str], stdin: &str) -> Result<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hightower"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let written = child
        .stdin
        .take()
        .context("stdin is piped")?
        .write_all(stdin.as_bytes());
    // A command that needs no password may exit before reading it.
    if let Err(error) = written
        && error.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(error.into());
    }
    let output = child.wait_with_output()?;
    ensure!(output.status.success(), "hightower {args:?}: {output:?}");
    Ok(String::from_utf8(output.stdout)?)
}

/// Adds a user with `password` and one grant (`read:b:`, say) to a
/// stopped server's data.
pub(crate) fn add_user(data: &Path, name: &str, password: &str, grant: &str) -> Result<()> {
    run_hightower(
        data,
        &["user", "add", name, "--grant", grant, "--password-stdin"],
        &format!("{password}\n"),
    )?;
    Ok(())
}

/// A raw socket to `addr` whose local end is `source` (another loopback
/// address, such as 127.0.0.2, to stand for a second client machine).
pub(crate) fn raw_from(source: std::net::IpAddr, addr: SocketAddr) -> Result<TcpStream> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(source, 0))?;
        socket.connect(addr).await
    })?;
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(SOCKET_TIMEOUT))?;
    stream.set_write_timeout(Some(SOCKET_TIMEOUT))?;
    Ok(stream)
}

/// Sends one command on a raw socket and reads its reply.
pub(crate) fn call(stream: &mut TcpStream, args: &[&[u8]]) -> Result<Value> {
    let mut request = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        request.extend_from_slice(arg);
        request.extend_from_slice(b"\r\n");
    }
    stream.write_all(&request)?;
    read_value(stream)
}

/// Fetches `path` from an HTTP endpoint (the metrics one).
pub(crate) fn http_get(addr: SocketAddr, path: &str) -> Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(SOCKET_TIMEOUT))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

/// The value of one sample line (`name value`) of a Prometheus text.
pub(crate) fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        line.strip_prefix(name)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}
