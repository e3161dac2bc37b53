//! The command table and what happens around every command: lookup by
//! name, the authentication and arity checks, authorization of every key
//! the command names, and errors in Redis's forms (`ERR`, `NOAUTH`,
//! `NOPERM`, `WRONGPASS`, `WRONGTYPE`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::LazyLock;

use hightower_auth::{AUTH_PREFIX, KeyRanges, TOKEN_PREFIX};
use hightower_engine::EngineError;

use crate::server::auth::{Operation, Principal};
use crate::server::commands;
use crate::server::commands::transactions;
use crate::server::connection::Session;
use crate::server::metrics::ServerMetrics;
use crate::server::resp::{ReplyWriter, Request};
use crate::server::{ServedEngine, Shared};

/// The longest command name looked up; longer names are unknown.
const COMMAND_NAME_BYTES_MAX: usize = 32;

/// What a command needs from the caller before it runs.
pub(crate) struct Ctx<'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) session: &'a mut Session,
    pub(crate) out: &'a mut Vec<u8>,
}

impl Ctx<'_> {
    /// A writer for the reply, in the connection's protocol.
    pub(crate) fn reply(&mut self) -> ReplyWriter<'_> {
        ReplyWriter::new(self.out, self.session.protocol)
    }

    /// The engine this connection reads from: the served engine, or,
    /// after `READONLY` on a node of a Raft group, the same engine reading
    /// this node's state without the leader's read barrier.
    pub(crate) fn engine(&self) -> &dyn ServedEngine {
        match (&self.shared.follower_reads, self.session.follower_reads) {
            (Some(engine), true) => engine.as_ref(),
            _ => self.shared.engine.as_ref(),
        }
    }

    pub(crate) fn metrics(&self) -> &ServerMetrics {
        &self.shared.metrics
    }

    /// Fails with `NOPERM` unless the connection may run `operation` on
    /// `key`.
    pub(crate) fn require(&self, operation: Operation, key: &[u8]) -> Result<(), CommandError> {
        if self.may(operation, key) {
            return Ok(());
        }
        ServerMetrics::add(&self.shared.metrics.permission_denials, 1);
        Err(CommandError::no_permission(
            self.principal_name(),
            operation,
            key,
        ))
    }

    /// Whether the connection may run `operation` on `key`.
    pub(crate) fn may(&self, operation: Operation, key: &[u8]) -> bool {
        self.session
            .principal
            .as_ref()
            .is_some_and(|principal| self.shared.authorizer.authorize(principal, operation, key))
    }

    /// Every key the connection may read, as ordered ranges (none before
    /// `AUTH`).
    pub(crate) fn readable(&self) -> KeyRanges {
        self.session
            .principal
            .as_ref()
            .map_or_else(KeyRanges::none, |principal| {
                self.shared.authorizer.readable(principal)
            })
    }

    pub(crate) fn principal(&self) -> Option<&Principal> {
        self.session.principal.as_ref()
    }

    fn principal_name(&self) -> &str {
        self.principal().map_or("(none)", Principal::name)
    }
}

/// An error reply: its text starts with the error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommandError(Cow<'static, str>);

impl CommandError {
    /// `ERR message`.
    pub(crate) fn err(message: impl std::fmt::Display) -> Self {
        CommandError(format!("ERR {message}").into())
    }

    /// An error with its own code, `text` starting with it.
    pub(crate) fn coded(text: impl Into<Cow<'static, str>>) -> Self {
        CommandError(text.into())
    }

    pub(crate) fn syntax() -> Self {
        Self::coded("ERR syntax error")
    }

    pub(crate) fn not_integer() -> Self {
        Self::coded("ERR value is not an integer or out of range")
    }

    pub(crate) fn wrong_arity(name: &str) -> Self {
        CommandError(format!("ERR wrong number of arguments for '{name}' command").into())
    }

    pub(crate) fn no_auth() -> Self {
        Self::coded("NOAUTH Authentication required.")
    }

    pub(crate) fn wrong_pass() -> Self {
        Self::coded("WRONGPASS invalid username-password pair or user is disabled.")
    }

    pub(crate) fn wrong_type() -> Self {
        Self::coded("WRONGTYPE Operation against a key holding the wrong kind of value")
    }

    fn no_permission(user: &str, operation: Operation, key: &[u8]) -> Self {
        let what = if key.is_empty() {
            "every key".to_string()
        } else {
            format!(
                "the '{}' key",
                String::from_utf8_lossy(&key[..key.len().min(64)])
            )
        };
        CommandError(
            format!(
                "NOPERM User {user} has no permission to {} {what}",
                operation.name()
            )
            .into(),
        )
    }

    pub(crate) fn text(&self) -> &str {
        &self.0
    }
}

