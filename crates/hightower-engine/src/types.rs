//! Commands, expectations and results shared by the engine's traits.

use std::fmt;

/// What a conditional write expects of the key's current version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Expect {
    /// No condition.
    #[default]
    Any,
    /// The key must not exist.
    Absent,
    /// The key must exist at exactly this version.
    Version(u64),
}

impl Expect {
    /// Whether a key at `actual` (None when absent) satisfies this.
    pub fn holds(self, actual: Option<u64>) -> bool {
        match self {
            Expect::Any => true,
            Expect::Absent => actual.is_none(),
            Expect::Version(v) => actual == Some(v),
        }
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Any => f.write_str("any version"),
            Expect::Absent => f.write_str("absent"),
            Expect::Version(v) => write!(f, "version {v}"),
        }
    }
}

/// One mutation, with its condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Set `key` to `value`.
    Put {
        /// The key (non-empty).
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
        /// The condition.
        expect: Expect,
        /// When the key expires, in milliseconds since the Unix epoch;
        /// `None` for never. A put replaces the expiry of the write before
        /// it, as Redis's `SET` does.
        expires_at_ms: Option<u64>,
    },
    /// Delete `key` (a tombstone is written even when it is absent).
    Delete {
        /// The key.
        key: Vec<u8>,
        /// The condition.
        expect: Expect,
    },
    /// Write nothing, but commit the batch only if `key` is at `expect`
    /// (what `WATCH` needs of a key a transaction read and did not
    /// write). A check takes no version.
    Check {
        /// The key.
        key: Vec<u8>,
        /// The condition.
        expect: Expect,
    },
}

impl Command {
    /// An unconditional put.
    pub fn put(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        Command::Put {
            key: key.into(),
            value: value.into(),
            expect: Expect::Any,
            expires_at_ms: None,
        }
    }

    /// An unconditional put that expires at `expires_at_ms`, milliseconds
    /// since the Unix epoch.
    pub fn put_expiring(
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
        expires_at_ms: u64,
    ) -> Self {
        Command::Put {
            key: key.into(),
            value: value.into(),
            expect: Expect::Any,
            expires_at_ms: Some(expires_at_ms),
        }
    }

    /// An unconditional delete.
    pub fn delete(key: impl Into<Vec<u8>>) -> Self {
        Command::Delete {
            key: key.into(),
            expect: Expect::Any,
        }
    }

    /// The same command under a condition.
    pub fn expecting(mut self, condition: Expect) -> Self {
        match &mut self {
            Command::Put { expect, .. }
            | Command::Delete { expect, .. }
            | Command::Check { expect, .. } => *expect = condition,
        }
        self
    }

    /// The key the command touches.
    pub fn key(&self) -> &[u8] {
        match self {
            Command::Put { key, .. } | Command::Delete { key, .. } | Command::Check { key, .. } => {
                key
            }
        }
    }

    /// The command's condition.
    pub fn expect(&self) -> Expect {
        match self {
            Command::Put { expect, .. }
            | Command::Delete { expect, .. }
            | Command::Check { expect, .. } => *expect,
        }
    }

    /// The mutation the command writes; `None` for a check.
    pub(crate) fn as_mutation(&self) -> Option<hightower_log::Mutation<'_>> {
        match self {
            Command::Put {
                key,
                value,
                expires_at_ms,
                ..
            } => Some(hightower_log::Mutation::put(key, value, *expires_at_ms)),
            Command::Delete { key, .. } => Some(hightower_log::Mutation::Delete { key }),
            Command::Check { .. } => None,
        }
    }
}

/// A value with the version of the write that set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    /// The value.
    pub value: Vec<u8>,
    /// Its version.
    pub version: u64,
    /// When the key expires, in milliseconds since the Unix epoch.
    pub expires_at_ms: Option<u64>,
}

/// A key with its value and version, as scans return them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
    /// Its version.
    pub version: u64,
    /// When the key expires, in milliseconds since the Unix epoch.
    pub expires_at_ms: Option<u64>,
}

/// What a committed batch did: the `i`th command that writes (checks
/// take no version) got version `first_version + i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// Version of the first command that writes.
    pub first_version: u64,
    /// Number of commands that write.
    pub count: u32,
}

