//! One client connection: read what arrived, execute every complete request
//! in it (pipelining), write the replies in one go, repeat.
//!
//! Bounds: the input buffer holds at most one request frame beyond what
//! was executed (the parser refuses frames above the request limit), and
//! at most `pending_replies_max` replies or [`OUTPUT_FLUSH_BYTES`] wait
//! to be written: past either, the connection writes before it parses
//! more. Reads wait at most the idle timeout, writes too.
//!
//! Before a connection authenticates it gets the small limits of
//! [`ParserLimits::unauthenticated`], and the bytes all unauthenticated
//! connections hold in their input buffers together stay below
//! [`UNAUTHENTICATED_INPUT_BYTES_MAX`]: past it, the connection that
//! brought the excess gets an error and is closed.
//!
//! A request that reads as HTTP (a `POST` or `Host:` line, or an HTTP
//! request line) closes the connection without a reply, in every mode: a
//! web page can make a browser send such bytes to a loopback port, and its
//! body must never run as commands.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

use crate::server::Shared;
use crate::server::auth::Principal;
use crate::server::coalesce::{Commit, SetBatch};
use crate::server::commands::transactions::MultiState;
use crate::server::dispatch::{self, Ctx};
use crate::server::metrics::ServerMetrics;
use crate::server::resp::{
    ParserLimits, Protocol, ProtocolError, ReplyWriter, Request, RequestParser,
};

/// Replies are written once this many bytes are waiting, even when more
/// requests were read.
pub(crate) const OUTPUT_FLUSH_BYTES: usize = 256 * 1024;

/// Initial capacity of a connection's input and output buffers.
const BUFFER_BYTES_INITIAL: usize = 16 * 1024;

/// Bytes that all connections not yet authenticated may hold in their
/// input buffers together.
pub(crate) const UNAUTHENTICATED_INPUT_BYTES_MAX: usize = 16 * 1024 * 1024;

/// How long a refused connection gets to read its error.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// A connection's own state, as commands see and change it.
#[derive(Debug)]
pub(crate) struct Session {
    /// The connection id (`CLIENT ID`), unique while the server runs.
    pub(crate) id: u64,
    /// The client's address.
    pub(crate) peer: SocketAddr,
    /// The server's address of this connection.
    pub(crate) local: Option<SocketAddr>,
    /// `CLIENT SETNAME`.
    pub(crate) name: Option<Vec<u8>>,
    /// `CLIENT SETINFO LIB-NAME` and `LIB-VER`.
    pub(crate) library: (Option<Vec<u8>>, Option<Vec<u8>>),
    /// RESP2 until `HELLO 3`.
    pub(crate) protocol: Protocol,
    /// Who the connection acts as; `None` until it authenticates.
    pub(crate) principal: Option<Principal>,
    /// When the connection was accepted.
    pub(crate) created: Instant,
    /// Set by `QUIT` (and fatal errors): close after the replies are sent.
    pub(crate) closing: bool,
    /// `MULTI`'s queue and `WATCH`'s keys.
    pub(crate) multi: MultiState,
    /// `READONLY`: reads see this node's state without asking the
    /// group's leader (a node of a Raft group only).
    pub(crate) follower_reads: bool,
}

/// What the state of a connection is moved around as, between the network
/// task and the blocking pool.
#[derive(Debug)]
struct Connection {
    session: Session,
    parser: RequestParser,
    input: BytesMut,
    output: Vec<u8>,
    /// Consecutive plain SETs and MSETs, and the replies of the last
    /// batch while they wait for durability.
    sets: SetBatch,
    unauthenticated: InputAccount,
}

/// This connection's share of the bytes held by unauthenticated
/// connections; given back when it authenticates or closes.
#[derive(Debug)]
struct InputAccount {
    total: Arc<AtomicUsize>,
    held: usize,
}

