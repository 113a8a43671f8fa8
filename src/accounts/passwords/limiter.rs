//! The bound on argon2: at most `max_concurrent` computations at once, each
//! with a reused buffer; up to `max_queued` more wait, each at most
//! `queue_timeout`; beyond that the caller is told to come back later. So
//! memory is `max_concurrent` buffers however many sign-ins arrive, and
//! CPU goes to finishing hashes rather than to starting more of them. A
//! buffer is kept for the next job only while callers wait for a slot: when
//! sign-ins stop, their memory goes back to the system (`main` makes the
//! allocator map a buffer this large on its own and unmap it when freed).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::argon::{Cost, Memory};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// Every slot busy and the queue full, or the wait outlasted the deadline.
    #[error("too many password hashes are being computed")]
    Busy,
    #[error("password task failed: {0}")]
    Failed(String),
}

pub struct Limiter {
    permits: Arc<Semaphore>,
    max_queued: usize,
    queue_timeout: Duration,
    waiting: AtomicUsize,
    running: AtomicUsize,
    /// Buffers not in use. A job takes one while it holds a permit, so there
    /// are never more than `max_concurrent` of them; a job that finds nobody
    /// waiting frees its buffer instead of keeping it here.
    idle: Mutex<Vec<Memory>>,
    cost: Cost,
}

impl Limiter {
    pub fn new(cost: Cost, max_concurrent: usize, max_queued: usize, queue_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            max_queued,
            queue_timeout,
            waiting: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            idle: Mutex::new(Vec::new()),
            cost,
        })
    }

    /// Runs `job` on the blocking pool once a slot is free, with a buffer of
    /// its own for the time it runs. A caller that goes away while its job
    /// runs does not free the slot early: the job keeps it to the end.
    pub async fn run<T, F>(self: &Arc<Self>, job: F) -> Result<T, LimitError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Memory) -> T + Send + 'static,
    {
        let permit = self.acquire().await?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            this.running.fetch_add(1, Ordering::SeqCst);
            let _running = Decrement(&this.running);
            // A poisoned lock only means a job panicked while returning a
            // buffer; the list itself is still whole.
            let taken = this.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let mut memory = taken.unwrap_or_else(|| Memory::new(&this.cost));
            let out = job(&mut memory);
            // Kept for a caller in the queue (a burst of sign-ins reuses it);
            // with none, the 19 MiB of the default cost are not held idle.
            if this.waiting.load(Ordering::SeqCst) > 0 {
                this.idle.lock().unwrap_or_else(|e| e.into_inner()).push(memory);
            }
            out
        })
        .await
        .map_err(|e| LimitError::Failed(e.to_string()))
    }

    async fn acquire(&self) -> Result<OwnedSemaphorePermit, LimitError> {
        // tokio's semaphore is fair: while anyone waits, this fails, so
        // nobody overtakes the queue.
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let ahead = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Decrement(&self.waiting);
        if ahead >= self.max_queued {
            return Err(LimitError::Busy);
        }
        match tokio::time::timeout(self.queue_timeout, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            // Timed out (the semaphore is never closed).
            _ => Err(LimitError::Busy),
        }
    }

    /// Jobs running now.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// Callers waiting for a slot now.
    #[cfg(test)]
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Buffers allocated and idle now.
    #[cfg(test)]
    pub fn idle_buffers(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

struct Decrement<'a>(&'a AtomicUsize);

