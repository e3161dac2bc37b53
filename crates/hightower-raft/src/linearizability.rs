//! A linearizability checker for histories of reads, writes and
//! compare-and-sets on a few keys, in the manner of Wing and Gong's search
//! with memoized states (as Porcupine does it).
//!
//! Every key is a register of its own (value and version, or absent), so
//! a history is checked key by key. Each operation has an invocation and
//! a return time on one clock; one that returned before another was
//! invoked must take effect first. An operation whose outcome is unknown
//! (it timed out, or its node went away) may take effect at any point
//! after its invocation, or never.
//!
//! The values written must be unique: a read names the write it saw by
//! its value.
//!
//! The group's own tests use it on histories recorded in one process;
//! tests of `hightower serve` processes use it on histories recorded by
//! real clients.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// The condition of a compare-and-set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expect {
    /// The key must be absent.
    Absent,
    /// The key must be at exactly this version.
    Version(u64),
}

/// What a client asked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Call {
    /// Read the key.
    Read,
    /// Put `value`, unconditionally.
    Write { value: Vec<u8> },
    /// Put `value` if `expect` holds.
    Cas { expect: Expect, value: Vec<u8> },
}

/// What the client was told.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A read's answer: the value and its version, or absent.
    Read(Option<(Vec<u8>, u64)>),
    /// A write or compare-and-set took effect at this version.
    Written(u64),
    /// A compare-and-set's condition did not hold; the key was at
    /// `actual` (absent: `None`).
    Conflict { actual: Option<u64> },
    /// No answer: the operation may or may not have taken effect.
    Unknown,
}

/// One operation of a history.
#[derive(Debug, Clone)]
pub struct Op {
    /// The client that made it (its operations never overlap).
    pub client: usize,
    /// The key.
    pub key: Vec<u8>,
    /// What was asked.
    pub call: Call,
    /// What the client was told.
    pub outcome: Outcome,
    /// When it was invoked, on the history's clock.
    pub invoked_at: u64,
    /// `u64::MAX` when the outcome is unknown.
    pub returned_at: u64,
}

/// A history being recorded by concurrent clients, on one logical clock
/// that every invocation and return ticks.
#[derive(Debug, Default)]
pub struct History {
    clock: AtomicU64,
    ops: Mutex<Vec<Op>>,
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// The time of an invocation (or a return) happening now.
    pub fn now(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::SeqCst)
    }

    /// Records an operation invoked at `invoked_at` that returns now with
    /// `outcome` (an unknown outcome never returns).
    pub fn record(&self, client: usize, key: &[u8], call: Call, invoked_at: u64, outcome: Outcome) {
        let returned_at = match outcome {
            Outcome::Unknown => u64::MAX,
            _ => self.now(),
        };
        self.ops.lock().push(Op {
            client,
            key: key.to_vec(),
            call,
            outcome,
            invoked_at,
            returned_at,
        });
    }

    /// The operations recorded so far.
    pub fn ops(&self) -> Vec<Op> {
        self.ops.lock().clone()
    }
}

/// A key's state in the model: absent, or a value at a version that is
/// `None` while only an operation of unknown outcome wrote it.
type State = Option<(Vec<u8>, Option<u64>)>;

/// Why a history is not linearizable.
#[derive(Debug)]
pub struct Violation {
    /// The key whose history fails.
    pub key: Vec<u8>,
    /// What could not be ordered.
    pub reason: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "key {:?}: {}",
            String::from_utf8_lossy(&self.key),
            self.reason
        )
    }
}

/// How many states the search of one key may visit before it gives up
/// (and reports a violation, so that a test never passes unchecked).
pub const STATES_MAX: usize = 2_000_000;

/// Checks a whole history, key by key.
pub fn check(ops: &[Op]) -> Result<(), Violation> {
    let mut by_key: BTreeMap<&[u8], Vec<&Op>> = BTreeMap::new();
    for op in ops {
        by_key.entry(op.key.as_slice()).or_default().push(op);
    }
    // Versions are the engine's, unique across keys: an operation of
    // unknown outcome never took one that a known write returned.
    let known_versions: HashSet<u64> = ops
        .iter()
        .filter_map(|op| match op.outcome {
            Outcome::Written(version) => Some(version),
            _ => None,
        })
        .collect();
    for (key, ops) in by_key {
        check_key(key, &ops, &known_versions)?;
    }
    Ok(())
}

