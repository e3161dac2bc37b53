//! The front end of Hightower KV: the `hightower` command line and the
//! Redis-protocol network server ([`server::Server`]) over
//! [`hightower_engine::SingleNodeEngine`].
//!
//! The binary's own code lives in `src/main.rs`, `src/cli.rs` and
//! `src/commands/` and is not part of this library. The library holds the
//! pieces that do not depend on how errors are reported:
//!
//! - [`escape`]: shows arbitrary key and value bytes as one line of ASCII,
//!   so that `key<TAB>value` output stays parseable.
//! - [`latency`]: [`latency::LatencyHistogram`], a fixed-size log-linear
//!   histogram of nanosecond latencies, for `hightower bench`.
//! - [`server`]: the server of `hightower serve`: the RESP2/RESP3 protocol
//!   ([`server::resp`]), the commands, authentication through the
//!   [`server::Authorizer`] trait, metrics and configuration.
//!
//! ```
//! use hightower_server::escape::escape_bytes;
//! use hightower_server::latency::LatencyHistogram;
//!
//! assert_eq!(escape_bytes(b"user:1\t\x00"), "user:1\\t\\x00");
//!
//! let mut histogram = LatencyHistogram::new();
//! for nanos in 1..=1000 {
//!     histogram.record(nanos);
//! }
//! assert_eq!(histogram.count(), 1000);
//! let p50 = histogram.quantile(0.5);
//! assert!((500..=520).contains(&p50));
//! ```
//!
//! Limits: the histogram reports quantiles within about 3 % of the true
//! value (exactly below 64 ns).

pub mod escape;
pub mod latency;
pub mod server;