impl InputAccount {
    /// Sets this connection's share to `bytes`; false when that takes the
    /// total past [`UNAUTHENTICATED_INPUT_BYTES_MAX`].
    fn hold(&mut self, bytes: usize) -> bool {
        let within = if bytes >= self.held {
            let grown = bytes - self.held;
            self.total.fetch_add(grown, Ordering::AcqRel) + grown <= UNAUTHENTICATED_INPUT_BYTES_MAX
        } else {
            self.total.fetch_sub(self.held - bytes, Ordering::AcqRel);
            true
        };
        self.held = bytes;
        within
    }
}

impl Drop for InputAccount {
    fn drop(&mut self) {
        self.total.fetch_sub(self.held, Ordering::AcqRel);
    }
}

/// What executing the buffered requests came to.
#[derive(Debug, PartialEq, Eq)]
enum Progress {
    /// Every complete request ran; read more.
    Drained,
    /// Replies reached their bound; write them, then execute again.
    Full,
    /// Sets wait for their fsync, and the next request may depend on
    /// them: write the replies once the sets are durable, then execute
    /// again.
    Awaiting,
    /// The next request may wait on the disk: execute on the blocking pool.
    NeedsBlocking,
    /// The next request checks a password: execute on the password-check
    /// pool.
    NeedsHashing,
    /// Write the replies, then close.
    Close,
}

/// Starts serving `stream` when a connection slot is free; otherwise
/// answers with Redis's error and closes it.
pub(crate) fn admit(
    connections: &mut JoinSet<()>,
    stream: TcpStream,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    slots: &Arc<Semaphore>,
    shutdown: &watch::Receiver<bool>,
) {
    let metrics = &shared.metrics;
    let Ok(permit) = slots.clone().try_acquire_owned() else {
        ServerMetrics::add(&metrics.connections_rejected, 1);
        tracing::warn!(%peer, limit = shared.config.max_connections, "connection limit reached; refusing");
        tokio::spawn(refuse(stream));
        return;
    };
    ServerMetrics::add(&metrics.connections_received, 1);
    let shared = shared.clone();
    let shutdown = shutdown.clone();
    connections.spawn(async move {
        serve(stream, peer, shared, shutdown, permit).await;
    });
}

async fn refuse(mut stream: TcpStream) {
    let reply = b"-ERR max number of clients reached\r\n";
    let _ = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, stream.write_all(reply)).await;
}

/// Serves one connection until the client leaves, breaks the protocol,
/// idles too long, or the server shuts down.
async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let id = shared.next_client_id.fetch_add(1, Ordering::Relaxed);
    let authorizer = &shared.authorizer;
    let session = Session {
        id,
        peer,
        local: stream.local_addr().ok(),
        name: None,
        library: (None, None),
        protocol: Protocol::Resp2,
        principal: (!authorizer.requires_auth()).then(|| authorizer.default_principal()),
        created: Instant::now(),
        closing: false,
        multi: MultiState::default(),
        follower_reads: false,
    };
    let limits = match session.principal {
        Some(_) => shared.limits,
        None => ParserLimits::unauthenticated(),
    };
    let connection = Connection {
        session,
        parser: RequestParser::new(limits),
        input: BytesMut::with_capacity(BUFFER_BYTES_INITIAL),
        output: Vec::with_capacity(BUFFER_BYTES_INITIAL),
        sets: SetBatch::default(),
        unauthenticated: InputAccount {
            total: shared.unauthenticated_input_bytes.clone(),
            held: 0,
        },
    };
    ServerMetrics::add(&shared.metrics.connected_clients, 1);
    tracing::debug!(id, %peer, "connection opened");
    let reason = run(&mut stream, connection, &shared, &mut shutdown).await;
    shared
        .metrics
        .connected_clients
        .fetch_sub(1, Ordering::Relaxed);
    tracing::debug!(id, %peer, reason, "connection closed");
}