impl Drop for Decrement<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    const TINY: Cost = Cost { memory_kib: 8, iterations: 1, parallelism: 1 };

    /// Waits (without a deadline on the outcome) until `cond` holds.
    async fn until(cond: impl Fn() -> bool) {
        for _ in 0..10_000 {
            if cond() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("condition never held");
    }

    /// A job that runs until the test says so.
    fn gated(limiter: &Arc<Limiter>) -> (mpsc::Sender<()>, tokio::task::JoinHandle<Result<(), LimitError>>) {
        let (tx, rx) = mpsc::channel::<()>();
        let l = limiter.clone();
        (tx, tokio::spawn(async move { l.run(move |_| rx.recv().unwrap_or(())).await }))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_more_than_max_concurrent_run_and_the_rest_wait_their_turn() {
        let limiter = Limiter::new(TINY, 2, 10, Duration::from_secs(600));
        let jobs: Vec<_> = (0..5).map(|_| gated(&limiter)).collect();
        until(|| limiter.running() == 2 && limiter.waiting() == 3).await;
        // Released one by one in the order they were made, which need not
        // be the order they got their slots: a job released while it still
        // waits finishes as soon as it runs. The bound holds throughout.
        for (tx, _) in &jobs {
            tx.send(()).unwrap();
            assert!(limiter.running() <= 2, "{} running", limiter.running());
        }
        for (_, handle) in jobs {
            assert_eq!(handle.await.unwrap(), Ok(()));
        }
        until(|| limiter.running() == 0 && limiter.waiting() == 0).await;
        assert!(limiter.idle_buffers() <= 2, "at most one buffer per slot: {}", limiter.idle_buffers());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_buffer_is_kept_for_a_waiting_caller_and_freed_when_nobody_waits() {
        let limiter = Limiter::new(TINY, 1, 10, Duration::from_secs(600));
        let (tx, rx) = mpsc::channel::<()>();
        let l = limiter.clone();
        let first = tokio::spawn(async move {
            l.run(move |m| {
                rx.recv().unwrap_or(());
                super::super::argon::hash(m, &TINY, "pw").is_ok()
            })
            .await
        });
        until(|| limiter.running() == 1).await;
        let l = limiter.clone();
        let second = tokio::spawn(async move { l.run(|m| m.held_bytes()).await });
        until(|| limiter.waiting() == 1).await;
        tx.send(()).unwrap();
        assert_eq!(first.await.unwrap(), Ok(true));
        assert_eq!(second.await.unwrap(), Ok(TINY.blocks() * 1024), "the waiting caller got the buffer");
        until(|| limiter.running() == 0).await;
        assert_eq!(limiter.idle_buffers(), 0, "nobody waits: the buffer is freed");
        assert_eq!(limiter.run(|m| m.held_bytes()).await, Ok(0), "a later job starts without one");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wait_past_the_deadline_is_busy_and_the_slot_still_serves_later() {
        let limiter = Limiter::new(TINY, 1, 10, Duration::from_millis(20));
        let (tx, holder) = gated(&limiter);
        until(|| limiter.running() == 1).await;
        assert_eq!(limiter.run(|_| ()).await, Err(LimitError::Busy));
        assert_eq!(limiter.waiting(), 0, "the caller that gave up left the queue");
        tx.send(()).unwrap();
        assert_eq!(holder.await.unwrap(), Ok(()));
        assert_eq!(limiter.run(|_| 7).await, Ok(7));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_turns_callers_away_at_once() {
        let limiter = Limiter::new(TINY, 1, 1, Duration::from_secs(600));
        let (tx1, first) = gated(&limiter);
        until(|| limiter.running() == 1).await;
        let (tx2, second) = gated(&limiter);
        until(|| limiter.waiting() == 1).await;
        assert_eq!(limiter.run(|_| ()).await, Err(LimitError::Busy), "the queue holds one");
        tx1.send(()).unwrap();
        tx2.send(()).unwrap();
        assert_eq!((first.await.unwrap(), second.await.unwrap()), (Ok(()), Ok(())));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_that_panics_frees_its_slot() {
        let limiter = Limiter::new(TINY, 1, 1, Duration::from_secs(600));
        let failed: Result<(), _> = limiter.run(|_| panic!("boom")).await;
        assert!(matches!(failed, Err(LimitError::Failed(_))), "{failed:?}");
        assert_eq!(limiter.run(|_| 1).await, Ok(1));
    }
}
