//! The harness of the refresh-ahead tests of `#[cached]`: a gate that holds every reload until
//! the test opens it (and records the thread and task each reload ran on), and a drive that
//! takes a cached call past its refresh point and checks what each caller got and who reloaded.
//!
//! Nothing is asserted about time: while the gate is closed only the current value can be
//! served, so "the refreshing caller did not wait" is "it returned the current value while its
//! reload was held", and "it reloaded inline" is "the reload ran on its own thread (or task)
//! and it returned the fresh value". Every wait gives up after 10 s, so a bug fails instead of
//! hanging.

use std::fmt::Debug;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use cache_core::Cache;
use tokio::sync::Notify;

use crate::common::within;

const TIMEOUT: Duration = Duration::from_secs(10);

/// Where a reload ran.
#[derive(Clone, Copy, Debug)]
pub struct Arrival {
    pub thread: ThreadId,
    pub task: Option<tokio::task::Id>,
}

#[derive(Default)]
struct GateState {
    open: bool,
    arrivals: Vec<Arrival>,
}

#[derive(Default)]
struct GateInner {
    state: Mutex<GateState>,
    changed: Condvar,
    notify: Notify,
}

/// A gate reloads wait at until the test opens it.
#[derive(Clone, Default)]
pub struct Gate(Arc<GateInner>);

impl Gate {
    fn state(&self) -> MutexGuard<'_, GateState> {
        self.0.state.lock().unwrap()
    }

    fn update(&self, change: impl FnOnce(&mut GateState)) {
        change(&mut self.state());
        self.0.changed.notify_all();
        self.0.notify.notify_waiters();
    }

    /// Blocks until `ready` answers, for at most 10 s.
    fn wait_blocking<R>(&self, mut ready: impl FnMut(&GateState) -> Option<R>) -> R {
        let deadline = Instant::now() + TIMEOUT;
        let mut state = self.state();
        loop {
            if let Some(answer) = ready(&state) {
                return answer;
            }
            let left = deadline
                .checked_duration_since(Instant::now())
                .expect("timed out at the gate: a wait that should finish did not");
            state = self.0.changed.wait_timeout(state, left).unwrap().0;
        }
    }

    /// Waits until `ready` answers, for at most 10 s.
    async fn wait<R>(&self, mut ready: impl FnMut(&GateState) -> Option<R>) -> R {
        within(async {
            loop {
                let notified = self.0.notify.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if let Some(answer) = ready(&self.state()) {
                    return answer;
                }
                notified.await;
            }
        })
        .await
    }

    fn arrive(&self) {
        let arrival = Arrival {
            thread: thread::current().id(),
            task: tokio::task::try_id(),
        };
        self.update(|state| state.arrivals.push(arrival));
    }

    /// Lets every reload through, now and later.
    pub fn open(&self) {
        self.update(|state| state.open = true);
    }

    /// How many reloads reached the gate.
    pub fn arrivals(&self) -> usize {
        self.state().arrivals.len()
    }

    /// Where the first reload ran, once it reached the gate (blocking).
    pub fn first_arrival_blocking(&self) -> Arrival {
        self.wait_blocking(|state| state.arrivals.first().copied())
    }

    /// Where the first reload ran, once it reached the gate.
    pub async fn first_arrival(&self) -> Arrival {
        self.wait(|state| state.arrivals.first().copied()).await
    }

    /// Reaches the gate and waits (blocking) until it is open.
    pub fn pass_blocking(&self) {
        self.arrive();
        self.wait_blocking(|state| state.open.then_some(()));
    }

    /// Reaches the gate and waits until it is open.
    pub async fn pass(&self) {
        self.arrive();
        self.wait(|state| state.open.then_some(())).await;
    }
}

/// What the body of a function under test uses: a load counter and the gate.
#[derive(Default)]
pub struct Probe {
    loads: AtomicU32,
    pub gate: Gate,
}

impl Probe {
    /// The body of a plain `fn` under test: version 1, 2, 3...; every reload (version 2 on)
    /// waits at the gate.
    pub fn load_blocking(&self) -> u32 {
        let version = self.loads.fetch_add(1, Ordering::SeqCst) + 1;
        if version > 1 {
            self.gate.pass_blocking();
        }
        version
    }

    /// The body of an `async fn` under test, as [`Probe::load_blocking`].
    pub async fn load(&self) -> u32 {
        let version = self.loads.fetch_add(1, Ordering::SeqCst) + 1;
        if version > 1 {
            self.gate.pass().await;
        }
        version
    }

    /// How many times the body ran.
    pub fn loads(&self) -> u32 {
        self.loads.load(Ordering::SeqCst)
    }
}

/// What a test drives: the cache of the function under test and the probe of its body.
pub struct Subject {
    pub cache: Cache,
    pub probe: Probe,
}

impl Subject {
    /// A cache with default settings.
    pub fn new() -> Self {
        Self::with(Cache::builder().build().unwrap())
    }

    /// The given cache.
    pub fn with(cache: Cache) -> Self {
        Self {
            cache,
            probe: Probe::default(),
        }
    }
}

/// How the refresh is expected to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ran {
    /// The refreshing call returns the current value; another thread (or task) reloads.
    Background,
    /// The refreshing call reloads on its own thread (or task) and returns the fresh value.
    Inline,
}

