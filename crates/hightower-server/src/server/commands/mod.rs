//! The commands the server knows, one module per group, and [`TABLE`],
//! which lists each with its arity, flags, key positions, the access it
//! needs and whether it may block.

mod config_cmd;
mod connection;
mod info;
mod keyspace;
mod keyspace_more;
mod overlay;
mod queued_strings;
mod strings;
mod strings_more;
pub(crate) mod transactions;
mod versioned;

use crate::server::auth::Operation::{Admin, Read, Write};
use crate::server::dispatch::Access::{Connection, Filtered, Global, Keys};
use crate::server::dispatch::Blocking::{Always, Hashing, Never, WhenWritesSync};
use crate::server::dispatch::{Access, Blocking, CommandError, CommandSpec, Handler};
use crate::server::resp::parse_i64;

/// Compare-and-set attempts a read-modify-write command makes before it
/// gives up under contention.
pub(crate) const CAS_ATTEMPTS_MAX: usize = 10_000;

const fn spec(
    name: &'static str,
    arity: i32,
    flags: &'static [&'static str],
    keys: (i32, i32, i32),
    access: Access,
    blocking: Blocking,
    handler: Handler,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        keys,
        access,
        blocking,
        handler,
    }
}

const NO_KEYS: (i32, i32, i32) = (0, 0, 0);
const ONE_KEY: (i32, i32, i32) = (1, 1, 1);
const ALL_KEYS: (i32, i32, i32) = (1, -1, 1);
const PAIRS: (i32, i32, i32) = (1, -1, 2);

const OPEN: Access = Connection { before_auth: false };
const PRE_AUTH: Access = Connection { before_auth: true };

const READ: &[&str] = &["readonly", "fast"];
const WRITE: &[&str] = &["write", "denyoom"];
const CONN: &[&str] = &["fast", "stale", "loading"];
const ADMIN: &[&str] = &["admin", "noscript"];