/// The read-execute-write loop; returns why it ended.
async fn run(
    stream: &mut TcpStream,
    mut connection: Connection,
    shared: &Arc<Shared>,
    shutdown: &mut watch::Receiver<bool>,
) -> &'static str {
    let idle_timeout = shared.config.idle_timeout();
    loop {
        let read = tokio::select! {
            biased;
            _ = shutdown.wait_for(|stopping| *stopping) => return "server shutdown",
            read = read_some(stream, &mut connection.input, idle_timeout) => read,
        };
        match read {
            Ok(0) if connection.input.is_empty() => return "client closed",
            Ok(0) => return "client closed in the middle of a request",
            Ok(n) => ServerMetrics::add(&shared.metrics.net_input_bytes, n as u64),
            Err(ReadError::Idle) => {
                ServerMetrics::add(&shared.metrics.idle_disconnects, 1);
                return "idle timeout";
            }
            Err(ReadError::Io(error)) => {
                tracing::debug!(id = connection.session.id, %error, "read failed");
                return "read error";
            }
        }
        if !connection.account_input() {
            tracing::warn!(
                id = connection.session.id,
                peer = %connection.session.peer,
                limit_bytes = UNAUTHENTICATED_INPUT_BYTES_MAX,
                "unauthenticated connections hold too much input; closing one"
            );
            let reply =
                b"-ERR too much input from unauthenticated connections; authenticate first\r\n";
            let _ = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, stream.write_all(reply)).await;
            return "unauthenticated input over the global bound";
        }
        loop {
            let Some((executed, progress)) = execute(connection, shared).await else {
                return "a command task failed";
            };
            connection = executed;
            connection.await_durable(shared).await;
            if write_out(stream, &mut connection.output, shared, idle_timeout)
                .await
                .is_err()
            {
                return "write error or timeout";
            }
            match progress {
                Progress::Full
                | Progress::Awaiting
                | Progress::NeedsBlocking
                | Progress::NeedsHashing => continue,
                Progress::Close => return "closed by the server",
                Progress::Drained => break,
            }
        }
        connection.shrink_input();
        connection.account_input();
    }
}

impl Connection {
    /// Counts the input held while unauthenticated (nothing once
    /// authenticated); false when the global bound is passed.
    fn account_input(&mut self) -> bool {
        let held = match self.session.principal {
            Some(_) => 0,
            None => self.input.len(),
        };
        self.unauthenticated.hold(held)
    }

    /// Holds the replies of sets that wait for their fsync until the
    /// syncer reports them durable, or replaces them with the error when
    /// they never will be.
    async fn await_durable(&mut self, shared: &Shared) {
        let (Some(awaiting), Some(syncer)) = (self.sets.take_awaiting(), &shared.syncer) else {
            return;
        };
        if let Err(error) = syncer.wait(awaiting.seq).await {
            awaiting.fail(
                &mut self.output,
                self.session.protocol,
                &error,
                &shared.metrics,
            );
        }
    }

    /// Gives back the memory of a large request once it is executed.
    fn shrink_input(&mut self) {
        if self.input.is_empty() && self.input.capacity() > 4 * OUTPUT_FLUSH_BYTES {
            self.input = BytesMut::with_capacity(BUFFER_BYTES_INITIAL);
        }
    }
}

/// Where requests run, and so which of them may run there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    /// A network thread: none that may block or check a password.
    Network,
    /// tokio's blocking pool: any but a password check.
    Blocking,
    /// The password-check pool: the next request (a password check), then
    /// as on a network thread.
    Hashing,
    /// A network thread while the password-check pool is full: the next
    /// request (a password check) is refused, then as on `Network`.
    HashRefused,
}

/// Executes the buffered requests, moving to the blocking pool or the
/// password-check pool when the next request needs it. `None` when a
/// task there failed (and the connection state went with it).
async fn execute(
    mut connection: Connection,
    shared: &Arc<Shared>,
) -> Option<(Connection, Progress)> {
    let progress = execute_buffered(&mut connection, shared, Lane::Network);
    match progress {
        Progress::NeedsBlocking => on_blocking_pool(connection, shared).await,
        Progress::NeedsHashing => on_hash_pool(connection, shared).await,
        _ => Some((connection, progress)),
    }
}

