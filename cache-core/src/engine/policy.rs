//! Which entries L1 keeps: one admission and eviction policy per cache, over the entries of
//! every function, so the budget is shared by popularity (a hot small function keeps its
//! entries against a cold large one).
//!
//! The policy is W-TinyLFU (Einziger et al.; Caffeine, moka) adapted so that a hit never
//! writes shared state:
//! - a new entry enters a small *window* queue; when it leaves the window and the cache is
//!   over budget it must beat the *main* queue's victim on recent frequency (the [`Sketch`],
//!   which also remembers keys not in L1), else it is the one evicted. This is what keeps a hot
//!   set through scans and loops larger than the cache;
//! - both queues are CLOCK rings instead of LRU lists: a hit only sets the entry's own access
//!   bits (at most a relaxed store, none once they are set), and the clock hand counts in the
//!   sketch whether the entry was hit since its last pass: once, however many hits, so that a
//!   burst of reads weighs as one recent use. Each further hit between two passes earns a
//!   pass of credit (up to 3), approximating the protected segment of an SLRU;
//! - the window's share of the budget adapts by hill climbing on the hit ratio (as Caffeine
//!   does): recency-heavy workloads grow it, frequency-heavy ones shrink it;
//! - expired and invalidated entries are evicted as soon as the hand reaches them, before any
//!   live entry competes with them;
//! - the sketch starts counting when L1 first fills (as moka's does, there from half full): the
//!   entries of the fill carry their use in their own access bits, and the keys a cache sees
//!   while it fills are largely start-up traffic that must not outweigh the steady state's.
//!
//! Measured on the traces of `benches/traces` against moka, quick_cache, LRU and the optimum:
//! see `BENCHMARKS.md` ("Hit ratio").
//!
//! The queues hold handles (store, hash, id); an entry removed by an invalidation leaves a
//! stale handle that is skipped when reached, so the policy never needs to be told. The policy
//! sees the entries only through [`Residents`] (L1's stores, `l1.rs`), so its tests below drive
//! it with short traces over a simple model of them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::Mutex;

use super::sketch::Sketch;
use crate::store::{Sweep, hash_bits, hash_of_bits};

/// Where an entry is: its store's index in the registry, its hash and its id (12 bytes).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Handle {
    /// The bits that determine the entry's hash (`store::hash_bits`).
    hash_bits: u32,
    store: u32,
    id: u32,
}

impl Handle {
    /// The handle of entry `id` of `hash` in store `store`.
    pub(crate) fn new(store: u32, hash: u64, id: u32) -> Self {
        Self {
            hash_bits: hash_bits(hash),
            store,
            id,
        }
    }

    /// The entry's hash in its store.
    pub(crate) fn hash(self) -> u64 {
        hash_of_bits(self.hash_bits)
    }

    /// The index of the entry's store.
    pub(crate) fn store(self) -> usize {
        self.store as usize
    }

    /// The entry's id (a reinserted key gets a new one).
    pub(crate) fn id(self) -> u32 {
        self.id
    }
}

/// What the policy sees of L1: the entries its handles name, how full it is, and how many
/// hits it has answered (for the window's climber).
pub(crate) trait Residents {
    /// The clock hand passes the entry: see [`Sweep`].
    fn sweep(&self, handle: Handle) -> Sweep;
    /// Whether the entry is gone or dead, without counting as a pass of the hand.
    fn is_dead_or_gone(&self, handle: Handle) -> bool;
    /// Whether the entry is still there.
    fn contains(&self, handle: Handle) -> bool;
    /// Evicts the entry; false if it was gone.
    fn evict(&self, handle: Handle) -> bool;
    /// True while L1 holds more entries (or weight) than allowed.
    fn over_budget(&self) -> bool;
    /// L1 hits so far.
    fn hits(&self) -> u64;
}

/// The policy's state, behind one lock taken on inserts only (never on a hit).
struct Queues {
    window: VecDeque<Handle>,
    main: VecDeque<Handle>,
    sketch: Sketch,
    /// The window's target length, in entries.
    window_target: f64,
    climber: Climber,
}

/// Adapts the window's share of the budget by hill climbing on the hit ratio.
struct Climber {
    /// Accesses per sample.
    period: u64,
    hits_at_start: u64,
    misses: u64,
    previous_ratio: f64,
    /// Signed step, in entries.
    step: f64,
}