/// Every command, by lower-case name.
pub(crate) static TABLE: &[CommandSpec] = &[
    // Connection.
    spec("ping", -1, CONN, NO_KEYS, OPEN, Never, connection::ping),
    spec("echo", 2, CONN, NO_KEYS, OPEN, Never, connection::echo),
    spec(
        "hello",
        -1,
        &["no-auth", "fast"],
        NO_KEYS,
        PRE_AUTH,
        Hashing,
        connection::hello,
    ),
    spec(
        "auth",
        -2,
        &["no-auth", "fast"],
        NO_KEYS,
        PRE_AUTH,
        Hashing,
        connection::auth,
    ),
    spec(
        "quit",
        -1,
        &["no-auth", "fast"],
        NO_KEYS,
        PRE_AUTH,
        Never,
        connection::quit,
    ),
    spec("select", 2, CONN, NO_KEYS, OPEN, Never, connection::select),
    spec("client", -2, CONN, NO_KEYS, OPEN, Never, connection::client),
    spec(
        "command",
        -1,
        CONN,
        NO_KEYS,
        OPEN,
        Never,
        connection::command,
    ),
    spec("acl", -2, CONN, NO_KEYS, OPEN, Never, connection::acl),
    spec(
        "config",
        -2,
        ADMIN,
        NO_KEYS,
        Global(Admin),
        Never,
        config_cmd::config,
    ),
    // Strings.
    spec("get", 2, READ, ONE_KEY, Keys(Read), Never, strings::get),
    spec(
        "set",
        -3,
        WRITE,
        ONE_KEY,
        Keys(Write),
        WhenWritesSync,
        strings::set,
    ),
    spec(
        "getset",
        3,
        WRITE,
        ONE_KEY,
        Keys(Write),
        WhenWritesSync,
        strings::getset,
    ),
    spec("mget", -2, READ, ALL_KEYS, Keys(Read), Never, strings::mget),
    spec(
        "mset",
        -3,
        WRITE,
        PAIRS,
        Keys(Write),
        WhenWritesSync,
        strings::mset,
    ),
    spec(
        "msetnx",
        -3,
        WRITE,
        PAIRS,
        Keys(Write),
        WhenWritesSync,
        strings::msetnx,
    ),
    spec(
        "del",
        -2,
        &["write"],
        ALL_KEYS,
        Keys(Write),
        WhenWritesSync,
        strings::del,
    ),
    spec(
        "exists",
        -2,
        READ,
        ALL_KEYS,
        Keys(Read),
        Never,
        strings::exists,
    ),
    spec(
        "type",
        2,
        READ,
        ONE_KEY,
        Keys(Read),
        Never,
        strings::type_of,
    ),
    spec(
        "incr",
        2,
        WRITE,
        ONE_KEY,
        Keys(Write),
        WhenWritesSync,
        strings::incr,
    ),
    spec(
        "decr",
        2,
        WRITE,
        ONE_KEY,
        Keys(Write),
        WhenWritesSync,
        strings::decr,
    ),
    spec(
        "incrby",
        3,
        WRITE,
        ONE_KEY,
        Keys(Write),
        WhenWritesSync,
        strings::incrby,
    ),
    spec(
        "decrby",
        3,
        WRITE,
        ONE_KEY,
        Keys(Write),
        WhenWritesSync,
        strings::decrby,
    ),
    // Other data types: WRONGTYPE on a string key.
    spec(
        "lpush",
        -3,
        WRITE,
        ONE_KEY,
        Keys(Write),
        Never,
        strings::other_type,
    ),
    spec(
        "rpush",
        -3,
        WRITE,
        ONE_KEY,
        Keys(Write),
        Never,
        strings::other_type,
    ),
    spec(
        "lpop",
        -2,
        WRITE,
        ONE_KEY,
        Keys(Write),
        Never,
        strings::other_type,
    ),
    spec(
        "rpop",
        -2,
        WRITE,
        ONE_KEY,
        Keys(Write),
        Never,
        strings::other_type,
    ),
    spec(
        "llen",
        2,
        READ,
        ONE_KEY,
        Keys(Read),
        Never,
        strings::other_type,
    ),
    spec(
        "lrange",
        4,
        READ,
        ONE_KEY,
        Keys(Read),
        Never,
        strings::other_type,
    ),
    spec(
        "hset",
        -4,
        WRITE,
        ONE_KEY,
        Keys(Write),
        Never,
        strings::other_type,
    ),
    spec(
        "hget",
        3,
        READ,
        ONE_KEY,
        Keys(Read),
        Never,
        strings::other_type,
    ),
    spec(
        "hgetall",
        2,
        READ,
        ONE_KEY,
        Keys(Read),
        Never,
        strings::other_type,
    ),
    spec(
        "hdel",
        -3,
        WRITE,
        ONE_KEY,
        Keys(Write),
        Never,
        strings::other_type,
    ),
    spec(
        "sadd",
        -3,
        WRITE,
        ONE_KEY,
        Keys(Write),
        Never,
        strings::other_type,
    ),
    spec(
        "srem",
        -3,
        WRITE,
        ONE_KEY,
        Keys(Write),
        Never,
        strings::other_type,
    ),
    spec(
        "smembers",
        2,
        READ,
        ONE_KEY,
        Keys(Read),
        Never,
        strings::other_type,
    ),
    spec(
        "sismember",
        3,
        READ,
        ONE_KEY,
        Keys(Read),
        Never,
        strings::other_type,
    ),
    spec(
        "zadd",
        -4,
        WRITE,
        ONE_KEY,
        Keys(Write),
        Never,
        strings::other_type,
    ),
    spec(
        "zrange",
        -4,
        READ,
        ONE_KEY,
        Keys(Read),
        Never,
        strings::other_type,
    ),
    spec(
        "zscore",
        3,
        READ,
        ONE_KEY,
        Keys(Read),
        Never,
        strings::other_type,
    ),
    // Keyspace and server.
    spec(
        "scan",
        -2,
        &["readonly"],
        NO_KEYS,
        Filtered,
        Never,
        keyspace::scan,
    ),
    spec(
        "keys",
        2,
        &["readonly"],
        NO_KEYS,
        Filtered,
        Always,
        keyspace::keys,
    ),
    spec(
        "dbsize",
        1,
        READ,
        NO_KEYS,
        Global(Read),
        Never,
        keyspace::dbsize,
    ),
    spec(
        "info",
        -1,
        &["stale", "loading"],
        NO_KEYS,
        Global(Admin),
        Never,
        info::info,
    ),
    // Versioned extensions.
    spec(
        "ht.getv",
        2,
        READ,
        ONE_KEY,
        Keys(Read),
        Never,
        versioned::getv,
    ),
    spec(
        "ht.cas",
        4,
        WRITE,
        ONE_KEY,
        Keys(Write),
        WhenWritesSync,
        versioned::cas,
    ),
    spec(
        "ht.cad",
        3,
        &["write"],
        ONE_KEY,
        Keys(Write),
        WhenWritesSync,
        versioned::cad,
    ),
    spec(
        "ht.compact",
        1,
        ADMIN,
        NO_KEYS,
        Global(Admin),
        Always,
        versioned::compact,
    ),
    // More strings.
    spec(
        "append",
        3,
        WRITE,
        ONE_KEY,
        Keys(Write),
        WhenWritesSync,
        strings_more::append,
    ),
    spec(
        "strlen",
        2,
        READ,
        ONE_KEY,
        Keys(Read),
        Never,
        strings_more::strlen,
    ),
    spec(
        "getrange",
        4,
        &["readonly"],
        ONE_KEY,
        Keys(Read),
        Never,
        strings_more::getrange,
    ),
    spec(
        "substr",
        4,
        &["readonly"],
        ONE_KEY,
        Keys(Read),
        Never,
        strings_more::getrange,
    ),
    spec(
        "setrange",
        4,
        WRITE,
        ONE_KEY,
        Keys(Write),
        WhenWritesSync,
        strings_more::setrange,
    ),
    spec(
        "setnx",
        3,
        &["write", "denyoom", "fast"],
        ONE_KEY,
        Keys(Write),
        WhenWritesSync,
        strings_more::setnx,
    ),
    spec(
        "getdel",
        2,
        &["write", "fast"],
        ONE_KEY,
        Keys(Write),
        WhenWritesSync,
        strings_more::getdel,
    ),
    spec(
        "incrbyfloat",
        3,
        WRITE,
        ONE_KEY,
        Keys(Write),
        WhenWritesSync,
        strings_more::incrbyfloat,
    ),
    spec(
        "lcs",
        -3,
        &["readonly"],
        (1, 2, 1),
        Keys(Read),
        Never,
        strings_more::lcs,
    ),
    spec(
        "setbit",
        4,
        WRITE,
        ONE_KEY,
        Keys(Write),
        WhenWritesSync,
        strings_more::setbit,
    ),
    spec(
        "getbit",
        3,
        READ,
        ONE_KEY,
        Keys(Read),
        Never,
        strings_more::getbit,
    ),
    // More keyspace and server.
    spec(
        "rename",
        3,
        &["write"],
        (1, 2, 1),
        Keys(Write),
        WhenWritesSync,
        keyspace_more::rename,
    ),
    spec(
        "renamenx",
        3,
        &["write", "fast"],
        (1, 2, 1),
        Keys(Write),
        WhenWritesSync,
        keyspace_more::renamenx,
    ),
    spec(
        "copy",
        -3,
        WRITE,
        (1, 2, 1),
        Keys(Write),
        WhenWritesSync,
        keyspace_more::copy,
    ),
    spec(
        "unlink",
        -2,
        &["write", "fast"],
        ALL_KEYS,
        Keys(Write),
        WhenWritesSync,
        strings::del,
    ),
    spec(
        "touch",
        -2,
        READ,
        ALL_KEYS,
        Keys(Read),
        Never,
        keyspace_more::touch,
    ),
    spec(
        "randomkey",
        1,
        &["readonly"],
        NO_KEYS,
        Filtered,
        Never,
        keyspace_more::randomkey,
    ),
    spec(
        "flushall",
        -1,
        &["write"],
        NO_KEYS,
        Global(Admin),
        Always,
        keyspace_more::flush,
    ),
    spec(
        "flushdb",
        -1,
        &["write"],
        NO_KEYS,
        Global(Admin),
        Always,
        keyspace_more::flush,
    ),
    spec(
        "object",
        -2,
        &["readonly"],
        (2, 2, 1),
        Keys(Read),
        Never,
        keyspace_more::object,
    ),
    spec("time", 1, CONN, NO_KEYS, OPEN, Never, keyspace_more::time),
    spec(
        "function",
        -2,
        &["noscript"],
        NO_KEYS,
        Global(Write),
        Never,
        keyspace_more::function,
    ),
    spec(
        "debug",
        -2,
        ADMIN,
        NO_KEYS,
        Global(Admin),
        Never,
        keyspace_more::debug,
    ),
    // Transactions.
    spec(
        "multi",
        1,
        &["noscript", "loading", "stale", "fast"],
        NO_KEYS,
        OPEN,
        Never,
        transactions::multi,
    ),
    spec(
        "exec",
        1,
        &["noscript", "loading", "stale"],
        NO_KEYS,
        OPEN,
        WhenWritesSync,
        transactions::exec,
    ),
    spec(
        "discard",
        1,
        &["noscript", "loading", "stale", "fast"],
        NO_KEYS,
        OPEN,
        Never,
        transactions::discard,
    ),
    spec(
        "watch",
        -2,
        &["noscript", "loading", "stale", "fast"],
        ALL_KEYS,
        Keys(Read),
        Never,
        transactions::watch,
    ),
    spec(
        "unwatch",
        1,
        &["noscript", "loading", "stale", "fast"],
        NO_KEYS,
        OPEN,
        Never,
        transactions::unwatch,
    ),
];

/// Parses an integer argument as Redis does (`ERR value is not an
/// integer or out of range` otherwise).
pub(crate) fn parse_int(arg: &[u8]) -> Result<i64, CommandError> {
    parse_i64(arg).ok_or_else(CommandError::not_integer)
}

/// The error of a read-modify-write command that lost every attempt.
pub(crate) fn contention(key: &[u8]) -> CommandError {
    CommandError::err(format_args!(
        "too much contention on key '{}': gave up after {CAS_ATTEMPTS_MAX} attempts, retry",
        String::from_utf8_lossy(&key[..key.len().min(64)])
    ))
}

/// Whether the argument equals `word`, ignoring ASCII case.
pub(crate) fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}