/// Runs `call` on a thread of its own and waits for its answer for at most 10 s.
fn within_blocking<T: Send + 'static>(call: impl FnOnce() -> T + Send + 'static) -> T {
    let (sender, receiver) = std::sync::mpsc::channel();
    thread::spawn(move || sender.send(call()));
    receiver
        .recv_timeout(TIMEOUT)
        .expect("timed out: a call that should return did not")
}

/// The checks once the reload ran (taken at once: the reloaded entry has a refresh point of
/// its own): who ran it, what the refreshing call returned, one reload, the cache's counts.
fn check<T: PartialEq + Debug>(
    ran: Ran,
    refreshing: (T, bool),
    current: &T,
    fresh: &T,
    subject: &Subject,
) {
    let Subject { cache, probe } = subject;
    let stats = cache.stats();
    assert_eq!(probe.loads(), 2, "exactly one reload");
    assert_eq!(probe.gate.arrivals(), 1, "exactly one reload");
    assert_eq!(
        (stats.loads, stats.refreshes, stats.misses),
        (2, 1, 1),
        "{stats:?}"
    );
    let inline = u64::from(matches!(ran, Ran::Inline));
    assert_eq!(stats.inline_refreshes, inline, "{stats:?}");
    let (value, reloaded_by_the_caller) = refreshing;
    match ran {
        Ran::Background => {
            assert_eq!(&value, current, "the refreshing call did not wait");
            assert!(!reloaded_by_the_caller, "the reload ran elsewhere");
        }
        Ran::Inline => {
            assert_eq!(&value, fresh, "the refreshing call reloaded");
            assert!(
                reloaded_by_the_caller,
                "the reload ran in the refreshing call"
            );
        }
    }
}

/// Takes a plain `fn`'s cached `call` past its refresh point with the reload held, and checks
/// the refresh ran as `ran` says; a call made meanwhile returns `current` without waiting.
/// Expecting `Ran::Background`, the gate opens only once the refreshing call returned (had it
/// waited for its reload, that would time out).
pub fn drive_blocking<T>(
    subject: &Subject,
    call: impl Fn() -> T + Send + Sync + 'static,
    current: T,
    fresh: T,
    ran: Ran,
) where
    T: PartialEq + Debug + Send + 'static,
{
    let probe = &subject.probe;
    let call = Arc::new(call);
    let first = Arc::clone(&call);
    assert_eq!(within_blocking(move || first()), current, "the first load");

    // Calls until a reload reached the gate (the first call past the refresh point claims it).
    let caller = {
        let (call, gate) = (Arc::clone(&call), probe.gate.clone());
        thread::spawn(move || {
            let deadline = Instant::now() + TIMEOUT;
            loop {
                let value = call();
                if gate.arrivals() > 0 {
                    return (value, thread::current().id());
                }
                assert!(Instant::now() < deadline, "the refresh point never came");
                thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let reload = probe.gate.first_arrival_blocking();
    let meanwhile = Arc::clone(&call);
    assert_eq!(
        within_blocking(move || meanwhile()),
        current,
        "a call made while the reload is held"
    );
    // A background refresh lets its caller return while the reload is held; an inline one
    // holds the caller until the gate opens.
    let join = move || within_blocking(move || caller.join().unwrap());
    let (value, caller) = match ran {
        Ran::Background => {
            let returned = join();
            probe.gate.open();
            returned
        }
        Ran::Inline => {
            probe.gate.open();
            join()
        }
    };
    check(
        ran,
        (value, reload.thread == caller),
        &current,
        &fresh,
        subject,
    );

    // Later calls return the reloaded value (in the background: once it lands).
    let deadline = Instant::now() + TIMEOUT;
    while call() != fresh {
        assert!(Instant::now() < deadline, "the reloaded value never landed");
        thread::sleep(Duration::from_millis(2));
    }
}

/// [`drive_blocking`] for an `async fn`: the calls run in tasks, and "who reloaded" compares
/// tasks.
pub async fn drive<T, F, Fut>(subject: &Subject, call: F, current: T, fresh: T, ran: Ran)
where
    T: PartialEq + Debug + Send + 'static,
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let probe = &subject.probe;
    let call = Arc::new(call);
    assert_eq!(within(call()).await, current, "the first load");

    let caller = {
        let (call, gate) = (Arc::clone(&call), probe.gate.clone());
        tokio::spawn(async move {
            loop {
                let value = call().await;
                if gate.arrivals() > 0 {
                    return (value, tokio::task::id());
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let reload = probe.gate.first_arrival().await;
    let meanwhile = tokio::spawn(call());
    assert_eq!(
        within(meanwhile).await.unwrap(),
        current,
        "a call made while the reload is held"
    );
    let (value, caller) = match ran {
        Ran::Background => {
            let returned = within(caller).await.unwrap();
            probe.gate.open();
            returned
        }
        Ran::Inline => {
            probe.gate.open();
            within(caller).await.unwrap()
        }
    };
    check(
        ran,
        (value, reload.task == Some(caller)),
        &current,
        &fresh,
        subject,
    );

    // Later calls return the reloaded value (in the background: once it lands).
    within(async {
        while call().await != fresh {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
}
