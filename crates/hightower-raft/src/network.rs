//! The network between the nodes of a group: tokio TCP, one request and
//! one reply at a time on each connection, guarded by the cluster secret.
//!
//! # Frames
//!
//! Each message is a frame: its payload length (4 bytes big-endian), the
//! xxh3-64 of the payload (8 bytes big-endian), then the payload, the
//! postcard encoding of an [`RpcRequest`] or [`RpcResponse`]. A frame
//! longer than [`FRAME_BYTES_MAX`] or whose checksum fails closes the
//! connection before any of it is decoded.
//!
//! # The handshake
//!
//! A connection speaks Raft only after both sides proved they hold the
//! cluster secret, without sending it: the listener sends a random
//! 32-byte nonce; the dialer answers with a nonce of its own and
//! BLAKE2b-256(secret, "client", listener nonce, dialer nonce); the
//! listener checks it (in constant time) and answers with
//! BLAKE2b-256(secret, "server", dialer nonce, listener nonce), which the
//! dialer checks. A wrong or slow answer closes the connection. Frames
//! are not encrypted: run the Raft port on a private network.
//!
//! # Failures
//!
//! Every connect, write and read has a deadline; a link that failed drops
//! its connection and dials again on the next message, and openraft backs
//! off between attempts. The listener bounds its connections.
//!
//! # Connections kept for the next link
//!
//! openraft opens a link for every leadership confirmation, and a node
//! for every write or read point it forwards, so a link does not own its
//! connection for good: a link that is dropped after a whole exchange
//! hands its connection to its network's pool (at most
//! [`IDLE_CONNECTIONS_MAX`] per address), and the next link to that
//! address takes it instead of dialing and proving the secret again. A
//! pooled connection the other side closed meanwhile is noticed (a read
//! that ends at once) and dropped before it is used.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use blake2::{Blake2b256, Digest};
use hightower_repl::NodeId;
use openraft::error::{
    CheckIsLeaderError, ClientWriteError, InstallSnapshotError, NetworkError, RPCError, RaftError,
    RemoteError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RPCTypes, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, ClientWriteResponse, InstallSnapshotRequest,
    InstallSnapshotResponse, VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use xxhash_rust::xxh3::xxh3_64;
use zeroize::Zeroizing;

use crate::admin::{AdminReply, AdminRequest};
use crate::node::RaftNode;
use crate::types::{LogId, Node, Request, TypeConfig};

/// The largest frame a node sends or accepts.
pub const FRAME_BYTES_MAX: usize = 256 << 20;

/// Connections the listener serves at once.
pub const CONNECTIONS_MAX: usize = 64;

/// Bytes of the cluster secret.
pub const SECRET_BYTES: usize = 32;

/// Idle connections a network keeps per address.
pub const IDLE_CONNECTIONS_MAX: usize = 16;

const FRAME_HEADER_BYTES: usize = 12;
const NONCE_BYTES: usize = 32;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The secret every node of a group holds.
#[derive(Clone)]
pub struct ClusterSecret(Arc<Zeroizing<[u8; SECRET_BYTES]>>);

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterSecret(..)")
    }
}

impl ClusterSecret {
    /// A secret of these bytes.
    pub fn new(bytes: [u8; SECRET_BYTES]) -> Self {
        ClusterSecret(Arc::new(Zeroizing::new(bytes)))
    }

    /// A fresh random secret.
    pub fn generate() -> std::io::Result<Self> {
        let mut bytes = [0u8; SECRET_BYTES];
        getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
        Ok(Self::new(bytes))
    }

