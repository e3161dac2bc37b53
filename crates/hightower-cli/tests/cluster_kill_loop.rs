//! Three `hightower serve` processes on loopback, eight clients, and the
//! leader killed with SIGKILL every few seconds for a minute (and
//! restarted on its files once the other two serve writes again). Each client writes keys of its
//! own and reads and compare-and-sets three shared keys, through whatever
//! node answers. At the end: no acknowledged write is lost, the shared
//! keys' whole history (calls without an answer included) is
//! linearizable, and every node holds the same data, compared on each
//! node's own state (`READONLY` reads). After every kill some write
//! invoked after it is acknowledged: the time to the first one is the
//! failover time, printed with the median (run with `--nocapture`; the
//! run's length is `HIGHTOWER_KILL_LOOP_SECS`, 60 by default).

mod cluster_common;
mod server_common;

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use cluster_common::{Group, PATIENCE};
use hightower_raft::linearizability::{self, Call, Expect, History, Outcome};

const NODES: u64 = 3;
const CLIENTS: usize = 8;
const HOT_KEYS: u64 = 3;
/// How long the group runs whole between a restart and the next kill.
const UP_FOR: Duration = Duration::from_secs(3);
/// A client's operations at most, so that a run is bounded however fast.
const OPS_MAX: u64 = 1_000_000;

/// A small deterministic generator (xorshift64*), one per client.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// What one client saw.
#[derive(Default)]
struct Seen {
    /// Its own keys acknowledged, with their values.
    acked: Vec<(String, String)>,
    /// Every acknowledged write: when it was invoked and when answered.
    write_times: Vec<(Instant, Instant)>,
    /// Operations that got no answer.
    unknown: usize,
}

fn connect(addr: SocketAddr) -> Option<redis::Connection> {
    let con = redis::Client::open(format!("redis://{addr}/"))
        .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(2)))
        .ok()?;
    con.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    Some(con)
}

/// The version a `-CONFLICT` names (`None`: the key is absent).
fn conflict_actual(error: &redis::RedisError) -> Option<Option<u64>> {
    let text = error.to_string();
    if !text.contains("CONFLICT") {
        return None;
    }
    if text.contains("is absent") {
        return Some(None);
    }
    let version = text.rsplit("at version ").next()?;
    let digits: String = version.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok().map(Some)
}

/// What the clients share with the test's thread.
struct Shared {
    history: History,
    stop: AtomicBool,
    /// Nanoseconds from `started` to the invocation of the latest-invoked
    /// write acknowledged so far.
    acked_invocation_ns: AtomicU64,
    started: Instant,
}

impl Shared {
    fn acked(&self, seen: &mut Seen, invoked: Instant) {
        seen.write_times.push((invoked, Instant::now()));
        let ns = invoked.duration_since(self.started).as_nanos() as u64;
        self.acked_invocation_ns.fetch_max(ns, Ordering::Relaxed);
    }
}