async fn on_blocking_pool(
    mut connection: Connection,
    shared: &Arc<Shared>,
) -> Option<(Connection, Progress)> {
    let task_shared = shared.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let progress = execute_buffered(&mut connection, &task_shared, Lane::Blocking);
        (connection, progress)
    })
    .await;
    match outcome {
        Ok(done) => Some(done),
        Err(error) => {
            tracing::error!(%error, "a blocking command task failed");
            None
        }
    }
}

async fn on_hash_pool(
    connection: Connection,
    shared: &Arc<Shared>,
) -> Option<(Connection, Progress)> {
    let task_shared = shared.clone();
    let queued = shared.hash_pool.try_run(connection, move |mut connection| {
        let progress = execute_buffered(&mut connection, &task_shared, Lane::Hashing);
        (connection, progress)
    });
    match queued {
        Ok(done) => match done.await {
            Ok(done) => Some(done),
            Err(_) => {
                tracing::error!("a password check task failed");
                None
            }
        },
        Err(mut connection) => {
            let progress = execute_buffered(&mut connection, shared, Lane::HashRefused);
            Some((connection, progress))
        }
    }
}

/// Executes complete requests from the input buffer until it is drained,
/// the replies reach their bound, a request the lane may not run comes
/// up, or (under `sync`) sets wait for their fsync before a request that
/// is not one. Consecutive plain SETs and MSETs are committed together
/// ([`SetBatch`]).
fn execute_buffered(connection: &mut Connection, shared: &Shared, mut lane: Lane) -> Progress {
    let Connection {
        session,
        parser,
        input,
        output,
        sets,
        ..
    } = connection;
    let writes_block = shared.writes_block();
    let replicated = shared.replicated();
    sets.commit_as(match lane {
        Lane::Blocking => Commit::Now,
        _ if !writes_block => Commit::Now,
        _ if shared.syncer.is_some() => Commit::Deferred,
        _ => Commit::Elsewhere,
    });
    let mut consumed = 0;
    let mut replies = 0;
    let progress = loop {
        if session.closing {
            break Progress::Close;
        }
        if replies >= shared.config.pending_replies_max || output.len() >= OUTPUT_FLUSH_BYTES {
            break Progress::Full;
        }
        let request = match parser.parse(&input[consumed..]) {
            Ok(Some(request)) => request,
            Ok(None) => break Progress::Drained,
            Err(error) => {
                ServerMetrics::add(&shared.metrics.protocol_errors, 1);
                tracing::debug!(id = session.id, peer = %session.peer, %error, "protocol error");
                sets.flush(&mut Ctx {
                    shared,
                    session,
                    out: output,
                });
                ReplyWriter::new(output, session.protocol).error(&format!(
                    "ERR Protocol error: {}",
                    protocol_error_text(&error, session.principal.is_some())
                ));
                session.closing = true;
                break Progress::Close;
            }
        };
        if looks_like_http(&request) {
            ServerMetrics::add(&shared.metrics.protocol_errors, 1);
            tracing::warn!(
                id = session.id,
                peer = %session.peer,
                "an HTTP request arrived on the Redis port (a web page may be attacking it); closing"
            );
            sets.flush(&mut Ctx {
                shared,
                session,
                out: output,
            });
            session.closing = true;
            break Progress::Close;
        }
        let spec = request.get(0).and_then(dispatch::lookup);
        // A write under the auth prefix runs alone, so that dispatch sees it.
        let auth_record = spec.is_some_and(|spec| dispatch::names_auth_record(spec, &request));
        let mut ctx = Ctx {
            shared,
            session,
            out: output,
        };
        if !auth_record && sets.try_add(&mut ctx, &request) {
            consumed += request.frame_bytes();
            replies += 1;
            continue;
        }
        if sets.holds_deferred() {
            break Progress::Awaiting;
        }
        if dispatch::needs_hashing(spec, &request) {
            match lane {
                Lane::Network | Lane::Blocking => break Progress::NeedsHashing,
                Lane::Hashing => lane = Lane::Network,
                Lane::HashRefused => {
                    lane = Lane::Network;
                    consumed += request.frame_bytes();
                    replies += 1;
                    refuse_password_check(sets, shared, session, output);
                    continue;
                }
            }
        } else if lane != Lane::Blocking && dispatch::may_block(spec, writes_block, replicated) {
            break Progress::NeedsBlocking;
        }
        consumed += request.frame_bytes();
        if request.is_empty() {
            continue;
        }
        replies += 1;
        let mut ctx = Ctx {
            shared,
            session,
            out: output,
        };
        sets.flush(&mut ctx);
        dispatch::execute(&mut ctx, &request, spec);
        if session.principal.is_some() && *parser.limits() != shared.limits {
            parser.set_limits(shared.limits);
        }
    };
    sets.flush(&mut Ctx {
        shared,
        session,
        out: output,
    });
    input.advance(consumed);
    progress
}

