//! The one module that names openraft's types: the group's type
//! configuration, short names for the generic types the rest of the crate
//! uses, and the requests and responses that travel in the Raft log. A
//! move to another openraft release starts here.
//!
//! A [`Request`] is one atomic batch of engine commands in a wire form of
//! our own ([`WireCommand`]), so the log's bytes do not change when the
//! engine's in-memory types do. A [`Response`] is what applying it did.

use std::io::Cursor;

use hightower_engine::{Command, Committed, Expect};
use hightower_repl::NodeId;
use serde::{Deserialize, Serialize};

openraft::declare_raft_types!(
    /// The type configuration of a Hightower Raft group.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = NodeId,
        Node = Node,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A running Raft node of the group.
pub type Raft = openraft::Raft<TypeConfig>;
/// A Raft log entry.
pub type Entry = openraft::Entry<TypeConfig>;
/// What an entry carries.
pub type EntryPayload = openraft::EntryPayload<TypeConfig>;
/// The id of a log entry: its term's leader and its index.
pub type LogId = openraft::LogId<NodeId>;
/// A node's vote.
pub type Vote = openraft::Vote<NodeId>;
/// A member of the group as its membership names it: where its Raft
/// port and its Redis clients reach it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// The address of its Raft port.
    pub addr: String,
    /// The address its clients connect to; empty until the node itself
    /// announced it (see `RaftNode::spawn_client_addr_announcer`).
    pub client_addr: String,
}

impl Node {
    /// A member reached at `addr` for Raft, whose client address is not
    /// known yet.
    pub fn new(addr: impl Into<String>) -> Self {
        Node {
            addr: addr.into(),
            client_addr: String::new(),
        }
    }
}

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.client_addr.is_empty() {
            write!(f, "raft {}", self.addr)
        } else {
            write!(f, "raft {}, clients {}", self.addr, self.client_addr)
        }
    }
}
/// A membership with the log id that set it.
pub type StoredMembership = openraft::StoredMembership<NodeId, Node>;
/// The error storage returns to openraft.
pub type StorageError = openraft::StorageError<NodeId>;
/// The I/O error inside a [`StorageError`].
pub type StorageIoError = openraft::StorageIOError<NodeId>;
/// A change of the members.
pub type ChangeMembers = openraft::ChangeMembers<NodeId, Node>;
/// What the log store reports of itself.
pub type LogState = openraft::storage::LogState<TypeConfig>;
/// A snapshot with its metadata.
pub type Snapshot = openraft::storage::Snapshot<TypeConfig>;
/// A snapshot's metadata.
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, Node>;
/// The callback an append fires once its entries are durable.
pub type LogFlushed = openraft::storage::LogFlushed<TypeConfig>;
/// Settings of a Raft node.
pub type RaftConfig = openraft::Config;

/// The condition of a [`WireCommand`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireExpect {
    /// No condition.
    Any,
    /// The key must not exist.
    Absent,
    /// The key must exist at exactly this version.
    Version(u64),
}

impl From<Expect> for WireExpect {
    fn from(expect: Expect) -> Self {
        match expect {
            Expect::Any => WireExpect::Any,
            Expect::Absent => WireExpect::Absent,
            Expect::Version(version) => WireExpect::Version(version),
        }
    }
}

impl From<WireExpect> for Expect {
    fn from(expect: WireExpect) -> Self {
        match expect {
            WireExpect::Any => Expect::Any,
            WireExpect::Absent => Expect::Absent,
            WireExpect::Version(version) => Expect::Version(version),
        }
    }
}

/// An engine [`Command`] as the Raft log holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireCommand {
    /// Set `key` to `value`, until `expires_at_ms` when it is set.
    Put {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
        /// The condition.
        expect: WireExpect,
        /// The expiry time, milliseconds since the Unix epoch.
        expires_at_ms: Option<u64>,
    },
    /// Delete `key`.
    Delete {
        /// The key.
        key: Vec<u8>,
        /// The condition.
        expect: WireExpect,
    },
    /// Write nothing; the batch commits only if `key` is at `expect`.
    Check {
        /// The key.
        key: Vec<u8>,
        /// The condition.
        expect: WireExpect,
    },
}

