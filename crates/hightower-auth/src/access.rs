//! [`ResolvedGrants`]: what a principal may do, read from its records once
//! and kept until the records change, and [`KeyRanges`], the keys it may
//! read as ordered ranges (what `SCAN` and `KEYS` walk).
//!
//! The service keeps a generation counter that every change of a user, a
//! grant or an API key bumps. A [`crate::Principal`] holds the grants it
//! last resolved with the generation it saw; while the generation is the
//! same (and an API key has not expired meanwhile), checking a key costs
//! no read of the records. The counter is read before the records, so a
//! change that lands while a resolution runs leaves a stale generation
//! behind and the next check resolves again.

use crate::grants::{self, Grant, Operation, Permission};
use crate::records::AUTH_PREFIX;

/// A principal's grants as its records stood at one generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedGrants {
    pub(crate) generation: u64,
    /// `None`: refused everything (a deleted or disabled user, a revoked,
    /// expired or re-owned API key).
    pub(crate) grants: Option<Effective>,
    /// When the API key expires, for the principal of an API key.
    pub(crate) expires_unix_ms: Option<u64>,
}

/// The grants that apply: the user's and, for an API key, the key's own,
/// both of which must allow an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Effective {
    pub(crate) user: Vec<Grant>,
    pub(crate) key: Option<Vec<Grant>>,
}

impl ResolvedGrants {
    /// Refused everything, as resolved at `generation`.
    pub(crate) fn refused(generation: u64) -> Self {
        ResolvedGrants {
            generation,
            grants: None,
            expires_unix_ms: None,
        }
    }

    /// Whether the records may have changed since, or the key expired.
    pub(crate) fn is_stale(&self, generation: u64, now_unix_ms: u64) -> bool {
        self.generation != generation || self.expires_unix_ms.is_some_and(|at| now_unix_ms >= at)
    }

    /// Whether the grants allow `operation` on `key`.
    pub fn allows(&self, operation: Operation, key: &[u8]) -> bool {
        self.grants.as_ref().is_some_and(|effective| {
            grants::allows(&effective.user, operation, key)
                && effective
                    .key
                    .as_ref()
                    .is_none_or(|g| grants::allows(g, operation, key))
        })
    }

    /// Every key the grants allow to read, as ordered ranges: exactly the
    /// keys for which [`Self::allows`] with [`Operation::Read`] holds.
    pub fn readable(&self) -> KeyRanges {
        let Some(effective) = &self.grants else {
            return KeyRanges::none();
        };
        let mut ranges = Vec::new();
        for (prefix, permission) in readable_prefixes(effective) {
            let range = KeyRange::prefix(&prefix);
            if permission == Permission::Admin {
                ranges.push(range);
            } else {
                ranges.extend(range.without(&KeyRange::prefix(AUTH_PREFIX)));
            }
        }
        KeyRanges::merged(ranges)
    }
}

/// The prefixes both grant lists allow to read, each with the lower of
/// the two permissions: where a user grant and a key grant overlap, the
/// longer of their prefixes.
fn readable_prefixes(effective: &Effective) -> Vec<(Vec<u8>, Permission)> {
    let Some(key_grants) = &effective.key else {
        return effective
            .user
            .iter()
            .map(|g| (g.prefix.clone(), g.permission))
            .collect();
    };
    let mut prefixes = Vec::new();
    for user in &effective.user {
        for key in key_grants {
            let longer = if user.prefix.starts_with(&key.prefix) {
                &user.prefix
            } else if key.prefix.starts_with(&user.prefix) {
                &key.prefix
            } else {
                continue;
            };
            prefixes.push((longer.clone(), user.permission.min(key.permission)));
        }
    }
    prefixes
}

/// The keys from `start` (included) to `end` (excluded; `None`: no end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    /// The first key of the range.
    pub start: Vec<u8>,
    /// The first key after the range, `None` when it runs to the end.
    pub end: Option<Vec<u8>>,
}