/// Answers a password check that found the password-check pool full.
fn refuse_password_check(
    sets: &mut SetBatch,
    shared: &Shared,
    session: &mut Session,
    output: &mut Vec<u8>,
) {
    sets.flush(&mut Ctx {
        shared,
        session,
        out: output,
    });
    ServerMetrics::add(&shared.metrics.command_errors, 1);
    tracing::debug!(id = session.id, peer = %session.peer, "password check refused: the pool is full");
    ReplyWriter::new(output, session.protocol)
        .error("ERR too many password checks in progress; retry later (an API key needs none)");
}

/// The text of a protocol error; before authentication the limits named
/// are the small ones, and Redis's words for them are used.
fn protocol_error_text(error: &ProtocolError, authenticated: bool) -> String {
    match error {
        ProtocolError::TooManyArguments { .. } if !authenticated => {
            "unauthenticated multibulk length".to_string()
        }
        ProtocolError::BulkTooLarge { .. } if !authenticated => {
            "unauthenticated bulk length".to_string()
        }
        other => other.to_string(),
    }
}

/// HTTP methods whose request line (`METHOD target HTTP/x`) closes a
/// connection.
const HTTP_METHODS: [&[u8]; 9] = [
    b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"CONNECT", b"TRACE",
];

/// Whether a request reads as part of an HTTP request: a `POST` or a
/// `Host:` header line (what Redis refuses), or a request line.
fn looks_like_http(request: &Request<'_>) -> bool {
    let Some(first) = request.get(0) else {
        return false;
    };
    if first.eq_ignore_ascii_case(b"POST") || first.eq_ignore_ascii_case(b"HOST:") {
        return true;
    }
    request.len() == 3
        && HTTP_METHODS
            .iter()
            .any(|method| first.eq_ignore_ascii_case(method))
        && request.arg(2).starts_with(b"HTTP/")
}

/// Why a read ended without data.
#[derive(Debug)]
enum ReadError {
    /// Nothing arrived within the idle timeout.
    Idle,
    /// The socket failed.
    Io(std::io::Error),
}

async fn read_some(
    stream: &mut TcpStream,
    input: &mut BytesMut,
    idle_timeout: Option<Duration>,
) -> Result<usize, ReadError> {
    if input.capacity() - input.len() < 4096 {
        input.reserve(BUFFER_BYTES_INITIAL);
    }
    let read = stream.read_buf(input);
    match idle_timeout {
        Some(limit) => tokio::time::timeout(limit, read)
            .await
            .map_err(|_| ReadError::Idle)?
            .map_err(ReadError::Io),
        None => read.await.map_err(ReadError::Io),
    }
}

async fn write_out(
    stream: &mut TcpStream,
    output: &mut Vec<u8>,
    shared: &Shared,
    timeout: Option<Duration>,
) -> std::io::Result<()> {
    if output.is_empty() {
        return Ok(());
    }
    let write = stream.write_all(output);
    match timeout {
        Some(limit) => tokio::time::timeout(limit, write)
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??,
        None => write.await?,
    }
    ServerMetrics::add(&shared.metrics.net_output_bytes, output.len() as u64);
    output.clear();
    if output.capacity() > 4 * OUTPUT_FLUSH_BYTES {
        output.shrink_to(BUFFER_BYTES_INITIAL);
    }
    Ok(())
}