/// One step of the register model: the state after `op` took effect with
/// its outcome, or `None` when it could not have.
fn step(state: &State, op: &Op, known_versions: &HashSet<u64>) -> Option<State> {
    // A version an unknown write left may be the one an answer names,
    // unless a known write returned that version.
    let version_matches = |held: Option<u64>, named: u64| match held {
        Some(held) => held == named,
        None => !known_versions.contains(&named),
    };
    match (&op.call, &op.outcome) {
        (_, Outcome::Read(None)) => state.is_none().then_some(None),
        (_, Outcome::Read(Some((value, version)))) => match state {
            Some((held, held_version))
                if held == value && version_matches(*held_version, *version) =>
            {
                Some(Some((value.clone(), Some(*version))))
            }
            _ => None,
        },
        (Call::Write { value }, Outcome::Written(version)) => {
            let rises = match state {
                Some((_, Some(held))) => version > held,
                _ => true,
            };
            rises.then(|| Some((value.clone(), Some(*version))))
        }
        (Call::Write { value }, Outcome::Unknown) => Some(Some((value.clone(), None))),
        (Call::Cas { expect, value }, Outcome::Written(version)) => {
            let holds = match (expect, state) {
                (Expect::Absent, None) => true,
                (Expect::Version(expected), Some((_, held))) => {
                    version_matches(*held, *expected) && version > expected
                }
                _ => false,
            };
            holds.then(|| Some((value.clone(), Some(*version))))
        }
        (Call::Cas { expect, value }, Outcome::Unknown) => {
            let may_hold = match (expect, state) {
                (Expect::Absent, None) => true,
                (Expect::Version(expected), Some((_, held))) => version_matches(*held, *expected),
                _ => false,
            };
            // When it does not hold, the call had no effect: the same as
            // never taking effect, which the search covers.
            may_hold.then(|| Some((value.clone(), None)))
        }
        (Call::Cas { expect, .. }, Outcome::Conflict { actual }) => match (state, actual) {
            (None, None) => (*expect != Expect::Absent).then_some(None),
            (Some((value, held)), Some(actual)) => {
                let fails = match expect {
                    Expect::Absent => true,
                    Expect::Version(expected) => expected != actual,
                };
                (fails && version_matches(*held, *actual))
                    .then(|| Some((value.clone(), Some(*actual))))
            }
            _ => None,
        },
        (Call::Read, Outcome::Unknown) => Some(state.clone()),
        // A read has no written or conflict outcome, a write no conflict.
        (Call::Read, _) | (Call::Write { .. }, Outcome::Conflict { .. }) => None,
    }
}

/// Whether `op`, of unknown outcome, could matter to the rest of the
/// key's history: some read saw its value, or some conflict names a
/// version no known write returned (which may be its version). If not,
/// dropping it only removes possibilities that nothing observed.
fn may_be_observed(op: &Op, ops: &[&Op], known_versions: &HashSet<u64>) -> bool {
    let value = match &op.call {
        Call::Read => return false,
        Call::Write { value } | Call::Cas { value, .. } => value,
    };
    ops.iter().any(|other| match &other.outcome {
        Outcome::Read(Some((seen, _))) => seen == value,
        Outcome::Conflict {
            actual: Some(actual),
        } => !known_versions.contains(actual),
        _ => false,
    })
}

fn check_key(key: &[u8], ops: &[&Op], known_versions: &HashSet<u64>) -> Result<(), Violation> {
    let mut ops: Vec<&Op> = ops
        .iter()
        .copied()
        .filter(|op| op.outcome != Outcome::Unknown || may_be_observed(op, ops, known_versions))
        .collect();
    ops.sort_by_key(|op| op.invoked_at);
    match search(&ops, known_versions) {
        Found::Linearization => Ok(()),
        Found::Nothing { deepest } => Err(Violation {
            key: key.to_vec(),
            reason: format!(
                "no linearization of its {} operations; the longest prefix that \
                 linearizes has {deepest}; the operations around it, in invocation \
                 order:\n{}",
                ops.len(),
                describe(&ops[deepest.saturating_sub(20)..(deepest + 20).min(ops.len())])
            ),
        }),
        Found::GaveUp => Err(Violation {
            key: key.to_vec(),
            reason: format!(
                "the search gave up after {STATES_MAX} states of its {} operations",
                ops.len()
            ),
        }),
    }
}