impl KeyRange {
    /// Every key starting with `prefix`.
    pub fn prefix(prefix: &[u8]) -> Self {
        KeyRange {
            start: prefix.to_vec(),
            end: prefix_end(prefix),
        }
    }

    /// Whether `key` lies in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        key >= self.start.as_slice() && self.end.as_deref().is_none_or(|end| key < end)
    }

    fn is_empty(&self) -> bool {
        self.end
            .as_deref()
            .is_some_and(|end| end <= self.start.as_slice())
    }

    /// The keys of both ranges, `None` when they do not overlap.
    fn intersect(&self, other: &KeyRange) -> Option<KeyRange> {
        let start = self.start.as_slice().max(other.start.as_slice()).to_vec();
        let end = match (&self.end, &other.end) {
            (Some(a), Some(b)) => Some(a.min(b).clone()),
            (Some(end), None) | (None, Some(end)) => Some(end.clone()),
            (None, None) => None,
        };
        let range = KeyRange { start, end };
        (!range.is_empty()).then_some(range)
    }

    /// This range with the keys of `hole` taken out: at most two pieces.
    fn without(self, hole: &KeyRange) -> Vec<KeyRange> {
        let mut pieces = Vec::with_capacity(2);
        let before = KeyRange {
            start: self.start.clone(),
            end: Some(hole.start.clone()),
        };
        if let Some(piece) = self.intersect(&before) {
            pieces.push(piece);
        }
        if let Some(hole_end) = &hole.end {
            let after = KeyRange {
                start: hole_end.clone(),
                end: None,
            };
            if let Some(piece) = self.intersect(&after) {
                pieces.push(piece);
            }
        }
        pieces
    }
}

/// Disjoint key ranges in key order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyRanges {
    ranges: Vec<KeyRange>,
}

impl KeyRanges {
    /// No key.
    pub fn none() -> Self {
        KeyRanges::default()
    }

    /// Every key.
    pub fn all() -> Self {
        KeyRanges {
            ranges: vec![KeyRange::prefix(b"")],
        }
    }

    /// The ranges, disjoint and in key order.
    pub fn ranges(&self) -> &[KeyRange] {
        &self.ranges
    }

    /// Whether `key` lies in one of the ranges.
    pub fn contains(&self, key: &[u8]) -> bool {
        self.ranges.iter().any(|range| range.contains(key))
    }

    /// The keys of these ranges that start with `prefix`.
    pub fn with_prefix(&self, prefix: &[u8]) -> KeyRanges {
        let within = KeyRange::prefix(prefix);
        KeyRanges {
            ranges: self
                .ranges
                .iter()
                .filter_map(|range| range.intersect(&within))
                .collect(),
        }
    }

    /// Sorts and merges overlapping or touching ranges.
    fn merged(mut ranges: Vec<KeyRange>) -> Self {
        ranges.retain(|range| !range.is_empty());
        ranges.sort_by(|a, b| a.start.cmp(&b.start));
        let mut merged: Vec<KeyRange> = Vec::with_capacity(ranges.len());
        for range in ranges {
            match merged.last_mut() {
                Some(last) if last.end.as_ref().is_none_or(|end| *end >= range.start) => {
                    last.end = match (&last.end, range.end) {
                        (Some(a), Some(b)) => Some(a.clone().max(b)),
                        _ => None,
                    };
                }
                _ => merged.push(range),
            }
        }
        KeyRanges { ranges: merged }
    }
}

