//! The Redis-protocol server of Hightower KV, a library: [`server::Server`]
//! serves any engine with the engine's traits ([`server::ServedEngine`]:
//! `KvEngine`, `SnapshotEngine` and `AdminEngine`) to RESP2 and RESP3
//! clients, with authentication through the [`server::Authorizer`] trait.
//!
//! - [`server::resp`]: the protocol, every claimed length checked against
//!   a limit before it is believed;
//! - [`server::config`]: the settings (defaults, then a TOML file, then
//!   flags);
//! - [`server::auth`]: open access for `--no-auth`, or the store's own
//!   users and API keys (`hightower_auth::AuthService`);
//! - [`server::metrics`]: counters and the Prometheus endpoint.
//!
//! The `hightower` binary (`hightower-cli`) opens the engine and runs the
//! server on a tokio runtime; an embedder does the same:
//!
//! ```
//! use std::sync::Arc;
//!
//! use hightower_engine::SingleNodeEngine;
//! use hightower_server::server::{OpenAccess, Server, ServerConfig};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let config = ServerConfig {
//!     listen: "127.0.0.1:0".parse()?,
//!     data_dir: dir.path().to_path_buf(),
//!     no_auth: true, // Allowed on loopback only.
//!     ..ServerConfig::default()
//! };
//! let engine = Arc::new(SingleNodeEngine::with_config(config.engine_config())?);
//! let runtime = tokio::runtime::Runtime::new()?;
//! runtime.block_on(async {
//!     let server = Server::bind(config, engine, Arc::new(OpenAccess)).await?;
//!     let addr = server.local_addr().expect("the listener is bound");
//!     let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//!     let running = tokio::spawn(server.run(async {
//!         let _ = stopped.await;
//!     }));
//!     let mut client = tokio::net::TcpStream::connect(addr).await?;
//!     client.write_all(b"PING\r\n").await?;
//!     let mut reply = [0; 7];
//!     client.read_exact(&mut reply).await?;
//!     assert_eq!(&reply, b"+PONG\r\n");
//!     drop(client);
//!     let _ = stop.send(());
//!     running.await??;
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! # Ok(()) }
//! ```
//!
//! Limits: one engine per server; the server adds no persistence of its
//! own (SCAN cursors and the value cache live in memory).

pub mod server;
