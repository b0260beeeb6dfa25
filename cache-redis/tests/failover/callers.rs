//! Callers that keep reading through a cache during a failover, counting calls, loads and
//! errors, and the slowest call.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cache_core::{Cache, EntryOptions};

/// What the callers saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub calls: u64,
    pub errors: u64,
    pub slowest: Duration,
}

/// Reader tasks on one cache until stopped.
pub struct Callers {
    stop: Arc<AtomicBool>,
    loads: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<(u64, u64, Duration)>>,
}

impl Callers {
    /// `tasks` readers of keys `load:0` .. `load:19`.
    pub fn start(cache: &Cache, tasks: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let loads = Arc::new(AtomicU64::new(0));
        let tasks = (0..tasks)
            .map(|task| {
                let (cache, stop, loads) = (cache.clone(), Arc::clone(&stop), Arc::clone(&loads));
                tokio::spawn(async move {
                    let (mut calls, mut errors, mut slowest) = (0u64, 0u64, Duration::ZERO);
                    let mut index = task as u64;
                    while !stop.load(Ordering::Relaxed) {
                        index = (index * 7 + 3) % 20;
                        let key = format!("load:{index}");
                        let loads = Arc::clone(&loads);
                        let started = Instant::now();
                        let result: Result<String, std::io::Error> = cache
                            .get_or_load(&key, &EntryOptions::new(), move || async move {
                                loads.fetch_add(1, Ordering::Relaxed);
                                Ok(format!("value {index}"))
                            })
                            .await;
                        slowest = slowest.max(started.elapsed());
                        calls += 1;
                        if result.ok().as_deref() != Some(format!("value {index}").as_str()) {
                            errors += 1;
                        }
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    (calls, errors, slowest)
                })
            })
            .collect();
        Self { stop, loads, tasks }
    }

    /// Loads so far.
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    /// Stops the readers and sums up.
    pub async fn stop(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        let mut seen = Seen::default();
        for task in self.tasks {
            let (calls, errors, slowest) = task.await.expect("a caller panicked");
            seen.calls += calls;
            seen.errors += errors;
            seen.slowest = seen.slowest.max(slowest);
        }
        seen
    }
}