/// One cache's admission and eviction policy.
pub(crate) struct Policy {
    state: Mutex<Queues>,
    capacity: f64,
    next_id: AtomicU32,
}

/// An initial window of 1% of the capacity, as W-TinyLFU starts.
const INITIAL_WINDOW: f64 = 0.01;
/// The window never takes more than this share of the capacity.
const MAX_WINDOW: f64 = 0.8;
/// A candidate must be this much more frequent than the victim to replace it: ties and
/// near-ties (the sketch's halving shifts counts by one) keep the incumbent, which is what
/// holds a stable set on loops.
const ADMISSION_MARGIN: u8 = 1;
/// Before a live entry is evicted, this many entries after it are checked for a dead one to
/// evict instead (so expired and invalidated entries go first).
const DEAD_LOOKAHEAD: usize = 16;
/// The fewest accesses in one of the climber's samples. A sample is ten times the capacity
/// (as Caffeine's), but at least this: the hit ratio of `n` accesses is known to within about
/// `0.5 / sqrt(n)`, half a point here, the size of the changes the climber's steps make. Ten
/// times a small capacity (1,540 accesses at 154 entries) is noise of more than a point, and
/// the climber wanders on it (`BENCHMARKS.md`, `lirs-loop`).
const MIN_SAMPLE: u64 = 10_000;
/// Misses between two looks at the hit counters by the hill climber.
const CLIMB_CHECK: u64 = 32;
/// Entries queued per live entry before stale handles are purged.
const STALE_SLACK: usize = 2;

impl Policy {
    /// A policy for a cache of `capacity` entries.
    pub(crate) fn new(capacity: u64) -> Self {
        let capacity_f = capacity as f64;
        Self {
            state: Mutex::new(Queues {
                window: VecDeque::new(),
                main: VecDeque::new(),
                sketch: Sketch::new(capacity),
                window_target: (capacity_f * INITIAL_WINDOW).max(1.0),
                climber: Climber {
                    period: capacity.saturating_mul(10).max(MIN_SAMPLE),
                    hits_at_start: 0,
                    misses: 0,
                    previous_ratio: 0.0,
                    step: capacity_f * 0.0625,
                },
            }),
            capacity: capacity_f,
            next_id: AtomicU32::new(0),
        }
    }

    /// A fresh id for a new entry (handles compare it to tell a reinserted key apart).
    pub(crate) fn next_id(&self) -> u32 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Stores an entry with `insert` (which returns its handle if the key is new) and, if
    /// new, queues it and evicts while L1 is over budget. Returns the number of entries
    /// evicted.
    ///
    /// The store's insert runs under the policy's lock: every entry counted in the budget has
    /// been seen by the policy, so a concurrent insert can neither make room for another
    /// entry (letting it skip the admission contest) nor be evicted unseen.
    pub(crate) fn insert(
        &self,
        residents: &impl Residents,
        insert: impl FnOnce() -> Option<Handle>,
    ) -> u64 {
        let mut state = self.state.lock();
        let Some(handle) = insert() else {
            return 0;
        };
        let state = &mut *state;
        state.climb(residents, self.capacity);
        if residents.over_budget() {
            state.sketch.start();
        }
        // The miss that loaded this entry counts towards its key's frequency.
        state.sketch.record(handle.hash());
        push(&mut state.window, handle);
        let mut evicted = 0;
        while state.window.len() as f64 > state.window_target.max(1.0) {
            let Some(candidate) = state.window.pop_front() else {
                break;
            };
            match residents.sweep(candidate) {
                Sweep::Gone => continue,
                Sweep::Dead => {
                    evicted += u64::from(residents.evict(candidate));
                    continue;
                }
                Sweep::Live { hit, .. } => state.note_hit(candidate, hit),
            }
            if !residents.over_budget() {
                push(&mut state.main, candidate);
                continue;
            }
            match state.main_victim(residents) {
                Some((victim, dead))
                    if dead
                        || state.sketch.frequency(candidate.hash())
                            > state.sketch.frequency(victim.hash()) + ADMISSION_MARGIN =>
                {
                    state.main.pop_front();
                    evicted += u64::from(residents.evict(victim));
                    push(&mut state.main, candidate);
                }
                _ => evicted += u64::from(residents.evict(candidate)),
            }
        }
        // Still over budget (the window shrank, or weights): evict main's victims, then the
        // window's oldest.
        while residents.over_budget() {
            if let Some((victim, _)) = state.main_victim(residents) {
                state.main.pop_front();
                evicted += u64::from(residents.evict(victim));
            } else if let Some(oldest) = state.window.pop_front() {
                evicted += u64::from(residents.evict(oldest));
            } else {
                break;
            }
        }
        let live = (self.capacity as usize).max(1);
        if state.window.len() + state.main.len() > live.saturating_mul(STALE_SLACK) + 64 {
            state.purge_stale(residents);
        }
        evicted
    }
}

