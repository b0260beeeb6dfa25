//! Synthetic workloads: Zipf-distributed keys (s = 0.7 and 0.99), and Zipf 0.99 interrupted by
//! periodic scans of keys never seen before nor again. Deterministic (fixed seed).

use std::collections::HashSet;

/// Distinct keys of the Zipf workloads.
const KEYS: usize = 100_000;
/// Accesses drawn from the Zipf distribution per workload.
const ACCESSES: usize = 1_000_000;
/// One scan every this many Zipf accesses...
const SCAN_EVERY: usize = 50_000;
/// ...of this many one-time keys.
const SCAN_LENGTH: u64 = 20_000;

/// Every synthetic workload, named.
pub fn all() -> Vec<(String, Vec<u64>)> {
    vec![
        ("zipf-0.7".to_owned(), zipf(0.7, 7)),
        ("zipf-0.99".to_owned(), zipf(0.99, 99)),
        ("zipf-0.99+scans".to_owned(), with_scans(zipf(0.99, 199))),
    ]
}

/// The number of distinct keys in `keys`.
pub fn distinct(keys: &[u64]) -> usize {
    keys.iter().collect::<HashSet<_>>().len()
}

/// SplitMix64: a small, well-mixed deterministic generator.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `ACCESSES` keys from a Zipf(s) distribution over `KEYS` keys (inverse CDF by binary
/// search); the rank-to-key mapping is shuffled so that popular keys are not small numbers.
fn zipf(s: f64, seed: u64) -> Vec<u64> {
    let mut cumulative = Vec::with_capacity(KEYS);
    let mut total = 0.0;
    for rank in 1..=KEYS {
        total += 1.0 / (rank as f64).powf(s);
        cumulative.push(total);
    }
    let mut rng = SplitMix(seed);
    let key_of_rank: Vec<u64> = (0..KEYS).map(|_| rng.next()).collect();
    (0..ACCESSES)
        .map(|_| {
            let target = rng.unit() * total;
            let rank = cumulative.partition_point(|&c| c < target).min(KEYS - 1);
            key_of_rank[rank]
        })
        .collect()
}

/// Inserts a scan of `SCAN_LENGTH` fresh keys every `SCAN_EVERY` accesses.
fn with_scans(keys: Vec<u64>) -> Vec<u64> {
    let mut next_fresh = u64::MAX - (keys.len() as u64 / SCAN_EVERY as u64 + 1) * SCAN_LENGTH;
    let mut out = Vec::with_capacity(keys.len() * 3 / 2);
    for (i, key) in keys.into_iter().enumerate() {
        if i > 0 && i % SCAN_EVERY == 0 {
            for _ in 0..SCAN_LENGTH {
                out.push(next_fresh);
                next_fresh += 1;
            }
        }
        out.push(key);
    }
    out
}
