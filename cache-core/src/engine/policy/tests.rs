//! The policy driven by short traces over a simple model of L1 (a map of entries with the
//! access bits `entry.rs` keeps), against LRU on the same traces: the cases W-TinyLFU exists
//! for (a loop larger than the cache, a scan through a hot set, a burst of reads).

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};

use super::{Handle, Policy, Residents};
use crate::store::{Sweep, hash_bits, hash_of_bits};

/// An entry's access bits, as `entry.rs` keeps them: hit since the hand's last pass, and
/// credit (passes it survives without a hit, earned by further hits, up to 3).
struct Bits {
    id: u32,
    hit: bool,
    credit: u32,
}

/// A cache of `capacity` entries whose residents the policy chooses.
struct Model {
    policy: Policy,
    capacity: usize,
    entries: RefCell<HashMap<u32, Bits>>,
    next_id: Cell<u32>,
    hits: Cell<u64>,
}

impl Residents for Model {
    fn sweep(&self, handle: Handle) -> Sweep {
        let mut entries = self.entries.borrow_mut();
        match entries.get_mut(&hash_bits(handle.hash())) {
            Some(bits) if bits.id == handle.id() => {
                let seen = (bits.hit, bits.credit > 0);
                bits.hit = false;
                bits.credit = bits.credit.saturating_sub(1);
                Sweep::Live {
                    hit: seen.0,
                    credit: seen.1,
                }
            }
            _ => Sweep::Gone,
        }
    }

    fn is_dead_or_gone(&self, handle: Handle) -> bool {
        !self.contains(handle)
    }

    fn contains(&self, handle: Handle) -> bool {
        self.entries
            .borrow()
            .get(&hash_bits(handle.hash()))
            .is_some_and(|bits| bits.id == handle.id())
    }

    fn evict(&self, handle: Handle) -> bool {
        let mut entries = self.entries.borrow_mut();
        let key = hash_bits(handle.hash());
        let present = entries.get(&key).is_some_and(|bits| bits.id == handle.id());
        if present {
            entries.remove(&key);
        }
        present
    }

    fn over_budget(&self) -> bool {
        self.entries.borrow().len() > self.capacity
    }

    fn hits(&self) -> u64 {
        self.hits.get()
    }
}

/// The 32 bits that name a key's entry (spread, as a store's hasher would).
fn bits_of(key: u64) -> u32 {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32
}

impl Model {
    fn new(capacity: usize) -> Self {
        Self {
            policy: Policy::new(capacity as u64),
            capacity,
            entries: RefCell::default(),
            next_id: Cell::new(0),
            hits: Cell::new(0),
        }
    }

    /// One access: a hit sets the entry's bits, a miss inserts it through the policy.
    fn access(&self, key: u64) -> bool {
        let bits = bits_of(key);
        if let Some(entry) = self.entries.borrow_mut().get_mut(&bits) {
            if entry.hit && entry.credit < 3 {
                entry.credit += 1;
            }
            entry.hit = true;
            self.hits.set(self.hits.get() + 1);
            return true;
        }
        self.policy.insert(self, || {
            let id = self.next_id.get();
            self.next_id.set(id + 1);
            let fresh = Bits {
                id,
                hit: false,
                credit: 0,
            };
            self.entries.borrow_mut().insert(bits, fresh);
            Some(Handle::new(0, hash_of_bits(bits), id))
        });
        assert!(
            self.entries.borrow().len() <= self.capacity,
            "the policy left L1 over budget"
        );
        false
    }
}

/// LRU of `capacity` entries, the simple model the policy must beat on these traces.
struct Lru {
    capacity: usize,
    order: VecDeque<u64>,
}

impl Lru {
    fn access(&mut self, key: u64) -> bool {
        let found = self.order.iter().position(|&k| k == key);
        if let Some(at) = found {
            self.order.remove(at);
        } else if self.order.len() == self.capacity {
            self.order.pop_front();
        }
        self.order.push_back(key);
        found.is_some()
    }
}

/// Hits of the policy and of LRU over `trace`, counting only accesses `counted` selects
/// (by position and key).
fn replay(capacity: usize, trace: &[u64], counted: impl Fn(usize, u64) -> bool) -> (f64, f64) {
    let model = Model::new(capacity);
    let mut lru = Lru {
        capacity,
        order: VecDeque::new(),
    };
    let (mut ours, mut theirs, mut total) = (0u32, 0u32, 0u32);
    for (at, &key) in trace.iter().enumerate() {
        let (hit, lru_hit) = (model.access(key), lru.access(key));
        if counted(at, key) {
            total += 1;
            ours += u32::from(hit);
            theirs += u32::from(lru_hit);
        }
    }
    let ratio = |hits| f64::from(hits) / f64::from(total.max(1));
    (ratio(ours), ratio(theirs))
}

#[test]
fn a_loop_larger_than_the_cache_keeps_a_stable_part_of_it() {
    // 300 keys in a loop through 200 entries: LRU always evicts the key needed next.
    let trace: Vec<u64> = (0..60).flat_map(|_| 0..300).collect();
    let (ours, lru) = replay(200, &trace, |at, _| at >= trace.len() / 2);
    assert_eq!(lru, 0.0);
    // The optimum keeps 199 of every 300 (66%).
    assert!(ours > 0.45, "loop hit ratio {ours:.3}");
}

#[test]
fn a_scan_does_not_flush_the_hot_set() {
    // 100 hot keys, each access followed by three keys never seen again; 200 entries.
    let mut trace = Vec::new();
    let mut scan = 1_000_000u64;
    for round in 0..40_000u64 {
        trace.push(round % 100);
        for _ in 0..3 {
            trace.push(scan);
            scan += 1;
        }
    }
    let hot = |at: usize, key: u64| at >= trace.len() / 4 && key < 100;
    let (ours, lru) = replay(200, &trace, hot);
    assert!(
        lru < 0.05,
        "LRU keeps the hot set through the scan? {lru:.3}"
    );
    assert!(ours > 0.9, "hot-set hit ratio {ours:.3} through a scan");
}

#[test]
fn a_burst_of_reads_weighs_as_one_use() {
    // 100 keys used steadily in rounds fill 100 entries; then 60 keys are read 40 times each
    // in a burst and never again; then the steady rounds go on. Counted in full, the bursts
    // would hold their entries against the steady keys for many rounds.
    let steady = || (0..100u64).collect::<Vec<_>>();
    let mut trace: Vec<u64> = (0..3).flat_map(|_| steady()).collect();
    trace.extend((0..60u64).flat_map(|key| std::iter::repeat_n(1_000 + key, 40)));
    let steady_from = trace.len();
    trace.extend((0..30).flat_map(|_| steady()));
    // Rounds 2 to 6 after the bursts.
    let counted = |at: usize, _| at >= steady_from + 100 && at < steady_from + 600;
    let (ours, lru) = replay(100, &trace, counted);
    assert!(
        ours > 0.9,
        "steady hit ratio {ours:.3} after a burst (LRU {lru:.3})"
    );
}
