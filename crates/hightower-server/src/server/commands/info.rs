//! `INFO [section ...]`: the sections server, clients, stats, persistence,
//! replication, keyspace and engine, in Redis's `# Section` / `field:value` text form.
//! The figures are those of the Prometheus endpoint.

use std::fmt::Write as _;

use crate::server::SERVER_VERSION;
use crate::server::dispatch::{CommandResult, Ctx};
use crate::server::metrics::ServerMetrics;
use crate::server::resp::Request;

/// The Redis version whose protocol and commands clients may assume.
/// Client libraries read `redis_version` to decide which commands to use.
const REDIS_COMPATIBLE_VERSION: &str = "7.2.0";

const SECTIONS: &[&str] = &[
    "server",
    "clients",
    "stats",
    "persistence",
    "replication",
    "keyspace",
    "engine",
];

pub(crate) fn info(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    let wanted: Vec<String> = request
        .args()
        .skip(1)
        .map(|arg| String::from_utf8_lossy(arg).to_ascii_lowercase())
        .collect();
    let all = wanted.is_empty()
        || wanted
            .iter()
            .any(|w| matches!(w.as_str(), "all" | "everything" | "default"));
    let mut text = String::with_capacity(4096);
    for section in SECTIONS {
        if all || wanted.iter().any(|w| w == section) {
            if !text.is_empty() {
                text.push_str("\r\n");
            }
            write_section(ctx, section, &mut text);
        }
    }
    ctx.reply().verbatim_text(text.as_bytes());
    Ok(())
}

/// Appends one `name:value` line.
fn kv(text: &mut String, name: &str, value: impl std::fmt::Display) {
    let _ = write!(text, "{name}:{value}\r\n");
}

fn write_section(ctx: &Ctx<'_>, section: &str, text: &mut String) {
    let shared = ctx.shared;
    let config = &shared.config;
    let metrics = &shared.metrics;
    match section {
        "server" => {
            let uptime_secs = shared.started.elapsed().as_secs();
            text.push_str("# Server\r\n");
            kv(text, "redis_version", REDIS_COMPATIBLE_VERSION);
            kv(text, "hightower_version", SERVER_VERSION);
            kv(text, "redis_mode", "standalone");
            kv(text, "os", std::env::consts::OS);
            kv(text, "arch_bits", usize::BITS);
            kv(text, "process_id", std::process::id());
            kv(text, "tcp_port", config.listen.port());
            kv(text, "uptime_in_seconds", uptime_secs);
            kv(text, "uptime_in_days", uptime_secs / 86_400);
        }
        "clients" => {
            text.push_str("# Clients\r\n");
            kv(
                text,
                "connected_clients",
                ServerMetrics::get(&metrics.connected_clients),
            );
            kv(text, "maxclients", config.max_connections);
            kv(text, "idle_timeout_secs", config.idle_timeout_secs);
            kv(text, "pending_replies_max", config.pending_replies_max);
            let cache_bytes = shared.cache.as_ref().map_or(0, |cache| cache.bytes());
            kv(text, "value_cache_bytes", cache_bytes);
        }
        "stats" => {
            text.push_str("# Stats\r\n");
            for (name, _, value) in metrics.counters() {
                let redis_name = match name {
                    "connections_received" => "total_connections_received",
                    "connections_rejected" => "rejected_connections",
                    "commands_processed" => "total_commands_processed",
                    "command_errors" => "total_error_replies",
                    "net_input_bytes" => "total_net_input_bytes",
                    "net_output_bytes" => "total_net_output_bytes",
                    other => other,
                };
                kv(text, redis_name, value);
            }
        }
        "persistence" => write_persistence(ctx, text),
        "replication" => write_replication(ctx, text),
        "keyspace" => {
            text.push_str("# Keyspace\r\n");
            let n_keys = shared.engine.len();
            if n_keys > 0 {
                kv(
                    text,
                    "db0",
                    format_args!("keys={n_keys},expires=0,avg_ttl=0"),
                );
            }
        }
        _ => write_engine(ctx, text),
    }
}

/// A node on its own answers as a Redis master without replicas; a node
/// of a Raft group tells its role in the group, its term, its leader and
/// how far its log is committed and applied.
fn write_replication(ctx: &Ctx<'_>, text: &mut String) {
    text.push_str("# Replication\r\n");
    let Some(status) = ctx.shared.engine.replication() else {
        kv(text, "role", "master");
        kv(text, "connected_slaves", 0);
        return;
    };
    let index = |index: Option<u64>| index.map_or_else(|| "none".to_string(), |i| i.to_string());
    kv(text, "role", status.role);
    kv(text, "node_id", status.node_id);
    kv(text, "term", status.term);
    kv(
        text,
        "leader_id",
        status
            .leader_id
            .map_or_else(|| "none".to_string(), |id| id.to_string()),
    );
    kv(
        text,
        "leader_addr",
        status.leader_addr.as_deref().unwrap_or("none"),
    );
    kv(
        text,
        "leader_raft_addr",
        status.leader_raft_addr.as_deref().unwrap_or("none"),
    );
    kv(text, "commit_index", index(status.commit_index));
    kv(text, "applied_index", index(status.applied_index));
    kv(text, "last_log_index", index(status.last_log_index));
    let voters: Vec<String> = status.voters.iter().map(u64::to_string).collect();
    kv(text, "voters", voters.join(","));
}

fn write_persistence(ctx: &Ctx<'_>, text: &mut String) {
    let engine = &ctx.shared.engine;
    let snapshot = engine.metrics();
    let durability = match ctx.shared.config.durability {
        crate::server::DurabilityMode::Sync => "sync",
        crate::server::DurabilityMode::Periodic => "periodic",
        crate::server::DurabilityMode::None => "none",
    };
    text.push_str("# Persistence\r\n");
    kv(text, "loading", 0);
    kv(text, "aof_enabled", 1);
    kv(text, "durability", durability);
    kv(
        text,
        "engine_poisoned",
        u8::from(engine.poison_reason().is_some()),
    );
    kv(text, "latest_version", engine.latest_version());
    kv(text, "recovery_time_us", snapshot.recovery_time_us);
    kv(text, "fsyncs", snapshot.fsyncs);
    kv(
        text,
        "fsync_latency_p99_us",
        snapshot.fsync_latency_us.quantile_upper_bound(0.99),
    );
}

fn write_engine(ctx: &Ctx<'_>, text: &mut String) {
    let snapshot = ctx.shared.engine.metrics();
    text.push_str("# Engine\r\n");
    for (name, _, value) in ServerMetrics::engine_counters(&snapshot) {
        kv(text, &format!("engine_{name}"), value);
    }
    let commit = &snapshot.commit_latency_us;
    kv(
        text,
        "engine_commit_latency_p50_us",
        commit.quantile_upper_bound(0.5),
    );
    kv(
        text,
        "engine_commit_latency_p99_us",
        commit.quantile_upper_bound(0.99),
    );
    kv(
        text,
        "engine_group_commit_size_mean",
        format_args!("{:.2}", snapshot.group_commit_size.mean()),
    );
}