    /// The secret as a secret file holds it: 64 hex digits and a newline.
    pub fn to_file_text(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::with_capacity(SECRET_BYTES * 2 + 1));
        for byte in self.0.iter() {
            text.push_str(&format!("{byte:02x}"));
        }
        text.push('\n');
        text
    }

    /// Reads a secret file's text (64 hex digits; surrounding white space
    /// is ignored).
    pub fn from_file_text(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.len() != SECRET_BYTES * 2 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "a cluster secret is {} hex digits",
                SECRET_BYTES * 2
            ));
        }
        let mut bytes = [0u8; SECRET_BYTES];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[i * 2..i * 2 + 2], 16).expect("checked hex digits");
        }
        Ok(Self::new(bytes))
    }

    fn proof(&self, role: &[u8], first: &[u8], second: &[u8]) -> [u8; 32] {
        Blake2b256::new()
            .chain_update(self.0.as_slice())
            .chain_update(b"hightower-raft handshake ")
            .chain_update(role)
            .chain_update(first)
            .chain_update(second)
            .finalize()
            .into()
    }
}

/// A message from one node to another.
#[derive(Debug, Serialize, Deserialize)]
pub enum RpcRequest {
    /// Raft's log replication and heartbeats.
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    /// Raft's election.
    Vote(VoteRequest<NodeId>),
    /// One chunk of a snapshot.
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A client write a follower forwards to the leader.
    ClientWrite(Request),
    /// A follower asks the leader for a linearizable read point.
    ReadIndex,
    /// An operator's request, or a node's announcement of its client
    /// address.
    Admin(AdminRequest),
}

/// The answer to an [`RpcRequest`].
#[derive(Debug, Serialize, Deserialize)]
pub enum RpcResponse {
    /// To [`RpcRequest::AppendEntries`].
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    /// To [`RpcRequest::Vote`].
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    /// To [`RpcRequest::InstallSnapshot`].
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    /// To [`RpcRequest::ClientWrite`].
    ClientWrite(
        Result<ClientWriteResponse<TypeConfig>, RaftError<NodeId, ClientWriteError<NodeId, Node>>>,
    ),
    /// To [`RpcRequest::ReadIndex`]: the log id every read must wait for.
    ReadIndex(Result<Option<LogId>, RaftError<NodeId, CheckIsLeaderError<NodeId, Node>>>),
    /// To [`RpcRequest::Admin`].
    Admin(AdminReply),
}

/// Why a frame or a handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The socket failed or closed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A frame broke the format.
    #[error("bad frame: {0}")]
    Frame(String),
    /// The other side did not prove it holds the cluster secret.
    #[error("the peer does not hold the cluster secret")]
    Unauthenticated,
    /// A deadline passed.
    #[error("timed out")]
    Timeout,
}

async fn within<T>(
    deadline: Duration,
    work: impl std::future::Future<Output = Result<T, WireError>>,
) -> Result<T, WireError> {
    tokio::time::timeout(deadline, work)
        .await
        .map_err(|_| WireError::Timeout)?
}

async fn write_frame(stream: &mut TcpStream, message: &impl Serialize) -> Result<(), WireError> {
    let payload = postcard::to_allocvec(message).map_err(|e| WireError::Frame(e.to_string()))?;
    if payload.len() > FRAME_BYTES_MAX {
        return Err(WireError::Frame(format!(
            "a message of {} bytes is over the {FRAME_BYTES_MAX}-byte frame limit",
            payload.len()
        )));
    }
    let mut header = [0u8; FRAME_HEADER_BYTES];
    header[..4].copy_from_slice(&(payload.len() as u32).to_be_bytes());
    header[4..].copy_from_slice(&xxh3_64(&payload).to_be_bytes());
    stream.write_all(&header).await?;
    stream.write_all(&payload).await?;
    stream.flush().await?;
    Ok(())
}

async fn read_frame<T: serde::de::DeserializeOwned>(
    stream: &mut TcpStream,
) -> Result<T, WireError> {
    let mut header = [0u8; FRAME_HEADER_BYTES];
    stream.read_exact(&mut header).await?;
    let len = u32::from_be_bytes(header[..4].try_into().expect("4 bytes")) as usize;
    let checksum = u64::from_be_bytes(header[4..].try_into().expect("8 bytes"));
    if len > FRAME_BYTES_MAX {
        return Err(WireError::Frame(format!(
            "a frame of {len} bytes is over the {FRAME_BYTES_MAX}-byte limit"
        )));
    }
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).await?;
    if xxh3_64(&payload) != checksum {
        return Err(WireError::Frame("the checksum does not match".to_string()));
    }
    postcard::from_bytes(&payload).map_err(|e| WireError::Frame(e.to_string()))
}

