//! Background seals: a rolled segment is sealed (footer written and
//! fsynced) on a thread of its own, off the write path.
//!
//! At most [`SEALS_IN_FLIGHT_MAX`] seals run at once: a roll at the limit
//! waits for the oldest first, so a slow disk slows writers down instead of
//! piling up threads and unsealed segments. Every seal is joined: finished
//! ones at the next roll, the rest by `Storage::finish_seals`. A failed
//! seal poisons the engine with its error, at once from the sealing thread
//! (so writes stop before anyone joins it) and again, harmlessly, when it
//! is joined; a seal that panicked poisons it with
//! [`EngineError::BackgroundPanic`] when joined, a bug to report rather
//! than damaged data.

use std::any::Any;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use hightower_log::LogSegment;
use parking_lot::Mutex;

use crate::error::{EngineError, Result};
use crate::poison::Poison;

/// Seals running at once at most.
#[cfg_attr(
    not(feature = "testing"),
    allow(unreachable_pub, reason = "public through the `testing` feature")
)]
pub const SEALS_IN_FLIGHT_MAX: usize = 2;

/// One seal on its thread.
#[derive(Debug)]
pub(super) struct Sealer {
    segment_id: u32,
    path: PathBuf,
    handle: JoinHandle<hightower_log::Result<()>>,
}

/// The seals not yet joined, oldest first; at most
/// [`SEALS_IN_FLIGHT_MAX`] of them.
#[derive(Debug, Default)]
pub(super) struct Sealers {
    running: Mutex<VecDeque<Sealer>>,
}

impl Sealers {
    /// Starts sealing `segment` on a new thread. Call [`Sealers::make_room`]
    /// first.
    pub(super) fn spawn(&self, segment: Arc<LogSegment>, poison: &Poison) -> std::io::Result<()> {
        let segment_id = segment.id();
        let path = segment.path().to_path_buf();
        let poison = poison.clone();
        let handle = std::thread::Builder::new()
            .name(format!("hightower-seal-{segment_id}"))
            .spawn(move || {
                let outcome = segment.seal();
                if let Err(error) = &outcome {
                    poison.set(|| error.to_string());
                }
                outcome
            })?;
        self.push(Sealer {
            segment_id,
            path,
            handle,
        });
        Ok(())
    }

    fn push(&self, sealer: Sealer) {
        let mut running = self.running.lock();
        assert!(
            running.len() < SEALS_IN_FLIGHT_MAX,
            "make_room runs before every seal starts"
        );
        running.push_back(sealer);
    }

    /// Joins the finished seals, then the oldest ones while the limit is
    /// reached, so one more may start. Returns the first failure among
    /// them (each has poisoned the engine).
    pub(super) fn make_room(&self, poison: &Poison) -> Result<()> {
        let mut running = self.running.lock();
        let mut first_error = None;
        let mut still_running = VecDeque::with_capacity(running.len());
        for sealer in running.drain(..) {
            if sealer.handle.is_finished() {
                if let Err(e) = join(sealer, poison) {
                    first_error.get_or_insert(e);
                }
            } else {
                still_running.push_back(sealer);
            }
        }
        while still_running.len() >= SEALS_IN_FLIGHT_MAX {
            let oldest = still_running.pop_front().expect("the queue is not empty");
            if let Err(e) = join(oldest, poison) {
                first_error.get_or_insert(e);
            }
        }
        *running = still_running;
        first_error.map_or(Ok(()), Err)
    }

    /// Joins every seal; returns the first failure (each has poisoned the
    /// engine).
    pub(super) fn join_all(&self, poison: &Poison) -> Result<()> {
        let sealers = std::mem::take(&mut *self.running.lock());
        let mut first_error = None;
        for sealer in sealers {
            if let Err(e) = join(sealer, poison) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Seals started and not yet joined.
    #[cfg(any(test, feature = "testing"))]
    pub(super) fn in_flight(&self) -> usize {
        self.running.lock().len()
    }
}

/// Waits for one seal and turns its failure or panic into an error that
/// poisons the engine.
fn join(sealer: Sealer, poison: &Poison) -> Result<()> {
    let error = match sealer.handle.join() {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(error)) => EngineError::from(error),
        Err(payload) => EngineError::BackgroundPanic {
            task: format!(
                "sealing segment {} ({})",
                sealer.segment_id,
                sealer.path.display()
            ),
            message: panic_message(payload.as_ref()),
        },
    };
    poison.set(|| error.to_string());
    Err(error)
}

/// The text a panic was raised with, when it was text.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hightower_log::LogError;

    fn sealer(
        id: u32,
        work: impl FnOnce() -> hightower_log::Result<()> + Send + 'static,
    ) -> Sealer {
        Sealer {
            segment_id: id,
            path: PathBuf::from(format!("{id:010}.log")),
            handle: std::thread::spawn(work),
        }
    }

    #[test]
    fn a_panicked_seal_is_a_bug_report_and_poisons() {
        let poison = Poison::default();
        let panicked = sealer(7, || panic!("footer encoder broke"));
        let error = join(panicked, &poison).expect_err("the seal panicked");
        assert!(
            matches!(&error, EngineError::BackgroundPanic { task, message }
                if task.contains("segment 7") && message == "footer encoder broke"),
            "{error:?}"
        );
        assert!(!error.is_corruption(), "a panic is not damaged data");
        let reason = poison.reason().expect("the panic poisoned the engine");
        assert!(reason.contains("footer encoder broke"), "{reason}");
    }

    #[test]
    fn a_failed_seal_returns_its_error_and_poisons() {
        let poison = Poison::default();
        let failed = sealer(3, || {
            Err(LogError::Io {
                path: PathBuf::from("0000000003.log"),
                source: std::io::Error::from_raw_os_error(5),
            })
        });
        let error = join(failed, &poison).expect_err("the seal failed");
        assert!(
            matches!(error, EngineError::Log(LogError::Io { .. })),
            "{error:?}"
        );
        assert!(poison.reason().is_some_and(|r| r.contains("os error 5")));
    }

    #[test]
    fn make_room_leaves_room_for_one_more() {
        let poison = Poison::default();
        let sealers = Sealers::default();
        let mut releases = Vec::new();
        for id in 0..SEALS_IN_FLIGHT_MAX as u32 {
            let (release, released) = crossbeam_channel::bounded::<()>(1);
            releases.push(release);
            sealers.push(sealer(id, move || {
                let _ = released.recv();
                Ok(())
            }));
        }
        assert_eq!(sealers.in_flight(), SEALS_IN_FLIGHT_MAX);
        // Only the oldest may finish; make_room waits for it.
        releases[0].send(()).expect("the oldest seal listens");
        sealers.make_room(&poison).expect("no seal failed");
        assert_eq!(sealers.in_flight(), SEALS_IN_FLIGHT_MAX - 1);
        for release in &releases[1..] {
            release.send(()).expect("the seal listens");
        }
        sealers.join_all(&poison).expect("no seal failed");
        assert_eq!(sealers.in_flight(), 0);
        assert_eq!(poison.reason(), None);
    }
}
