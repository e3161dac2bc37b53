//! `hightower serve`: 32 clients at once, under `sync` durability (group
//! commit), increment one counter and write their own keys; no increment
//! is lost and every key is there.

mod server_common;

use anyhow::Result;
use redis::Commands;
use server_common::TestServer;

const CLIENTS: usize = 32;
const OPS_PER_CLIENT: usize = 100;

#[test]
fn concurrent_clients_lose_no_increment() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_open(&dir.path().join("data"), &["--durability", "sync"])?;
    std::thread::scope(|scope| -> Result<()> {
        let workers: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let server = &server;
                scope.spawn(move || -> Result<()> {
                    let mut con = server.connect()?;
                    for i in 0..OPS_PER_CLIENT {
                        let _: i64 = con.incr("shared-counter", 1)?;
                        let _: () = con.set(format!("client:{client}:{i}"), i)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("worker does not panic")?;
        }
        Ok(())
    })?;
    let mut con = server.connect()?;
    let counter: i64 = con.get("shared-counter")?;
    assert_eq!(counter, (CLIENTS * OPS_PER_CLIENT) as i64);
    let n_keys: i64 = redis::cmd("DBSIZE").query(&mut con)?;
    assert_eq!(n_keys, (CLIENTS * OPS_PER_CLIENT + 1) as i64);
    let value: i64 = con.get(format!("client:{}:{}", CLIENTS - 1, OPS_PER_CLIENT - 1))?;
    assert_eq!(value, (OPS_PER_CLIENT - 1) as i64);
    Ok(())
}