fn nonce() -> Result<[u8; NONCE_BYTES], WireError> {
    let mut bytes = [0u8; NONCE_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| WireError::Io(std::io::Error::other(e)))?;
    Ok(bytes)
}

/// The listener's side of the handshake.
async fn accept_handshake(stream: &mut TcpStream, secret: &ClusterSecret) -> Result<(), WireError> {
    let ours = nonce()?;
    stream.write_all(&ours).await?;
    let mut answer = [0u8; NONCE_BYTES + 32];
    stream.read_exact(&mut answer).await?;
    let (theirs, proof) = answer.split_at(NONCE_BYTES);
    let expected = secret.proof(b"client", &ours, theirs);
    if !bool::from(expected.ct_eq(proof)) {
        return Err(WireError::Unauthenticated);
    }
    stream
        .write_all(&secret.proof(b"server", theirs, &ours))
        .await?;
    Ok(())
}

/// The dialer's side of the handshake.
async fn dial_handshake(stream: &mut TcpStream, secret: &ClusterSecret) -> Result<(), WireError> {
    let mut theirs = [0u8; NONCE_BYTES];
    stream.read_exact(&mut theirs).await?;
    let ours = nonce()?;
    let mut answer = [0u8; NONCE_BYTES + 32];
    answer[..NONCE_BYTES].copy_from_slice(&ours);
    answer[NONCE_BYTES..].copy_from_slice(&secret.proof(b"client", &theirs, &ours));
    stream.write_all(&answer).await?;
    let mut proof = [0u8; 32];
    stream.read_exact(&mut proof).await?;
    let expected = secret.proof(b"server", &ours, &theirs);
    if !bool::from(expected.ct_eq(&proof)) {
        return Err(WireError::Unauthenticated);
    }
    Ok(())
}

/// Serves the Raft port: accepts connections from the other nodes and
/// from operators, checks the secret, and hands each message to the node.
#[derive(Debug)]
pub struct RaftListener {
    listener: TcpListener,
    secret: ClusterSecret,
}