fn describe(ops: &[&Op]) -> String {
    ops.iter()
        .map(|op| {
            let returned = match op.returned_at {
                u64::MAX => "-".to_string(),
                at => at.to_string(),
            };
            let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
            let call = match &op.call {
                Call::Read => "read".to_string(),
                Call::Write { value } => format!("write {}", text(value)),
                Call::Cas { expect, value } => format!("cas {expect:?} {}", text(value)),
            };
            let outcome = match &op.outcome {
                Outcome::Read(Some((value, version))) => format!("{} at {version}", text(value)),
                other => format!("{other:?}"),
            };
            format!(
                "  [{}..{returned}] client {}: {call} -> {outcome}\n",
                op.invoked_at, op.client
            )
        })
        .collect()
}

enum Found {
    Linearization,
    Nothing { deepest: usize },
    GaveUp,
}

/// The operations linearized so far, one bit each.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Linearized(Vec<u64>);

impl Linearized {
    fn new(n: usize) -> Self {
        Linearized(vec![0; n.div_ceil(64)])
    }

    fn contains(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }

    fn flip(&mut self, i: usize) {
        self.0[i / 64] ^= 1 << (i % 64);
    }
}

/// Wing and Gong's search, with the (linearized set, state) pairs already
/// explored cut off, on an explicit stack. `ops` are in invocation order.
fn search(ops: &[&Op], known_versions: &HashSet<u64>) -> Found {
    let mut linearized = Linearized::new(ops.len());
    let mut n_known_left = ops
        .iter()
        .filter(|op| op.outcome != Outcome::Unknown)
        .count();
    let mut seen: HashSet<(Linearized, State)> = HashSet::new();
    // The operation linearized at each depth, and the state before it.
    let mut stack: Vec<(usize, State)> = Vec::new();
    let mut state: State = None;
    let mut deepest = 0;
    // The next candidate to try at this depth.
    let mut next = 0;
    // Bounded: every turn either adds a new pair to `seen` (at most
    // STATES_MAX) or pops the stack, which only a push fills.
    loop {
        if n_known_left == 0 {
            return Found::Linearization;
        }
        // Whatever is linearized next was invoked before the earliest
        // return among the rest.
        let first_return = (0..ops.len())
            .filter(|&i| !linearized.contains(i))
            .map(|i| ops[i].returned_at)
            .min()
            .unwrap_or(u64::MAX);
        let mut went_deeper = false;
        while next < ops.len() && ops[next].invoked_at < first_return {
            let i = next;
            next += 1;
            if linearized.contains(i) {
                continue;
            }
            let Some(after) = step(&state, ops[i], known_versions) else {
                continue;
            };
            linearized.flip(i);
            if !seen.insert((linearized.clone(), after.clone())) {
                linearized.flip(i);
                continue;
            }
            if seen.len() > STATES_MAX {
                return Found::GaveUp;
            }
            if ops[i].outcome != Outcome::Unknown {
                n_known_left -= 1;
            }
            stack.push((i, std::mem::replace(&mut state, after)));
            deepest = deepest.max(stack.len());
            next = 0;
            went_deeper = true;
            break;
        }
        if went_deeper {
            continue;
        }
        let Some((i, before)) = stack.pop() else {
            return Found::Nothing { deepest };
        };
        linearized.flip(i);
        if ops[i].outcome != Outcome::Unknown {
            n_known_left += 1;
        }
        state = before;
        next = i + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"k";

    fn op(invoked_at: u64, returned_at: u64, call: Call, outcome: Outcome) -> Op {
        Op {
            client: 0,
            key: KEY.to_vec(),
            call,
            outcome,
            invoked_at,
            returned_at,
        }
    }

    fn write(value: &str) -> Call {
        Call::Write {
            value: value.as_bytes().to_vec(),
        }
    }

    fn cas(expect: Expect, value: &str) -> Call {
        Call::Cas {
            expect,
            value: value.as_bytes().to_vec(),
        }
    }

    fn read_of(value: &str, version: u64) -> Outcome {
        Outcome::Read(Some((value.as_bytes().to_vec(), version)))
    }

    #[test]
    fn a_history_with_overlapping_operations_is_linearizable() {
        let history = [
            op(0, 3, write("a"), Outcome::Written(5)),
            // Overlaps the write: may see it or not.
            op(1, 2, Call::Read, Outcome::Read(None)),
            op(4, 9, cas(Expect::Version(5), "b"), Outcome::Written(7)),
            op(5, 6, Call::Read, read_of("a", 5)),
            op(
                7,
                10,
                cas(Expect::Version(5), "c"),
                Outcome::Conflict { actual: Some(7) },
            ),
            op(11, 12, Call::Read, read_of("b", 7)),
            op(
                13,
                14,
                cas(Expect::Absent, "d"),
                Outcome::Conflict { actual: Some(7) },
            ),
        ];
        check(&history).expect("linearizable");
    }

    #[test]
    fn a_stale_read_after_a_completed_write_is_caught() {
        let history = [
            op(0, 1, write("a"), Outcome::Written(3)),
            op(2, 3, write("b"), Outcome::Written(4)),
            op(4, 5, Call::Read, read_of("a", 3)),
        ];
        let violation = check(&history).expect_err("a stale read");
        assert!(violation.reason.contains("no linearization"), "{violation}");
    }

    #[test]
    fn two_successful_cas_on_one_expected_version_are_caught() {
        let history = [
            op(0, 1, write("a"), Outcome::Written(3)),
            op(2, 6, cas(Expect::Version(3), "b"), Outcome::Written(4)),
            op(3, 7, cas(Expect::Version(3), "c"), Outcome::Written(5)),
        ];
        check(&history).expect_err("both compare-and-sets saw version 3");
    }

    #[test]
    fn two_successful_cas_on_absent_are_caught() {
        let history = [
            op(0, 4, cas(Expect::Absent, "a"), Outcome::Written(3)),
            op(1, 5, cas(Expect::Absent, "b"), Outcome::Written(4)),
        ];
        check(&history).expect_err("both saw the key absent");
    }

    #[test]
    fn an_unknown_write_may_take_effect_late_or_never() {
        let late = [
            op(0, u64::MAX, write("a"), Outcome::Unknown),
            op(1, 2, Call::Read, Outcome::Read(None)),
            op(3, 4, Call::Read, read_of("a", 9)),
            op(5, 6, Call::Read, read_of("a", 9)),
        ];
        check(&late).expect("the unknown write took effect between the reads");
        let never = [
            op(0, u64::MAX, write("a"), Outcome::Unknown),
            op(1, 2, write("b"), Outcome::Written(4)),
            op(3, 4, Call::Read, read_of("b", 4)),
        ];
        check(&never).expect("the unknown write never took effect");
    }

    #[test]
    fn an_unknown_write_cannot_take_effect_before_its_invocation() {
        let history = [
            op(0, 1, Call::Read, read_of("a", 9)),
            op(2, u64::MAX, write("a"), Outcome::Unknown),
        ];
        check(&history).expect_err("a read of a value not yet written");
    }

    #[test]
    fn a_value_seen_again_after_it_was_overwritten_is_caught() {
        let history = [
            op(0, u64::MAX, write("a"), Outcome::Unknown),
            op(1, 2, Call::Read, read_of("a", 9)),
            op(3, 4, write("b"), Outcome::Written(10)),
            op(5, 6, Call::Read, read_of("a", 9)),
        ];
        check(&history).expect_err("the unknown write took effect twice");
    }

    #[test]
    fn versions_must_rise() {
        let history = [
            op(0, 1, write("a"), Outcome::Written(5)),
            op(2, 3, write("b"), Outcome::Written(4)),
        ];
        check(&history).expect_err("a later write at a lower version");
    }

    #[test]
    fn keys_are_checked_apart() {
        let mut other = op(2, 3, Call::Read, Outcome::Read(None));
        other.key = b"other".to_vec();
        let history = [op(0, 1, write("a"), Outcome::Written(5)), other];
        check(&history).expect("the other key was never written");
    }
}