impl From<EngineError> for CommandError {
    fn from(error: EngineError) -> Self {
        if let EngineError::Unavailable { reason } = &error {
            // What Redis Cluster answers while a slot has no master: the
            // client retries later.
            return CommandError(format!("TRYAGAIN {reason}").into());
        }
        if matches!(
            error,
            EngineError::Poisoned { .. } | EngineError::Io { .. } | EngineError::Closed
        ) {
            tracing::error!(%error, "engine failure");
        }
        CommandError::err(error)
    }
}

/// The result of a command handler.
pub(crate) type CommandResult = Result<(), CommandError>;

/// A command handler: writes its reply, or fails before writing anything.
pub(crate) type Handler = fn(&mut Ctx<'_>, &Request<'_>) -> CommandResult;

/// What authorization a command needs before it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Connection commands: no check (and allowed before `AUTH` when
    /// `before_auth`).
    Connection { before_auth: bool },
    /// `operation` on every key at the key positions.
    Keys(Operation),
    /// `operation` on the whole store (the empty key).
    Global(Operation),
    /// The command filters what it returns by the principal's grants.
    Filtered,
}

/// Whether a command may wait on the disk, and so runs on the blocking pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Blocking {
    /// Never: in-memory work and reads.
    Never,
    /// When writes wait for an fsync (`sync` durability).
    WhenWritesSync,
    /// Always: compaction, whole-store walks.
    Always,
    /// When it checks a password: on the password-check pool
    /// (`hashing.rs`), never on the blocking pool.
    Hashing,
}

/// One command's entry in the table; `COMMAND` reports it.
#[derive(Debug)]
pub(crate) struct CommandSpec {
    /// Lower-case name, as `COMMAND` reports it.
    pub(crate) name: &'static str,
    /// Redis's arity: `n` exactly n arguments (the name included), `-n` at
    /// least n.
    pub(crate) arity: i32,
    /// `COMMAND` flags.
    pub(crate) flags: &'static [&'static str],
    /// Key positions: first, last (negative counts from the end), step.
    pub(crate) keys: (i32, i32, i32),
    pub(crate) access: Access,
    pub(crate) blocking: Blocking,
    pub(crate) handler: Handler,
}

impl CommandSpec {
    fn arity_holds(&self, len: usize) -> bool {
        let len = len as i64;
        let arity = i64::from(self.arity);
        if arity >= 0 {
            len == arity
        } else {
            len >= -arity
        }
    }

    /// The positions of the keys in a request of `len` arguments.
    pub(crate) fn key_positions(&self, len: usize) -> impl Iterator<Item = usize> {
        let (first, last, step) = self.keys;
        let len = len as i64;
        let last = if last < 0 {
            len + i64::from(last)
        } else {
            i64::from(last)
        };
        let (first, step) = (i64::from(first), i64::from(step).max(1));
        // A command without keys has first = 0: an empty range.
        let last = if first > 0 { last.min(len - 1) } else { 0 };
        (first.max(1)..=last)
            .step_by(step as usize)
            .map(|i| i as usize)
    }
}

/// FNV-1a: command names are short and trusted to be few, so a simple
/// hash beats SipHash on the path every request takes.
#[derive(Debug, Clone, Copy)]
struct NameHasher(u64);

