//! The server's counters ([`ServerMetrics`]) and their Prometheus text
//! exposition together with the engine's ([`render_prometheus`]), served
//! over a minimal HTTP endpoint ([`serve_http`]) when `--metrics-listen`
//! is given. `INFO` reports the same figures.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hightower_engine::MetricsSnapshot;
use hightower_engine::metrics::HistogramSnapshot;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::server::Shared;

/// The largest HTTP request head the endpoint reads.
const HTTP_REQUEST_BYTES_MAX: usize = 8 * 1024;

/// How long the endpoint waits for a request or for its reply to be read.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// Counters of the network front end, in relaxed atomics.
#[derive(Debug, Default)]
pub struct ServerMetrics {
    /// Connections accepted since start.
    pub connections_received: AtomicU64,
    /// Connections refused because `max_connections` were open.
    pub connections_rejected: AtomicU64,
    /// Connections open now.
    pub connected_clients: AtomicU64,
    /// Commands executed (including those answered with an error).
    pub commands_processed: AtomicU64,
    /// Commands answered with an error.
    pub command_errors: AtomicU64,
    /// Connections closed for breaking the protocol.
    pub protocol_errors: AtomicU64,
    /// Connections closed for being idle too long.
    pub idle_disconnects: AtomicU64,
    /// Failed `AUTH` and `HELLO ... AUTH` attempts.
    pub auth_failures: AtomicU64,
    /// Commands refused for lack of a grant (`NOPERM`).
    pub permission_denials: AtomicU64,
    /// Key lookups that found the key.
    pub keyspace_hits: AtomicU64,
    /// Key lookups that did not.
    pub keyspace_misses: AtomicU64,
    /// `GET`s served from the value cache.
    pub value_cache_hits: AtomicU64,
    /// Bytes read from clients.
    pub net_input_bytes: AtomicU64,
    /// Bytes written to clients.
    pub net_output_bytes: AtomicU64,
}

impl ServerMetrics {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// The counters as (name, help, value), in a fixed order; `INFO stats`
    /// and the Prometheus text both read this list.
    pub fn counters(&self) -> [(&'static str, &'static str, u64); 13] {
        let get = Self::get;
        [
            (
                "connections_received",
                "Connections accepted since start.",
                get(&self.connections_received),
            ),
            (
                "connections_rejected",
                "Connections refused at the connection limit.",
                get(&self.connections_rejected),
            ),
            (
                "commands_processed",
                "Commands executed.",
                get(&self.commands_processed),
            ),
            (
                "command_errors",
                "Commands answered with an error.",
                get(&self.command_errors),
            ),
            (
                "protocol_errors",
                "Connections closed for a protocol error.",
                get(&self.protocol_errors),
            ),
            (
                "idle_disconnects",
                "Connections closed by the idle timeout.",
                get(&self.idle_disconnects),
            ),
            (
                "auth_failures",
                "Failed authentication attempts.",
                get(&self.auth_failures),
            ),
            (
                "permission_denials",
                "Commands refused for lack of a grant.",
                get(&self.permission_denials),
            ),
            (
                "keyspace_hits",
                "Key lookups that found the key.",
                get(&self.keyspace_hits),
            ),
            (
                "keyspace_misses",
                "Key lookups that did not find the key.",
                get(&self.keyspace_misses),
            ),
            (
                "value_cache_hits",
                "GETs served from the value cache.",
                get(&self.value_cache_hits),
            ),
            (
                "net_input_bytes",
                "Bytes read from clients.",
                get(&self.net_input_bytes),
            ),
            (
                "net_output_bytes",
                "Bytes written to clients.",
                get(&self.net_output_bytes),
            ),
        ]
    }

    /// The engine's counters as (name, help, value).
    pub fn engine_counters(engine: &MetricsSnapshot) -> [(&'static str, &'static str, u64); 12] {
        [
            ("puts", "Put commands committed.", engine.puts),
            ("deletes", "Delete commands committed.", engine.deletes),
            ("gets", "Point reads served.", engine.gets),
            (
                "batches",
                "Multi-command batches committed.",
                engine.batches,
            ),
            ("conflicts", "Conditional writes refused.", engine.conflicts),
            (
                "bytes_written",
                "Record bytes appended to the log.",
                engine.bytes_written,
            ),
            ("fsyncs", "fdatasync calls for commits.", engine.fsyncs),
            (
                "compaction_passes",
                "Compaction passes committed.",
                engine.compaction_passes,
            ),
            (
                "compaction_failures",
                "Compaction passes failed.",
                engine.compaction_failures,
            ),
            (
                "compaction_bytes_reclaimed",
                "File bytes freed by compaction.",
                engine.compaction_bytes_reclaimed,
            ),
            (
                "compaction_bytes_written",
                "Bytes compaction wrote.",
                engine.compaction_bytes_written,
            ),
            (
                "compaction_tombstones_dropped",
                "Tombstones compaction dropped.",
                engine.compaction_tombstones_dropped,
            ),
        ]
    }
}

