//! [`HashPool`]: the threads that check passwords, apart from tokio's
//! blocking pool.
//!
//! A password check costs an Argon2 hash (tens of milliseconds and 19 MiB
//! by default). Run on the blocking pool, a flood of `AUTH` would hold its
//! threads and delay the writes that wait there for an fsync. Here a
//! fixed number of threads take jobs from a bounded queue; when the queue
//! is full a job is refused at once and handed back, so the connection
//! can answer with an error instead of waiting.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_channel::{Receiver, Sender};
use tokio::sync::oneshot;

/// The most password-check threads, whatever the number of CPUs.
const HASH_THREADS_MAX: usize = 8;

/// Jobs that may wait for a thread, per thread.
const QUEUED_PER_THREAD: usize = 8;

type Job = Box<dyn FnOnce() + Send>;

/// See the module docs.
#[derive(Debug)]
pub(crate) struct HashPool {
    jobs: Sender<Job>,
    /// Jobs queued or running; never above `jobs_max`.
    in_flight: Arc<AtomicUsize>,
    jobs_max: usize,
}

impl HashPool {
    /// A pool with one thread per CPU (at most [`HASH_THREADS_MAX`]) and
    /// room for [`QUEUED_PER_THREAD`] waiting jobs per thread.
    pub(crate) fn new() -> std::io::Result<Self> {
        let n_threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, HASH_THREADS_MAX);
        Self::with_threads(n_threads, n_threads * QUEUED_PER_THREAD)
    }

    /// A pool of `n_threads` threads and `queued_max` waiting jobs.
    pub(crate) fn with_threads(n_threads: usize, queued_max: usize) -> std::io::Result<Self> {
        let jobs_max = n_threads + queued_max;
        let (jobs, receiver) = crossbeam_channel::bounded::<Job>(jobs_max);
        for i in 0..n_threads {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("hightower-hash-{i}"))
                .spawn(move || work(&receiver))?;
        }
        Ok(HashPool {
            jobs,
            in_flight: Arc::new(AtomicUsize::new(0)),
            jobs_max,
        })
    }

    /// Runs `job(input)` on a pool thread; `Err(input)` at once when the
    /// queue is full. The receiver fails only when the job panicked.
    pub(crate) fn try_run<I, T>(
        &self,
        input: I,
        job: impl FnOnce(I) -> T + Send + 'static,
    ) -> Result<oneshot::Receiver<T>, I>
    where
        I: Send + 'static,
        T: Send + 'static,
    {
        let reserved = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.jobs_max).then_some(n + 1)
            });
        if reserved.is_err() {
            return Err(input);
        }
        let (done, receiver) = oneshot::channel();
        let in_flight = self.in_flight.clone();
        let boxed: Job = Box::new(move || {
            // The place is given back before the reply, so that a caller
            // who saw the reply finds it free.
            let result = {
                let _slot = Slot(in_flight);
                job(input)
            };
            let _ = done.send(result);
        });
        // The reservation keeps the channel below its capacity, and the
        // threads live as long as the sender: the send cannot fail.
        if self.jobs.try_send(boxed).is_err() {
            tracing::error!("the password-check queue refused a reserved job");
        }
        Ok(receiver)
    }
}

/// Gives back a job's place in the pool when the job ends (or panics).
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn work(jobs: &Receiver<Job>) {
    // Ends when the pool (the only sender) is dropped.
    for job in jobs.iter() {
        if catch_unwind(AssertUnwindSafe(job)).is_err() {
            tracing::error!("a password check panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    #[test]
    fn a_full_pool_hands_the_input_back_at_once() {
        let pool = HashPool::with_threads(1, 1).expect("threads start");
        let gate = Arc::new(Barrier::new(2));
        let held = gate.clone();
        let running = pool
            .try_run((), move |()| {
                held.wait();
            })
            .expect("a thread is free");
        let queued = pool.try_run(7, |n| n * 2).expect("room in the queue");
        assert_eq!(pool.try_run(5, |n| n).expect_err("full"), 5);
        gate.wait();
        running.blocking_recv().expect("ran");
        assert_eq!(queued.blocking_recv().expect("ran"), 14);
        let again = pool.try_run(1, |n| n + 1).expect("room again");
        assert_eq!(again.blocking_recv().expect("ran"), 2);
    }

    #[test]
    fn a_panicking_job_gives_back_its_place() {
        let pool = HashPool::with_threads(1, 0).expect("threads start");
        let failed = pool.try_run((), |()| panic!("boom")).expect("free");
        assert!(failed.blocking_recv().is_err());
        let after = pool.try_run(3, |n| n).expect("the place came back");
        assert_eq!(after.blocking_recv().expect("ran"), 3);
    }
}