impl WireCommand {
    /// The key the command touches.
    pub fn key(&self) -> &[u8] {
        match self {
            WireCommand::Put { key, .. }
            | WireCommand::Delete { key, .. }
            | WireCommand::Check { key, .. } => key,
        }
    }
}

impl From<Command> for WireCommand {
    fn from(command: Command) -> Self {
        match command {
            Command::Put {
                key,
                value,
                expect,
                expires_at_ms,
            } => WireCommand::Put {
                key,
                value,
                expect: expect.into(),
                expires_at_ms,
            },
            Command::Delete { key, expect } => WireCommand::Delete {
                key,
                expect: expect.into(),
            },
            Command::Check { key, expect } => WireCommand::Check {
                key,
                expect: expect.into(),
            },
        }
    }
}

impl From<WireCommand> for Command {
    fn from(command: WireCommand) -> Self {
        match command {
            WireCommand::Put {
                key,
                value,
                expect,
                expires_at_ms,
            } => Command::Put {
                key,
                value,
                expect: expect.into(),
                expires_at_ms,
            },
            WireCommand::Delete { key, expect } => Command::Delete {
                key,
                expect: expect.into(),
            },
            WireCommand::Check { key, expect } => Command::Check {
                key,
                expect: expect.into(),
            },
        }
    }
}

/// One atomic batch of commands, as a client submitted it, with the
/// moment its conditions judge expiry at. The moment travels in the entry,
/// so every node decides the conditions alike, whatever its clock says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The commands, applied all or none.
    pub commands: Vec<WireCommand>,
    /// When the conditions judge expiry, milliseconds since the Unix epoch.
    pub judged_at_ms: u64,
    /// The conditions see expired writes at their versions rather than as
    /// absent (the leader's expiry sweep).
    pub sees_expired: bool,
}

impl Request {
    /// A request of `commands` whose conditions judge expiry at `now_ms`.
    pub fn at(commands: Vec<Command>, now_ms: u64) -> Self {
        Request {
            commands: commands.into_iter().map(WireCommand::from).collect(),
            judged_at_ms: now_ms,
            sees_expired: false,
        }
    }

    /// A request of `commands` judged at the system clock's now.
    pub fn new(commands: Vec<Command>) -> Self {
        Self::at(
            commands,
            hightower_engine::Clock::now_ms(&hightower_engine::SystemClock),
        )
    }

    /// The same request, whose conditions see expired writes at their
    /// versions.
    pub fn seeing_expired(mut self) -> Self {
        self.sees_expired = true;
        self
    }
}

/// What applying an entry did, the same on every node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The batch committed: its `i`th writing command at
    /// `first_version + i`.
    Applied {
        /// Version of the first command that writes.
        first_version: u64,
        /// Number of commands that write.
        count: u32,
    },
    /// A condition did not hold; nothing was written.
    Conflict {
        /// The key whose condition failed.
        key: Vec<u8>,
        /// What the command expected.
        expected: WireExpect,
        /// The key's version then, `None` when absent.
        actual: Option<u64>,
    },
    /// The batch was refused as a whole and nothing was written (a key
    /// under the group's reserved prefix, an empty batch, a size limit).
    Refused {
        /// Why.
        reason: String,
    },
    /// A blank or membership entry: no commands.
    Membership,
}

impl Response {
    /// The response of a committed batch.
    pub fn applied(committed: Committed) -> Self {
        Response::Applied {
            first_version: committed.first_version,
            count: committed.count,
        }
    }
}

/// A storage failure as openraft takes it: `error`'s text under the
/// subject and verb `verb` names (e.g. `StorageIoError::write_logs`).
pub(crate) fn storage_error(
    verb: fn(&std::io::Error) -> StorageIoError,
    error: impl std::fmt::Display,
) -> StorageError {
    StorageError::from(verb(&std::io::Error::other(error.to_string())))
}

/// The postcard bytes of one of the crate's own types, which always
/// encode.
pub(crate) fn encode(value: &impl Serialize) -> Vec<u8> {
    postcard::to_allocvec(value).expect("postcard encodes the crate's own types")
}
