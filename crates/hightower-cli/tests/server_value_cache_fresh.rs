//! `hightower serve`: GET never returns a stale value from the value
//! cache: after every acknowledged write, delete or compare-and-set, a GET
//! on any connection returns the new value, also while another client
//! writes the key concurrently.

mod server_common;

use std::sync::atomic::{AtomicI64, Ordering};

use anyhow::{Result, ensure};
use redis::{Commands, cmd};
use server_common::TestServer;

const ROUNDS: i64 = 300;

#[test]
fn reads_after_writes_see_the_writes() -> Result<()> {
    let dir = tempfile::tempdir()?;
    // The cache is off by default; this test is about the cache.
    let server = TestServer::start_open(
        &dir.path().join("data"),
        &["--durability", "none", "--value-cache-mib", "64"],
    )?;
    let mut writer = server.connect()?;
    let mut reader = server.connect()?;
    for i in 0..ROUNDS {
        let _: () = writer.set("hot", i)?;
        assert_eq!(reader.get::<_, i64>("hot")?, i);
        assert_eq!(reader.get::<_, i64>("hot")?, i, "a cached read");
        match i % 4 {
            0 => {
                let _: i64 = writer.del("hot")?;
                assert_eq!(reader.get::<_, Option<i64>>("hot")?, None);
            }
            1 => {
                let _: () = writer.mset(&[("hot", i + 1000)])?;
                assert_eq!(reader.get::<_, i64>("hot")?, i + 1000);
            }
            2 => {
                let (_, version): (String, i64) = cmd("HT.GETV").arg("hot").query(&mut writer)?;
                let _: i64 = cmd("HT.CAS")
                    .arg("hot")
                    .arg(version)
                    .arg(-i)
                    .query(&mut writer)?;
                assert_eq!(reader.get::<_, i64>("hot")?, -i);
            }
            _ => {
                let _: i64 = writer.incr("hot", 1)?;
                assert_eq!(reader.get::<_, i64>("hot")?, i + 1);
            }
        }
    }

    // Concurrently: once a write is acknowledged, no read returns an
    // older value.
    let acknowledged = AtomicI64::new(-1);
    std::thread::scope(|scope| -> Result<()> {
        let writes = scope.spawn(|| -> Result<()> {
            let mut con = server.connect()?;
            for i in 0..ROUNDS * 3 {
                let _: () = con.set("counter", i)?;
                acknowledged.store(i, Ordering::SeqCst);
            }
            Ok(())
        });
        let mut con = server.connect()?;
        // Ends with the writer, whether it finishes or fails.
        while !writes.is_finished() {
            let floor = acknowledged.load(Ordering::SeqCst);
            let seen: Option<i64> = con.get("counter")?;
            ensure!(
                seen.unwrap_or(-1) >= floor,
                "read {seen:?} after {floor} was acknowledged"
            );
        }
        writes.join().expect("writer does not panic")
    })?;
    Ok(())
}