/// A batch [`KvEngine::write_pending`](crate::KvEngine::write_pending)
/// appended: committed once `durable_after` (if any) is durable, see
/// [`KvEngine::make_durable`](crate::KvEngine::make_durable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    /// The versions the batch took.
    pub committed: Committed,
    /// The batch's place in the append order, when it still waits for an
    /// fsync; `None` when it is durable and visible already.
    pub durable_after: Option<u64>,
}

impl From<Committed> for Pending {
    /// A batch that is durable and visible already.
    fn from(committed: Committed) -> Self {
        Pending {
            committed,
            durable_after: None,
        }
    }
}

impl Committed {
    /// Version of the last command.
    pub fn last_version(&self) -> u64 {
        self.first_version + (u64::from(self.count).max(1) - 1)
    }
}

/// A write batch built for speed: each mutation is encoded into one
/// contiguous buffer as it is added (no allocation per key or value), and
/// the engine appends the buffer as one frame, sealing versions and
/// checksums into the segment's write buffer. Conditions are kept aside
/// only for the mutations that have one.
///
/// Commit it with [`crate::SingleNodeEngine::write`]; all its conditions
/// hold and every mutation lands, or none does. [`WriteBatch::clear`]
/// keeps the buffer for the next batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    /// Unsealed records back to back (see `hightower_log::record`).
    records: Vec<u8>,
    /// Mutations in the batch.
    count: u32,
    /// Puts among them.
    puts: u32,
    /// Where the key of each condition lies, with the condition.
    conditions: Vec<(ConditionOn, Expect)>,
    /// The keys of the checks, back to back (see [`WriteBatch::check`]).
    checked_keys: Vec<u8>,
    /// The conditions see writes whose expiry time has come as the
    /// versions they are (the sweep's deletes), not as absent.
    sees_expired: bool,
    /// The moment the conditions judge expiry at, instead of the engine's
    /// clock (see [`WriteBatch::judge_expiry_at`]).
    judged_at_ms: Option<u64>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty batch whose buffer holds `bytes` before it grows (a record
    /// takes 28 bytes plus its key and value).
    pub fn with_capacity(bytes: usize) -> Self {
        WriteBatch {
            records: Vec::with_capacity(bytes),
            ..Self::default()
        }
    }

    /// Adds an unconditional put.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> &mut Self {
        self.push(hightower_log::Mutation::Put { key, value }, Expect::Any)
    }

    /// Adds an unconditional delete.
    pub fn delete(&mut self, key: &[u8]) -> &mut Self {
        self.push(hightower_log::Mutation::Delete { key }, Expect::Any)
    }

    /// Adds a put that lands only if `key` is at `expect` before the batch.
    pub fn put_expecting(&mut self, key: &[u8], value: &[u8], expect: Expect) -> &mut Self {
        self.push(hightower_log::Mutation::Put { key, value }, expect)
    }

    /// Adds a put that expires at `expires_at_ms` (milliseconds since the
    /// Unix epoch; `None` for never) and lands only if `key` is at
    /// `expect` before the batch.
    pub fn put_with(
        &mut self,
        key: &[u8],
        value: &[u8],
        expires_at_ms: Option<u64>,
        expect: Expect,
    ) -> &mut Self {
        self.push(
            hightower_log::Mutation::put(key, value, expires_at_ms),
            expect,
        )
    }

    /// Adds a delete that lands only if `key` is at `expect` before the
    /// batch.
    pub fn delete_expecting(&mut self, key: &[u8], expect: Expect) -> &mut Self {
        self.push(hightower_log::Mutation::Delete { key }, expect)
    }

    /// Adds a command, copying its key and value into the buffer.
    pub fn push_command(&mut self, command: &Command) -> &mut Self {
        match command.as_mutation() {
            Some(mutation) => self.push(mutation, command.expect()),
            None => self.check(command.key(), command.expect()),
        }
    }

    /// Adds a condition that writes nothing: the batch commits only if
    /// `key` is at `expect` before it. A batch needs at least one
    /// mutation besides its checks.
    pub fn check(&mut self, key: &[u8], expect: Expect) -> &mut Self {
        let start = self.checked_keys.len();
        self.checked_keys.extend_from_slice(key);
        self.conditions
            .push((ConditionOn::Check(start, key.len()), expect));
        self
    }

    fn push(&mut self, mutation: hightower_log::Mutation<'_>, expect: Expect) -> &mut Self {
        if expect != Expect::Any {
            self.conditions
                .push((ConditionOn::Record(self.records.len()), expect));
        }
        self.puts += mutation.is_put() as u32;
        self.count += 1;
        hightower_log::record::encode_unsealed(&mut self.records, &mutation);
        self
    }

    /// Number of mutations.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether the batch holds no mutation.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Puts in the batch.
    pub fn puts(&self) -> usize {
        self.puts as usize
    }

    /// Bytes the batch's records take in the log, frame header aside.
    pub fn encoded_bytes(&self) -> usize {
        self.records.len()
    }

    /// Empties the batch, keeping its buffers.
    pub fn clear(&mut self) {
        self.records.clear();
        self.conditions.clear();
        self.checked_keys.clear();
        self.count = 0;
        self.puts = 0;
        self.sees_expired = false;
        self.judged_at_ms = None;
    }

    /// Makes the conditions see expired writes at their versions rather
    /// than as absent (what a sweep's conditional deletes need: the key
    /// must still be at the version that expired).
    pub fn see_expired(&mut self) -> &mut Self {
        self.sees_expired = true;
        self
    }

    /// Whether the conditions see expired writes at their versions.
    pub fn sees_expired(&self) -> bool {
        self.sees_expired
    }

    /// Makes the conditions judge expiry at `now_ms` (milliseconds since
    /// the Unix epoch) instead of the engine's clock, so that nodes which
    /// apply the same batch from a replicated log decide its conditions
    /// alike, whatever their clocks say.
    pub fn judge_expiry_at(&mut self, now_ms: u64) -> &mut Self {
        self.judged_at_ms = Some(now_ms);
        self
    }

    /// The moment set by [`WriteBatch::judge_expiry_at`].
    pub fn judged_at_ms(&self) -> Option<u64> {
        self.judged_at_ms
    }

    /// The unsealed records.
    pub(crate) fn records(&self) -> &[u8] {
        &self.records
    }

    /// Each mutation in order. The batch built every record itself, so
    /// the walk cannot fail.
    pub(crate) fn mutations(&self) -> impl Iterator<Item = hightower_log::Mutation<'_>> + '_ {
        hightower_log::record::UnsealedRecords::new(&self.records).map(|record| {
            record
                .expect("a write batch holds only records it encoded")
                .mutation
        })
    }

    /// Whether any mutation or check has a condition.
    pub(crate) fn has_conditions(&self) -> bool {
        !self.conditions.is_empty()
    }

    /// The conditions with their keys: those of conditional mutations
    /// and those of checks.
    pub(crate) fn conditions(&self) -> impl Iterator<Item = (&[u8], Expect)> + '_ {
        self.conditions.iter().map(|&(on, expect)| {
            let key = match on {
                ConditionOn::Record(offset) => {
                    hightower_log::record::UnsealedRecords::new(&self.records[offset..])
                        .next()
                        .and_then(|record| record.ok())
                        .expect("a condition points at a record of its batch")
                        .mutation
                        .key()
                }
                ConditionOn::Check(start, len) => &self.checked_keys[start..start + len],
            };
            (key, expect)
        })
    }

    /// The batch as commands, in the order they were added: each mutation
    /// with its condition, then the checks. Committing them with
    /// [`crate::KvEngine::submit_batch`] does what committing the batch
    /// does (an engine that forwards batches elsewhere needs them so).
    pub fn to_commands(&self) -> Vec<Command> {
        let condition_of = |offset: usize| {
            self.conditions
                .iter()
                .find(|(on, _)| *on == ConditionOn::Record(offset))
                .map_or(Expect::Any, |&(_, expect)| expect)
        };
        let mutations = hightower_log::record::UnsealedRecords::new(&self.records).map(|record| {
            let record = record.expect("a write batch holds only records it encoded");
            let expect = condition_of(record.offset);
            let key = record.mutation.key().to_vec();
            match record.mutation.value() {
                Some(value) => Command::Put {
                    key,
                    value: value.to_vec(),
                    expect,
                    expires_at_ms: record.mutation.expires_at_ms(),
                },
                None => Command::Delete { key, expect },
            }
        });
        let checks = self.conditions.iter().filter_map(|&(on, expect)| match on {
            ConditionOn::Check(start, len) => Some(Command::Check {
                key: self.checked_keys[start..start + len].to_vec(),
                expect,
            }),
            ConditionOn::Record(_) => None,
        });
        mutations.chain(checks).collect()
    }

    /// Every key the batch writes or checks (the keys whose locks a commit
    /// takes), repeats included.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let checked = self.conditions.iter().filter_map(|&(on, _)| match on {
            ConditionOn::Check(start, len) => Some(&self.checked_keys[start..start + len]),
            ConditionOn::Record(_) => None,
        });
        self.mutations().map(|m| m.key()).chain(checked)
    }
}

