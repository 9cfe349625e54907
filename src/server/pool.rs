//! A fixed pool of worker threads fed by a `Mutex<VecDeque>` + `Condvar` job
//! queue. It knows nothing about FTP.
//!
//! The pool never grows: `size` threads are started once, and each takes one
//! job at a time, so the worker count is also the bound on work done at
//! once. Shutdown pushes one [`Task::Stop`] per worker (the sentinel wakes a
//! blocked worker, like tiny-http's `Control::Unblock`). Each job runs inside
//! `catch_unwind`: a panicking job costs that job, never the worker. The
//! queue lock is held only to push or pop, never while a job runs.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use log::error;

/// What a worker finds in the queue.
enum Task<J> {
    Run(J),
    Stop,
}

struct Queue<J> {
    tasks: Mutex<VecDeque<Task<J>>>,
    available: Condvar,
}

impl<J> Queue<J> {
    // Queue operations are single pushes and pops, so the deque is valid
    // even if a holder panicked; recover the guard instead of spreading the
    // panic to every worker.
    fn lock(&self) -> MutexGuard<'_, VecDeque<Task<J>>> {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A fixed set of threads running jobs of type `J` with one handler.
pub struct WorkerPool<J: Send + 'static> {
    queue: Arc<Queue<J>>,
    workers: Vec<JoinHandle<()>>,
}

/// Stack size of a worker: sessions hold small, bounded state on the stack
/// (the 4 KiB line buffer is the largest); a smaller stack than std's 2 MiB
/// default keeps the address-space cost of many workers low on 32-bit boards.
const WORKER_STACK_SIZE: usize = 256 * 1024;

impl<J: Send + 'static> WorkerPool<J> {
    /// Starts `size` workers, each calling `handler` on the jobs it pops.
    pub fn new<F>(size: usize, handler: F) -> std::io::Result<WorkerPool<J>>
    where
        F: Fn(J) + Send + Sync + 'static,
    {
        let queue = Arc::new(Queue {
            tasks: Mutex::new(VecDeque::with_capacity(size)),
            available: Condvar::new(),
        });
        let handler = Arc::new(handler);
        let mut workers = Vec::with_capacity(size);
        for index in 0..size {
            let queue = Arc::clone(&queue);
            let handler = Arc::clone(&handler);
            let worker = std::thread::Builder::new()
                .name(format!("worker-{index}"))
                .stack_size(WORKER_STACK_SIZE)
                .spawn(move || work(&queue, &*handler))?;
            workers.push(worker);
        }
        Ok(WorkerPool { queue, workers })
    }

    /// Queues a job; a free worker picks it up.
    pub fn submit(&self, job: J) {
        self.queue.lock().push_back(Task::Run(job));
        self.queue.available.notify_one();
    }

    /// Asks every worker to stop once the jobs queued before now are done,
    /// and waits for them until `deadline`. Returns how many were still
    /// running at the deadline (their threads are left to the process exit).
    pub fn shutdown(mut self, deadline: Instant) -> usize {
        {
            let mut tasks = self.queue.lock();
            for _ in 0..self.workers.len() {
                tasks.push_back(Task::Stop);
            }
        }
        self.queue.available.notify_all();
        let mut still_running = 0;
        for worker in self.workers.drain(..) {
            // std has no join with a timeout: poll is_finished().
            while !worker.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if worker.is_finished() {
                let _ = worker.join();
            } else {
                still_running += 1;
            }
        }
        still_running
    }
}

fn work<J, F: Fn(J)>(queue: &Queue<J>, handler: &F) {
    loop {
        let task = {
            let mut tasks = queue.lock();
            loop {
                match tasks.pop_front() {
                    Some(task) => break task,
                    None => {
                        tasks = queue
                            .available
                            .wait(tasks)
                            .unwrap_or_else(PoisonError::into_inner)
                    }
                }
            }
        };
        match task {
            Task::Stop => return,
            Task::Run(job) => {
                // A panic in one session must not shrink the pool.
                if catch_unwind(AssertUnwindSafe(|| handler(job))).is_err() {
                    error!("a job panicked; the worker carries on");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn jobs_run_on_a_fixed_number_of_threads() {
        let (done, results) = mpsc::channel();
        let done = Mutex::new(done);
        let pool = WorkerPool::new(3, move |n: u32| {
            let name = std::thread::current().name().unwrap().to_string();
            done.lock().unwrap().send((n, name)).unwrap();
        })
        .unwrap();
        for n in 0..30 {
            pool.submit(n);
        }
        let mut seen: Vec<(u32, String)> = (0..30).map(|_| results.recv().unwrap()).collect();
        seen.sort();
        assert_eq!(
            seen.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            (0..30).collect::<Vec<_>>()
        );
        let mut names: Vec<String> = seen.into_iter().map(|(_, name)| name).collect();
        names.sort();
        names.dedup();
        assert!(names.len() <= 3, "{names:?}");
        assert_eq!(pool.shutdown(Instant::now() + Duration::from_secs(5)), 0);
    }

    #[test]
    fn a_panicking_job_does_not_kill_its_worker() {
        let (done, results) = mpsc::channel();
        let done = Mutex::new(done);
        let pool = WorkerPool::new(1, move |n: u32| {
            if n == 0 {
                panic!("boom");
            }
            done.lock().unwrap().send(n).unwrap();
        })
        .unwrap();
        pool.submit(0);
        pool.submit(1);
        assert_eq!(results.recv_timeout(Duration::from_secs(5)).unwrap(), 1);
        assert_eq!(pool.shutdown(Instant::now() + Duration::from_secs(5)), 0);
    }
}