impl Default for NameHasher {
    fn default() -> Self {
        NameHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for NameHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

type NameMap = HashMap<&'static [u8], &'static CommandSpec, BuildHasherDefault<NameHasher>>;

static TABLE: LazyLock<NameMap> = LazyLock::new(|| {
    commands::TABLE
        .iter()
        .map(|spec| (spec.name.as_bytes(), spec))
        .collect()
});

/// The command `name` names (any case), if there is one.
pub(crate) fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    if name.len() > COMMAND_NAME_BYTES_MAX {
        return None;
    }
    let mut lower = [0_u8; COMMAND_NAME_BYTES_MAX];
    let lower = &mut lower[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    TABLE.get(&*lower).copied()
}

/// Whether the command may wait on the disk, or on the group when
/// `replicated` (every command but those of the connection itself, since a
/// read waits for the leader's read barrier).
pub(crate) fn may_block(spec: Option<&CommandSpec>, writes_block: bool, replicated: bool) -> bool {
    let Some(spec) = spec else {
        return false;
    };
    if replicated && !matches!(spec.access, Access::Connection { .. }) {
        return true;
    }
    match spec.blocking {
        Blocking::Never | Blocking::Hashing => false,
        Blocking::WhenWritesSync => writes_block,
        Blocking::Always => true,
    }
}

/// Whether the request checks a password, and so runs on the
/// password-check pool: `AUTH` and `HELLO ... AUTH`, except an `AUTH`
/// with an API key, whose check is a fast hash.
pub(crate) fn needs_hashing(spec: Option<&CommandSpec>, request: &Request<'_>) -> bool {
    if spec.is_none_or(|spec| spec.blocking != Blocking::Hashing) {
        return false;
    }
    let api_key = request.len() <= 3
        && request
            .get(request.len().saturating_sub(1))
            .is_some_and(|secret| secret.starts_with(TOKEN_PREFIX.as_bytes()));
    !api_key && request.args().any(|arg| arg.eq_ignore_ascii_case(b"AUTH"))
}

/// Executes one non-empty request whose name [`lookup`] resolved to
/// `spec`, writing its reply (or its error).
pub(crate) fn execute(ctx: &mut Ctx<'_>, request: &Request<'_>, spec: Option<&CommandSpec>) {
    ServerMetrics::add(&ctx.shared.metrics.commands_processed, 1);
    let reply_start = ctx.out.len();
    // Inside MULTI a command is checked as if it ran, then queued; one
    // refused while queueing makes EXEC abort.
    let queues = ctx.session.multi.active() && spec.is_none_or(transactions::is_queued);
    let result = match spec {
        Some(spec) if queues => {
            check(ctx, spec, request).and_then(|()| transactions::queue(ctx, spec, request))
        }
        Some(spec) => check(ctx, spec, request).and_then(|()| (spec.handler)(ctx, request)),
        None => Err(unknown_command(request)),
    };
    if spec.is_some_and(|spec| names_auth_record(spec, request)) {
        ctx.shared.authorizer.records_changed();
    }
    if queues && result.is_err() {
        ctx.session.multi.fail();
    }
    let reply_bytes = ctx.out.len() - reply_start;
    let result = match result {
        Ok(()) if reply_bytes > ctx.shared.config.reply_bytes_max => {
            ctx.out.truncate(reply_start);
            Err(CommandError::err(format_args!(
                "the reply of {reply_bytes} bytes is above the limit of {} bytes (reply_bytes_max)",
                ctx.shared.config.reply_bytes_max
            )))
        }
        other => other,
    };
    if let Err(error) = result {
        ServerMetrics::add(&ctx.shared.metrics.command_errors, 1);
        ctx.out.truncate(reply_start);
        ctx.reply().error(error.text());
    }
}

/// Whether the command writes a key under the auth prefix: run by an
/// admin, it may change users, grants or API keys behind the auth
/// service's back, so principals must resolve their grants again.
pub(crate) fn names_auth_record(spec: &CommandSpec, request: &Request<'_>) -> bool {
    spec.access == Access::Keys(Operation::Write)
        && spec
            .key_positions(request.len())
            .any(|i| request.arg(i).starts_with(AUTH_PREFIX))
}

/// The checks every command passes before its handler runs.
fn check(ctx: &Ctx<'_>, spec: &CommandSpec, request: &Request<'_>) -> CommandResult {
    let authenticated = ctx.session.principal.is_some();
    if !authenticated && !matches!(spec.access, Access::Connection { before_auth: true }) {
        return Err(CommandError::no_auth());
    }
    if !spec.arity_holds(request.len()) {
        return Err(CommandError::wrong_arity(spec.name));
    }
    match spec.access {
        Access::Connection { .. } | Access::Filtered => Ok(()),
        Access::Global(operation) => ctx.require(operation, b""),
        Access::Keys(operation) => spec
            .key_positions(request.len())
            .try_for_each(|i| ctx.require(operation, request.arg(i))),
    }
}

fn unknown_command(request: &Request<'_>) -> CommandError {
    let shown = |bytes: &[u8]| String::from_utf8_lossy(&bytes[..bytes.len().min(128)]).into_owned();
    let mut message = format!(
        "ERR unknown command '{}', with args beginning with: ",
        shown(request.arg(0))
    );
    for arg in request.args().skip(1).take(8) {
        message.push_str(&format!("'{}' ", shown(arg)));
    }
    CommandError(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_lower_case_and_found_in_any_case() {
        assert_eq!(TABLE.len(), commands::TABLE.len());
        for spec in commands::TABLE {
            assert_eq!(spec.name, spec.name.to_ascii_lowercase());
            assert!(lookup(spec.name.to_ascii_uppercase().as_bytes()).is_some());
        }
        assert!(lookup(b"NO-SUCH-COMMAND").is_none());
        assert!(lookup(&[b'a'; 100]).is_none());
    }

    #[test]
    fn key_positions_follow_first_last_step() {
        let mset = lookup(b"mset").expect("exists");
        assert_eq!(mset.key_positions(5).collect::<Vec<_>>(), [1, 3]);
        let del = lookup(b"del").expect("exists");
        assert_eq!(del.key_positions(4).collect::<Vec<_>>(), [1, 2, 3]);
        let get = lookup(b"get").expect("exists");
        assert_eq!(get.key_positions(2).collect::<Vec<_>>(), [1]);
        let ping = lookup(b"ping").expect("exists");
        assert_eq!(ping.key_positions(1).count(), 0);
    }
}