/// What the exposition shows besides the counters.
#[derive(Debug, Clone, Copy)]
pub struct Gauges {
    /// Connections open now.
    pub connected_clients: u64,
    /// Live keys.
    pub keys: u64,
    /// The highest committed version.
    pub latest_version: u64,
    /// Seconds since the server started.
    pub uptime_secs: u64,
}

/// The Prometheus text exposition (format 0.0.4) of the server's and the
/// engine's metrics.
pub fn render_prometheus(
    server: &ServerMetrics,
    engine: &MetricsSnapshot,
    gauges: Gauges,
) -> String {
    let mut out = String::with_capacity(8 * 1024);
    for (name, help, value) in server.counters() {
        metric(
            &mut out,
            "counter",
            &format!("hightower_server_{name}_total"),
            help,
            value,
        );
    }
    for (name, help, value) in ServerMetrics::engine_counters(engine) {
        metric(
            &mut out,
            "counter",
            &format!("hightower_engine_{name}_total"),
            help,
            value,
        );
    }
    let gauges = [
        (
            "hightower_server_connected_clients",
            "Connections open now.",
            gauges.connected_clients,
        ),
        ("hightower_engine_keys", "Live keys.", gauges.keys),
        (
            "hightower_engine_latest_version",
            "Highest committed version.",
            gauges.latest_version,
        ),
        (
            "hightower_server_uptime_seconds",
            "Seconds since start.",
            gauges.uptime_secs,
        ),
        (
            "hightower_engine_recovery_time_microseconds",
            "Time the last open took.",
            engine.recovery_time_us,
        ),
    ];
    for (name, help, value) in gauges {
        metric(&mut out, "gauge", name, help, value);
    }
    histogram_seconds(
        &mut out,
        "hightower_engine_commit_latency_seconds",
        "Write latency from submission to acknowledgement.",
        &engine.commit_latency_us,
    );
    histogram_seconds(
        &mut out,
        "hightower_engine_fsync_latency_seconds",
        "Latency of commit fsyncs.",
        &engine.fsync_latency_us,
    );
    out
}

fn metric(out: &mut String, kind: &str, name: &str, help: &str, value: u64) {
    let _ = write!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
    );
}

/// A power-of-two microsecond histogram as a Prometheus histogram in
/// seconds; buckets above the highest one used are left out.
fn histogram_seconds(out: &mut String, name: &str, help: &str, histogram: &HistogramSnapshot) {
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} histogram\n");
    let last_used = histogram.buckets.iter().rposition(|&n| n > 0).unwrap_or(0);
    let mut cumulative = 0_u64;
    for (i, n) in histogram.buckets.iter().enumerate().take(last_used + 1) {
        cumulative += n;
        let upper_us = (1_u128 << (i + 1)) - 1;
        let _ = writeln!(
            out,
            "{name}_bucket{{le=\"{}\"}} {cumulative}",
            upper_us as f64 / 1e6
        );
    }
    let count = histogram.count();
    let _ = write!(
        out,
        "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {}\n{name}_count {count}\n",
        histogram.sum as f64 / 1e6
    );
}

/// Serves `GET /metrics` on `listener` until `shutdown` turns true. Any
/// other path gets 404. One request per connection.
pub async fn serve_http(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let shared = shared.clone();
                tokio::spawn(async move {
                    if let Err(error) = answer_http(stream, &shared).await {
                        tracing::debug!(%peer, %error, "metrics request failed");
                    }
                });
            }
            Err(error) => {
                tracing::warn!(%error, "metrics endpoint cannot accept");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn answer_http(mut stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let read = tokio::time::timeout(HTTP_TIMEOUT, async {
        let mut chunk = [0_u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < HTTP_REQUEST_BYTES_MAX {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&chunk[..n]);
        }
        Ok::<(), std::io::Error>(())
    })
    .await;
    read.map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let first_line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut words = first_line.split(|&b| b == b' ');
    let (method, path) = (words.next(), words.next());
    let (status, body) = match (method, path) {
        (Some(b"GET"), Some(b"/metrics")) => ("200 OK", shared.prometheus_text()),
        _ => ("404 Not Found", "not found: try GET /metrics\n".to_string()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tokio::time::timeout(HTTP_TIMEOUT, stream.write_all(response.as_bytes()))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_help_type_and_cumulative_buckets() {
        let server = ServerMetrics::default();
        ServerMetrics::add(&server.commands_processed, 3);
        let engine = hightower_engine::Metrics::default().snapshot();
        let text = render_prometheus(
            &server,
            &engine,
            Gauges {
                connected_clients: 1,
                keys: 2,
                latest_version: 3,
                uptime_secs: 4,
            },
        );
        assert!(text.contains("# TYPE hightower_server_commands_processed_total counter\n"));
        assert!(text.contains("\nhightower_server_commands_processed_total 3\n"));
        assert!(text.contains("\nhightower_engine_keys 2\n"));
        assert!(text.contains("hightower_engine_commit_latency_seconds_bucket{le=\"+Inf\"} 0\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert_eq!(line.split(' ').count(), 2, "{line}");
        }
    }
}