impl RaftListener {
    /// Binds the Raft port.
    pub async fn bind(addr: SocketAddr, secret: ClusterSecret) -> std::io::Result<Self> {
        Ok(RaftListener {
            listener: TcpListener::bind(addr).await?,
            secret,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until the task is dropped.
    pub async fn serve(self, node: RaftNode) {
        let permits = Arc::new(Semaphore::new(CONNECTIONS_MAX));
        loop {
            let (stream, peer) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "the Raft port failed to accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                tracing::warn!(%peer, "the Raft port is at its connection limit; closing");
                continue;
            };
            let (node, secret) = (node.clone(), self.secret.clone());
            tokio::spawn(async move {
                let _permit = permit;
                if let Err(error) = serve_connection(stream, &node, &secret).await {
                    match error {
                        WireError::Unauthenticated | WireError::Frame(_) => {
                            tracing::warn!(%peer, %error, "closing a Raft connection");
                        }
                        _ => tracing::debug!(%peer, %error, "a Raft connection closed"),
                    }
                }
            });
        }
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    node: &RaftNode,
    secret: &ClusterSecret,
) -> Result<(), WireError> {
    let raft = node.raft();
    stream.set_nodelay(true)?;
    within(HANDSHAKE_TIMEOUT, accept_handshake(&mut stream, secret)).await?;
    loop {
        let request: RpcRequest = read_frame(&mut stream).await?;
        let response = match request {
            RpcRequest::AppendEntries(rpc) => {
                RpcResponse::AppendEntries(raft.append_entries(rpc).await)
            }
            RpcRequest::Vote(rpc) => RpcResponse::Vote(raft.vote(rpc).await),
            RpcRequest::InstallSnapshot(rpc) => {
                RpcResponse::InstallSnapshot(raft.install_snapshot(rpc).await)
            }
            RpcRequest::ClientWrite(request) => {
                RpcResponse::ClientWrite(raft.client_write(request).await)
            }
            RpcRequest::ReadIndex => RpcResponse::ReadIndex(node.leader_read_point().await),
            RpcRequest::Admin(request) => RpcResponse::Admin(node.admin(request).await),
        };
        write_frame(&mut stream, &response).await?;
    }
}

/// Connections proven and idle, by address.
type IdlePool = Arc<parking_lot::Mutex<std::collections::HashMap<String, Vec<TcpStream>>>>;

/// The network factory of one node over TCP.
#[derive(Debug, Clone)]
pub struct TcpNetwork {
    secret: ClusterSecret,
    idle: IdlePool,
}

impl TcpNetwork {
    /// A network whose links prove `secret`.
    pub fn new(secret: ClusterSecret) -> Self {
        TcpNetwork {
            secret,
            idle: IdlePool::default(),
        }
    }

    /// A link to `target` at `addr`, outside openraft (for forwarded
    /// writes and read points).
    pub fn link(&self, target: NodeId, addr: String) -> TcpLink {
        TcpLink {
            target,
            addr,
            secret: self.secret.clone(),
            stream: None,
            idle: self.idle.clone(),
        }
    }
}

/// A link to one node; it takes an idle connection or dials on first use
/// and after a failure, and gives its connection back when dropped.
#[derive(Debug)]
pub struct TcpLink {
    target: NodeId,
    addr: String,
    secret: ClusterSecret,
    /// A proven connection with no exchange under way.
    stream: Option<TcpStream>,
    idle: IdlePool,
}

impl Drop for TcpLink {
    fn drop(&mut self) {
        if let Some(stream) = self.stream.take() {
            let mut idle = self.idle.lock();
            let pooled = idle.entry(self.addr.clone()).or_default();
            if pooled.len() < IDLE_CONNECTIONS_MAX {
                pooled.push(stream);
            }
        }
    }
}

/// Whether an idle connection still looks open: nothing may be waiting on
/// it, so any byte, an end of stream or an error means it is unusable.
fn still_open(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(stream.try_read(&mut byte), Err(error) if error.kind() == std::io::ErrorKind::WouldBlock)
}

impl RaftNetworkFactory<TypeConfig> for TcpNetwork {
    type Network = TcpLink;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> Self::Network {
        self.link(target, node.addr.clone())
    }
}

type RpcFailure<E> = RPCError<NodeId, Node, RaftError<NodeId, E>>;

impl TcpLink {
    /// Sends `request` and waits up to `deadline` for the answer. A
    /// failure drops the connection, so the next call dials again.
    pub async fn call(
        &mut self,
        request: &RpcRequest,
        deadline: Duration,
    ) -> Result<RpcResponse, WireError> {
        within(deadline, async {
            while self.stream.is_none() {
                let pooled = self.idle.lock().get_mut(&self.addr).and_then(Vec::pop);
                match pooled {
                    Some(stream) if still_open(&stream) => self.stream = Some(stream),
                    Some(_) => continue,
                    None => break,
                }
            }
            if self.stream.is_none() {
                let mut stream = within(CONNECT_TIMEOUT, async {
                    Ok(TcpStream::connect(&self.addr).await?)
                })
                .await?;
                stream.set_nodelay(true)?;
                within(HANDSHAKE_TIMEOUT, dial_handshake(&mut stream, &self.secret)).await?;
                self.stream = Some(stream);
            }
            // Taken for the exchange: a connection cut in the middle of one
            // (a deadline, a failure) is never reused.
            let mut stream = self.stream.take().expect("connected above");
            write_frame(&mut stream, request).await?;
            let response = read_frame(&mut stream).await?;
            self.stream = Some(stream);
            Ok(response)
        })
        .await
    }

    async fn rpc<E: std::error::Error>(
        &mut self,
        request: RpcRequest,
        option: &RPCOption,
        kind: RPCTypes,
        leader: NodeId,
    ) -> Result<RpcResponse, RpcFailure<E>> {
        let deadline = option.hard_ttl();
        self.call(&request, deadline)
            .await
            .map_err(|error| match error {
                WireError::Timeout => RPCError::Timeout(Timeout {
                    action: kind,
                    id: leader,
                    target: self.target,
                    timeout: deadline,
                }),
                WireError::Io(error) => RPCError::Unreachable(Unreachable::new(&error)),
                other => RPCError::Network(NetworkError::new(&other)),
            })
    }

    fn remote<T, E: std::error::Error>(
        &self,
        outcome: Result<T, RaftError<NodeId, E>>,
    ) -> Result<T, RpcFailure<E>> {
        outcome.map_err(|error| RPCError::RemoteError(RemoteError::new(self.target, error)))
    }
}

fn mismatched<E: std::error::Error>() -> RpcFailure<E> {
    let error = WireError::Frame("the answer is to another kind of request".to_string());
    RPCError::Network(NetworkError::new(&error))
}

impl RaftNetwork<TypeConfig> for TcpLink {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcFailure<openraft::error::Infallible>> {
        let leader = rpc.vote.leader_id().voted_for().unwrap_or_default();
        match self
            .rpc(
                RpcRequest::AppendEntries(rpc),
                &option,
                RPCTypes::AppendEntries,
                leader,
            )
            .await?
        {
            RpcResponse::AppendEntries(outcome) => self.remote(outcome),
            _ => Err(mismatched()),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcFailure<InstallSnapshotError>> {
        let leader = rpc.vote.leader_id().voted_for().unwrap_or_default();
        match self
            .rpc(
                RpcRequest::InstallSnapshot(rpc),
                &option,
                RPCTypes::InstallSnapshot,
                leader,
            )
            .await?
        {
            RpcResponse::InstallSnapshot(outcome) => self.remote(outcome),
            _ => Err(mismatched()),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RpcFailure<openraft::error::Infallible>> {
        let candidate = rpc.vote.leader_id().voted_for().unwrap_or_default();
        match self
            .rpc(RpcRequest::Vote(rpc), &option, RPCTypes::Vote, candidate)
            .await?
        {
            RpcResponse::Vote(outcome) => self.remote(outcome),
            _ => Err(mismatched()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let (dialed, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (dialed.expect("connect"), accepted.expect("accept").0)
    }

    fn secret(byte: u8) -> ClusterSecret {
        ClusterSecret::new([byte; SECRET_BYTES])
    }

    #[tokio::test]
    async fn the_same_secret_passes_the_handshake_both_ways() {
        let (mut dialer, mut listener) = pair().await;
        let (ours, theirs) = (secret(7), secret(7));
        let (dialed, accepted) = tokio::join!(
            dial_handshake(&mut dialer, &ours),
            accept_handshake(&mut listener, &theirs)
        );
        dialed.expect("the listener proved the secret");
        accepted.expect("the dialer proved the secret");
    }

    #[tokio::test]
    async fn another_secret_is_refused() {
        let (mut dialer, mut listener) = pair().await;
        // The listener closes its side once it refused, as the real one does.
        let accepting =
            tokio::spawn(async move { accept_handshake(&mut listener, &secret(8)).await });
        let dialed = dial_handshake(&mut dialer, &secret(7)).await;
        let accepted = accepting.await.expect("the listener task ends");
        assert!(matches!(accepted, Err(WireError::Unauthenticated)));
        assert!(dialed.is_err(), "the dialer gets no valid proof back");
    }

    #[tokio::test]
    async fn an_oversized_or_damaged_frame_is_refused_before_decoding() {
        let (mut writer, mut reader) = pair().await;
        let mut header = [0u8; FRAME_HEADER_BYTES];
        header[..4].copy_from_slice(&(FRAME_BYTES_MAX as u32 + 1).to_be_bytes());
        writer.write_all(&header).await.expect("write");
        let outcome: Result<RpcRequest, _> = read_frame(&mut reader).await;
        assert!(matches!(outcome, Err(WireError::Frame(message)) if message.contains("limit")));

        let (mut writer, mut reader) = pair().await;
        let payload = postcard::to_allocvec(&RpcRequest::ReadIndex).expect("encode");
        let mut header = [0u8; FRAME_HEADER_BYTES];
        header[..4].copy_from_slice(&(payload.len() as u32).to_be_bytes());
        header[4..].copy_from_slice(&(xxh3_64(&payload) ^ 1).to_be_bytes());
        writer.write_all(&header).await.expect("write");
        writer.write_all(&payload).await.expect("write");
        let outcome: Result<RpcRequest, _> = read_frame(&mut reader).await;
        assert!(matches!(outcome, Err(WireError::Frame(message)) if message.contains("checksum")));
    }

    #[tokio::test]
    async fn a_frame_carries_a_message_whole() {
        let (mut writer, mut reader) = pair().await;
        write_frame(&mut writer, &RpcRequest::ReadIndex)
            .await
            .expect("write");
        let got: RpcRequest = read_frame(&mut reader).await.expect("read");
        assert!(matches!(got, RpcRequest::ReadIndex));
    }

    /// A stand-in for a node's Raft port that answers every request with
    /// `Done`, closing each connection after `exchanges` of them; returns
    /// its address and the count of connections it accepted.
    async fn answering_port(
        secret: ClusterSecret,
        exchanges: usize,
    ) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address").to_string();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let secret = secret.clone();
                tokio::spawn(async move {
                    accept_handshake(&mut stream, &secret)
                        .await
                        .expect("handshake");
                    for _ in 0..exchanges {
                        let Ok(_) = read_frame::<RpcRequest>(&mut stream).await else {
                            return;
                        };
                        let reply = RpcResponse::Admin(AdminReply::Done("ok".to_string()));
                        write_frame(&mut stream, &reply).await.expect("reply");
                    }
                });
            }
        });
        (addr, accepted)
    }

    #[tokio::test]
    async fn a_dropped_link_leaves_its_connection_to_the_next() {
        let (addr, accepted) = answering_port(secret(3), usize::MAX).await;
        let network = TcpNetwork::new(secret(3));
        for _ in 0..5 {
            let mut link = network.link(2, addr.clone());
            let reply = link
                .call(&RpcRequest::ReadIndex, Duration::from_secs(5))
                .await;
            assert!(matches!(reply, Ok(RpcResponse::Admin(AdminReply::Done(_)))));
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_pooled_connection_the_peer_closed_is_not_used() {
        // The port closes every connection after one exchange.
        let (addr, accepted) = answering_port(secret(4), 1).await;
        let network = TcpNetwork::new(secret(4));
        for _ in 0..3 {
            let mut link = network.link(2, addr.clone());
            let reply = link
                .call(&RpcRequest::ReadIndex, Duration::from_secs(5))
                .await;
            assert!(matches!(reply, Ok(RpcResponse::Admin(_))), "{reply:?}");
            drop(link);
            // The close reaches this side before the next link looks.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[test]
    fn a_secret_file_round_trips_and_bad_text_is_refused() {
        let secret = ClusterSecret::generate().expect("random");
        let text = secret.to_file_text();
        let back = ClusterSecret::from_file_text(&text).expect("parses");
        assert_eq!(back.0.as_slice(), secret.0.as_slice());
        assert!(ClusterSecret::from_file_text("abc").is_err());
        assert!(ClusterSecret::from_file_text(&"zz".repeat(SECRET_BYTES)).is_err());
        assert_eq!(format!("{secret:?}"), "ClusterSecret(..)");
    }
}