fn client(id: usize, addrs: Vec<SocketAddr>, shared: Arc<Shared>) -> Seen {
    let (history, stop) = (&shared.history, &shared.stop);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (id as u64 + 1));
    let mut seen = Seen::default();
    let mut at = id % addrs.len();
    let mut con: Option<redis::Connection> = None;
    // The version this client last saw of each shared key (0: absent).
    let mut known = [0u64; HOT_KEYS as usize];
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) && i < OPS_MAX {
        i += 1;
        if con.is_none() {
            con = connect(addrs[at]);
        }
        let Some(c) = con.as_mut() else {
            at = (at + 1) % addrs.len();
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        let roll = rng.next();
        let invoked = Instant::now();
        let failed = if roll % 10 < 5 {
            let (key, value) = (format!("c{id}-{i}"), format!("value {i} of client {id}"));
            match redis::cmd("SET").arg(&key).arg(&value).query::<String>(c) {
                Ok(_) => {
                    shared.acked(&mut seen, invoked);
                    seen.acked.push((key, value));
                    false
                }
                Err(_) => {
                    seen.unknown += 1;
                    true
                }
            }
        } else {
            let slot = (roll >> 8) % HOT_KEYS;
            let key = format!("hot{slot}");
            if roll % 10 < 7 {
                let at_call = history.now();
                match redis::cmd("HT.GETV")
                    .arg(&key)
                    .query::<Option<(Vec<u8>, u64)>>(c)
                {
                    Ok(found) => {
                        known[slot as usize] = found.as_ref().map_or(0, |(_, v)| *v);
                        history.record(
                            id,
                            key.as_bytes(),
                            Call::Read,
                            at_call,
                            Outcome::Read(found),
                        );
                        false
                    }
                    // A read that got no answer changed nothing: left out.
                    Err(_) => true,
                }
            } else {
                let expect = match known[slot as usize] {
                    0 => Expect::Absent,
                    version => Expect::Version(version),
                };
                let value = format!("c{id}-cas-{i}").into_bytes();
                let call = Call::Cas {
                    expect,
                    value: value.clone(),
                };
                let at_call = history.now();
                match redis::cmd("HT.CAS")
                    .arg(&key)
                    .arg(known[slot as usize])
                    .arg(&value)
                    .query::<u64>(c)
                {
                    Ok(version) => {
                        shared.acked(&mut seen, invoked);
                        known[slot as usize] = version;
                        history.record(
                            id,
                            key.as_bytes(),
                            call,
                            at_call,
                            Outcome::Written(version),
                        );
                        false
                    }
                    Err(error) => match conflict_actual(&error) {
                        Some(actual) => {
                            known[slot as usize] = actual.unwrap_or(0);
                            history.record(
                                id,
                                key.as_bytes(),
                                call,
                                at_call,
                                Outcome::Conflict { actual },
                            );
                            false
                        }
                        None => {
                            seen.unknown += 1;
                            history.record(id, key.as_bytes(), call, at_call, Outcome::Unknown);
                            true
                        }
                    },
                }
            }
        };
        if failed {
            con = None;
            at = (at + 1) % addrs.len();
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    seen
}

/// Every key with its value as node `id` holds them itself (`READONLY`).
fn local_contents(group: &Group, id: u64) -> Result<BTreeMap<String, String>> {
    let mut con = group.nodes[&id].connect()?;
    redis::cmd("READONLY").query::<()>(&mut con)?;
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut con)?;
    keys.sort();
    let mut contents = BTreeMap::new();
    for chunk in keys.chunks(1_000) {
        let values: Vec<String> = redis::cmd("MGET").arg(chunk).query(&mut con)?;
        contents.extend(chunk.iter().cloned().zip(values));
    }
    Ok(contents)
}

fn digest(contents: &BTreeMap<String, String>) -> u64 {
    let mut hasher = DefaultHasher::new();
    contents.hash(&mut hasher);
    hasher.finish()
}

#[test]
fn a_minute_of_leader_kills_loses_nothing_and_stays_linearizable() -> Result<()> {
    let seconds: u64 = match std::env::var("HIGHTOWER_KILL_LOOP_SECS") {
        Ok(text) => text.parse().context("HIGHTOWER_KILL_LOOP_SECS")?,
        Err(_) => 60,
    };
    ensure!(
        (10..=3_600).contains(&seconds),
        "a run lasts 10 s to an hour"
    );
    let mut group = Group::new(NODES)?;
    for id in 1..=NODES {
        group.start_node(id)?;
    }
    group.leader()?;

    let started = Instant::now();
    let shared = Arc::new(Shared {
        history: History::new(),
        stop: AtomicBool::new(false),
        acked_invocation_ns: AtomicU64::new(0),
        started,
    });
    let addrs: Vec<_> = group.nodes.values().map(|node| node.addr).collect();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let (addrs, shared) = (addrs.clone(), shared.clone());
            std::thread::spawn(move || client(id, addrs, shared))
        })
        .collect();

    let mut kills = Vec::new();
    while started.elapsed() + UP_FOR * 3 < Duration::from_secs(seconds) {
        std::thread::sleep(UP_FOR);
        let leader = group.leader()?;
        // Dropping a test server kills it with SIGKILL.
        drop(group.nodes.remove(&leader));
        let killed_at = Instant::now();
        kills.push((leader, killed_at));
        // The killed node stays down until the other two took a write
        // invoked after its death, so that its return does not help the
        // election.
        let killed_ns = killed_at.duration_since(started).as_nanos() as u64;
        let deadline = killed_at + PATIENCE;
        while shared.acked_invocation_ns.load(Ordering::Relaxed) < killed_ns {
            if Instant::now() > deadline {
                shared.stop.store(true, Ordering::Relaxed);
                bail!(
                    "no write was acknowledged in {PATIENCE:?} after node {leader} was killed:\n{}",
                    group.diagnose()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        group.start_node(leader)?;
    }
    std::thread::sleep(Duration::from_secs(2));
    shared.stop.store(true, Ordering::Relaxed);
    let history = &shared.history;
    let seen: Vec<Seen> = clients
        .into_iter()
        .map(|c| c.join().expect("a client finishes"))
        .collect();

    // Failover: from each kill to the first write invoked after it that was
    // acknowledged.
    let mut failovers = Vec::new();
    for (leader, killed_at) in &kills {
        let first = seen
            .iter()
            .flat_map(|s| &s.write_times)
            .filter(|(invoked, _)| invoked > killed_at)
            .map(|(_, acked)| acked.duration_since(*killed_at))
            .min()
            .with_context(|| format!("no write was acknowledged after node {leader} was killed"))?;
        failovers.push(first.as_secs_f64());
    }
    let mut sorted = failovers.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN);

    // Every node ends with the same data, read from its own state.
    let deadline = Instant::now() + PATIENCE;
    let contents = loop {
        let all: Result<Vec<_>> = group
            .nodes
            .keys()
            .map(|&id| local_contents(&group, id))
            .collect();
        if let Ok(all) = &all
            && all.windows(2).all(|pair| pair[0] == pair[1])
        {
            break all.first().cloned().context("a node")?;
        }
        if Instant::now() > deadline {
            bail!(
                "the nodes did not converge: {:?}",
                all.map(|all| all.iter().map(digest).collect::<Vec<_>>())
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let acked: usize = seen.iter().map(|s| s.acked.len()).sum();
    for (key, value) in seen.iter().flat_map(|s| &s.acked) {
        ensure!(
            contents.get(key) == Some(value),
            "acknowledged write of {key} lost"
        );
    }
    let ops = history.ops();
    if let Err(violation) = linearizability::check(&ops) {
        bail!("the shared keys' history is not linearizable: {violation}");
    }
    eprintln!(
        "{} s, {} kills, {acked} own-key writes acknowledged, {} shared-key operations checked, \
         {} calls without an answer; {} keys, digest {:016x} on all {NODES} nodes",
        started.elapsed().as_secs(),
        kills.len(),
        ops.len(),
        seen.iter().map(|s| s.unknown).sum::<usize>(),
        contents.len(),
        digest(&contents),
    );
    eprintln!(
        "failover (kill to first acknowledged write) s: {:?}; median {median:.2} s",
        failovers
            .iter()
            .map(|f| (f * 100.0).round() / 100.0)
            .collect::<Vec<_>>()
    );
    ensure!(!kills.is_empty(), "the run killed a leader");
    Ok(())
}