/// Appends to a queue that grows by a quarter when full, not by doubling: a queue holds a
/// handle per entry, and doubling left up to half of it unused (16 bytes per entry at worst,
/// about 5 on average; `BENCHMARKS.md`, `mem_per_entry`).
fn push(queue: &mut VecDeque<Handle>, handle: Handle) {
    if queue.len() == queue.capacity() {
        queue.reserve_exact((queue.len() / 4).max(16));
    }
    queue.push_back(handle);
}

impl Queues {
    /// Counts a hit the clock hand found in the sketch: once, however many hits there were
    /// since its last pass. A burst of hits (one key read 40 times as a job starts) is one
    /// request of recent use, not forty: counted in full, it outweighed keys asked for
    /// steadily for thousands of accesses after the burst (`BENCHMARKS.md`, "A burst of hits
    /// counts once").
    fn note_hit(&mut self, handle: Handle, hit: bool) {
        if hit {
            self.sketch.record(handle.hash());
        }
    }

    /// Moves the clock hand over main until it finds a victim: a dead entry, or a live one
    /// with no hit and no credit since the hand's last pass (unless a dead entry follows it
    /// closely). The victim is moved to the front; `true` if it is dead.
    fn main_victim(&mut self, residents: &impl Residents) -> Option<(Handle, bool)> {
        loop {
            let handle = *self.main.front()?;
            match residents.sweep(handle) {
                Sweep::Gone => {
                    self.main.pop_front();
                }
                Sweep::Dead => return Some((handle, true)),
                Sweep::Live { hit, credit } => {
                    self.note_hit(handle, hit);
                    if !hit && !credit {
                        if let Some(dead) = self.dead_after_front(residents) {
                            return Some((dead, true));
                        }
                        return Some((handle, false));
                    }
                    self.main.rotate_left(1);
                }
            }
        }
    }

    /// A dead (or gone) entry among the few after main's front, brought to the front by
    /// moving the hand past the live ones before it (as if they had been passed).
    fn dead_after_front(&mut self, residents: &impl Residents) -> Option<Handle> {
        let found = (1..self.main.len().min(DEAD_LOOKAHEAD + 1))
            .find(|&at| residents.is_dead_or_gone(self.main[at]))?;
        self.main.rotate_left(found);
        self.main.front().copied()
    }

    /// Drops the handles of entries that are gone.
    fn purge_stale(&mut self, residents: &impl Residents) {
        self.window.retain(|&handle| residents.contains(handle));
        self.main.retain(|&handle| residents.contains(handle));
    }

    /// Counts a miss; at the end of each sample, moves the window's target in the direction
    /// that improved the hit ratio (and reverses when it got worse), in shrinking steps.
    fn climb(&mut self, residents: &impl Residents, capacity: f64) {
        let climber = &mut self.climber;
        climber.misses += 1;
        // Summing the hit counters costs a pass over every store: sample it now and then.
        if !climber.misses.is_multiple_of(CLIMB_CHECK) {
            return;
        }
        let hits = residents.hits();
        let sample_hits = hits.saturating_sub(climber.hits_at_start);
        let accesses = sample_hits + climber.misses;
        if accesses < climber.period {
            return;
        }
        let ratio = sample_hits as f64 / accesses as f64;
        if ratio < climber.previous_ratio {
            climber.step = -climber.step;
        }
        climber.previous_ratio = ratio;
        self.window_target = (self.window_target + climber.step).clamp(1.0, capacity * MAX_WINDOW);
        climber.step *= 0.98;
        let floor = (capacity * 0.01).max(1.0);
        if climber.step.abs() < floor {
            climber.step = floor.copysign(climber.step);
        }
        climber.hits_at_start = hits;
        climber.misses = 0;
    }
}

#[cfg(test)]
mod tests;