/// The first key after `prefix` and every key starting with it, `None`
/// when there is none (the prefix is empty or all 0xff bytes).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(user: Vec<Grant>, key: Option<Vec<Grant>>) -> ResolvedGrants {
        ResolvedGrants {
            generation: 0,
            grants: Some(Effective { user, key }),
            expires_unix_ms: None,
        }
    }

    fn auth_key(rest: &str) -> Vec<u8> {
        let mut key = AUTH_PREFIX.to_vec();
        key.extend_from_slice(rest.as_bytes());
        key
    }

    /// The ranges hold exactly the keys `allows` lets read.
    fn assert_exact(grants: &ResolvedGrants, probes: &[&[u8]]) {
        let readable = grants.readable();
        for probe in probes {
            assert_eq!(
                readable.contains(probe),
                grants.allows(Operation::Read, probe),
                "{:?} in {readable:?}",
                String::from_utf8_lossy(probe)
            );
        }
    }

    #[test]
    fn prefixes_become_merged_ranges() {
        let grants = resolved(
            vec![
                Grant::new(Permission::Read, "a:"),
                Grant::new(Permission::Write, "a:b"),
                Grant::new(Permission::Read, "c:"),
            ],
            None,
        );
        let ranges = grants.readable();
        assert_eq!(ranges.ranges().len(), 2, "{ranges:?}");
        assert_exact(&grants, &[b"a:", b"a:b1", b"a;", b"b:1", b"c:x", b"d"]);
    }

    #[test]
    fn the_auth_records_are_cut_out_unless_admin() {
        let everything = resolved(vec![Grant::new(Permission::Write, "")], None);
        let probes: [&[u8]; 5] = [b"", b"zzz", b"\xff", &auth_key("user/ada"), b"\xff\xff"];
        assert_exact(&everything, &probes);
        assert!(!everything.readable().contains(&auth_key("user/ada")));
        let admin = resolved(vec![Grant::new(Permission::Admin, "")], None);
        assert_eq!(admin.readable(), KeyRanges::all());
        let only_auth = resolved(vec![Grant::new(Permission::Read, AUTH_PREFIX)], None);
        assert_eq!(only_auth.readable(), KeyRanges::none());
    }

    #[test]
    fn an_api_key_reads_where_both_grant_lists_overlap() {
        let grants = resolved(
            vec![
                Grant::new(Permission::Admin, ""),
                Grant::new(Permission::Read, "x:"),
            ],
            Some(vec![
                Grant::new(Permission::Read, "app/"),
                Grant::new(Permission::Read, ""),
            ]),
        );
        assert_exact(
            &grants,
            &[b"app/1", b"x:1", b"other", &auth_key("user/a"), b"\xff"],
        );
        let disjoint = resolved(
            vec![Grant::new(Permission::Read, "a:")],
            Some(vec![Grant::new(Permission::Read, "b:")]),
        );
        assert_eq!(disjoint.readable(), KeyRanges::none());
    }

    #[test]
    fn with_prefix_intersects() {
        let grants = resolved(
            vec![
                Grant::new(Permission::Read, "a:"),
                Grant::new(Permission::Read, "b:"),
            ],
            None,
        );
        let within = grants.readable().with_prefix(b"a");
        assert_eq!(within.ranges(), [KeyRange::prefix(b"a:")]);
        assert_eq!(grants.readable().with_prefix(b"c"), KeyRanges::none());
        let narrower = grants.readable().with_prefix(b"b:x");
        assert_eq!(narrower.ranges(), [KeyRange::prefix(b"b:x")]);
    }

    #[test]
    fn refused_reads_nothing_and_staleness_follows_generation_and_expiry() {
        let refused = ResolvedGrants::refused(3);
        assert_eq!(refused.readable(), KeyRanges::none());
        assert!(!refused.allows(Operation::Read, b"a"));
        assert!(!refused.is_stale(3, 0));
        assert!(refused.is_stale(4, 0));
        let expiring = ResolvedGrants {
            expires_unix_ms: Some(10),
            ..resolved(vec![], None)
        };
        assert!(!expiring.is_stale(0, 9));
        assert!(expiring.is_stale(0, 10));
    }

    #[test]
    fn prefix_ends_skip_trailing_ff_bytes() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
        assert_eq!(prefix_end(b""), None);
    }
}