/// Where the key of a batch's condition lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConditionOn {
    /// In the record at this offset of the batch's records.
    Record(usize),
    /// At `(start, len)` of the batch's checked keys.
    Check(usize, usize),
}

impl From<&[Command]> for WriteBatch {
    fn from(commands: &[Command]) -> Self {
        let bytes = commands
            .iter()
            .filter_map(Command::as_mutation)
            .map(|m| m.encoded_len())
            .sum();
        let mut batch = WriteBatch::with_capacity(bytes);
        for command in commands {
            batch.push_command(command);
        }
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_batch_gives_back_its_commands() {
        let commands = vec![
            Command::put(b"a".to_vec(), b"1".to_vec()),
            Command::delete(b"b".to_vec()).expecting(Expect::Version(3)),
            Command::put_expiring(b"c".to_vec(), b"3".to_vec(), 1_000).expecting(Expect::Absent),
            Command::Check {
                key: b"d".to_vec(),
                expect: Expect::Version(7),
            },
        ];
        let batch = WriteBatch::from(commands.as_slice());
        assert_eq!(batch.to_commands(), commands);
        assert!(WriteBatch::new().to_commands().is_empty());
    }

    #[test]
    fn a_write_batch_holds_what_was_added_in_order() {
        let commands = [
            Command::put(b"a".to_vec(), b"1".to_vec()),
            Command::delete(b"b".to_vec()).expecting(Expect::Version(3)),
            Command::Check {
                key: b"watched".to_vec(),
                expect: Expect::Version(9),
            },
            Command::put(b"c".to_vec(), b"".to_vec()).expecting(Expect::Absent),
        ];
        let batch = WriteBatch::from(commands.as_slice());
        assert_eq!(
            (batch.len(), batch.puts()),
            (3, 2),
            "a check writes nothing"
        );
        let mutations: Vec<_> = batch.mutations().collect();
        let expected: Vec<_> = commands.iter().filter_map(Command::as_mutation).collect();
        assert_eq!(mutations, expected);
        let conditions: Vec<_> = batch.conditions().collect();
        assert_eq!(
            conditions,
            vec![
                (&b"b"[..], Expect::Version(3)),
                (&b"watched"[..], Expect::Version(9)),
                (&b"c"[..], Expect::Absent)
            ]
        );
        let keys: Vec<_> = batch.keys().collect();
        assert_eq!(keys, vec![&b"a"[..], b"b", b"c", b"watched"]);
        let bytes: usize = expected.iter().map(|m| m.encoded_len()).sum();
        assert_eq!(batch.encoded_bytes(), bytes);
    }

    #[test]
    fn clearing_keeps_the_buffer_and_forgets_the_conditions() {
        let mut batch = WriteBatch::with_capacity(64);
        batch.put_expecting(b"k", b"v", Expect::Absent);
        batch.clear();
        assert!(batch.is_empty());
        assert_eq!(batch.conditions().count(), 0);
        assert!(batch.records.capacity() >= 64);
        batch.delete(b"k");
        assert_eq!(batch.mutations().count(), 1);
    }
}
