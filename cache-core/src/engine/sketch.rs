//! How often keys were asked for lately: a count-min sketch of 4-bit counters with periodic
//! halving (the "TinyLFU" frequency filter), used by the policy to decide whether a new entry
//! deserves the place of an old one. It remembers keys that are no longer (or never were) in
//! L1, which is what lets the policy resist scans and loops larger than the cache.

/// Counters per row and per expected entry (4 rows): enough that few keys share all four.
const COUNTERS_PER_ENTRY: usize = 4;
/// The smallest row (8 KiB for the 4 rows packed two per byte, whatever the capacity). Sized
/// to a small capacity alone, the rows are crowded enough that a key never asked for can
/// read as asked for once; as the policy's victim, such a key turns away every candidate until
/// one is asked for three times (`a_new_working_set_replaces_the_start_up_keys_on_its_second_pass`
/// failed about one run in fifteen at a capacity of 100, with rows of 512).
const MIN_ROW: usize = 4096;
/// The largest row (2^24 counters, 8 MiB for the 4 rows packed two per byte).
const MAX_ROW: usize = 1 << 24;
/// A counter saturates here.
const MAX_COUNT: u8 = 15;

/// A frequency sketch sized for a cache of a given number of entries.
pub(crate) struct Sketch {
    /// Four rows of 4-bit counters, two per byte.
    rows: Box<[u8]>,
    /// Counters per row, minus one (a power of two).
    mask: usize,
    /// Increments since the last halving.
    additions: usize,
    /// Increments between two halvings (ten per entry, as TinyLFU suggests).
    sample: usize,
    /// Whether it counts yet ([`Sketch::start`]).
    started: bool,
}

impl Sketch {
    /// A sketch for a cache holding about `entries` entries.
    pub(crate) fn new(entries: u64) -> Self {
        let entries = usize::try_from(entries).unwrap_or(usize::MAX).max(16);
        let row = entries
            .saturating_mul(COUNTERS_PER_ENTRY)
            .clamp(MIN_ROW, MAX_ROW)
            .next_power_of_two();
        Self {
            rows: vec![0; row * 4 / 2].into_boxed_slice(),
            mask: row - 1,
            additions: 0,
            sample: entries.min(MAX_ROW).saturating_mul(10),
            started: false,
        }
    }

    /// Starts counting; until then [`Sketch::record`] counts nothing. The policy starts it
    /// when L1 first fills: before, nothing competes for a place, and what a cache sees while
    /// it fills is largely start-up traffic that would otherwise outweigh the steady state's
    /// keys for several halvings (`BENCHMARKS.md`, "The sketch starts counting when L1 first
    /// fills").
    pub(crate) fn start(&mut self) {
        self.started = true;
    }

    /// The counter index of `hash` in row `row`.
    #[inline]
    fn index(&self, hash: u64, row: usize) -> usize {
        // A different seed per row, then multiplicative hashing (the product's top bits depend
        // on every bit of the input), spreads one hash into four independent slots.
        const SEEDS: [u64; 4] = [
            0x9E37_79B9_7F4A_7C15,
            0xBF58_476D_1CE4_E5B9,
            0x94D0_49BB_1331_11EB,
            0xD6E8_FEB8_6659_FD93,
        ];
        let h = (hash ^ SEEDS[row]).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        row * (self.mask + 1) + ((h >> 40) as usize & self.mask)
    }

    #[inline]
    fn get(&self, index: usize) -> u8 {
        (self.rows[index / 2] >> ((index & 1) * 4)) & 0xF
    }

    #[inline]
    fn set(&mut self, index: usize, count: u8) {
        let shift = (index & 1) * 4;
        let byte = &mut self.rows[index / 2];
        *byte = (*byte & !(0xF << shift)) | (count << shift);
    }

    /// The estimated recent frequency of `hash` (0 to 15).
    pub(crate) fn frequency(&self, hash: u64) -> u8 {
        (0..4)
            .map(|row| self.get(self.index(hash, row)))
            .min()
            .unwrap_or(0)
    }

    /// Records a request of `hash` (conservative update: only the smallest counters grow,
    /// which keeps the estimate of rare keys low).
    pub(crate) fn record(&mut self, hash: u64) {
        if !self.started {
            return;
        }
        let count = self.frequency(hash);
        if count >= MAX_COUNT {
            return;
        }
        for row in 0..4 {
            let index = self.index(hash, row);
            if self.get(index) == count {
                self.set(index, count + 1);
            }
        }
        self.additions += 1;
        if self.additions >= self.sample {
            self.halve();
        }
    }

    /// Halves every counter, so that old popularity fades.
    fn halve(&mut self) {
        self.additions /= 2;
        for byte in self.rows.iter_mut() {
            *byte = (*byte >> 1) & 0x77;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(sketch: &mut Sketch, hash: u64, times: usize) {
        for _ in 0..times {
            sketch.record(hash);
        }
    }

    #[test]
    fn counts_saturate_and_fade() {
        let mut sketch = Sketch::new(100);
        sketch.start();
        assert_eq!(sketch.frequency(7), 0);
        record(&mut sketch, 7, 3);
        assert_eq!(sketch.frequency(7), 3);
        record(&mut sketch, 7, 40);
        assert_eq!(sketch.frequency(7), 15);
        sketch.halve();
        assert_eq!(sketch.frequency(7), 7);
        assert_eq!(sketch.frequency(8), 0);
    }

    #[test]
    fn a_small_cache_does_not_mistake_unseen_keys_for_seen_ones() {
        let mut sketch = Sketch::new(100);
        sketch.start();
        // Well-spread hashes, as the store's hasher gives.
        let hash = |key: u64| key.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
        for key in 0..200 {
            record(&mut sketch, hash(key), 2);
        }
        let mistaken = (1_000..11_000)
            .filter(|&key| sketch.frequency(hash(key)) > 0)
            .count();
        assert!(
            mistaken <= 1,
            "{mistaken} of 10,000 unseen keys read as seen"
        );
    }

    #[test]
    fn counts_nothing_until_started() {
        let mut sketch = Sketch::new(100);
        record(&mut sketch, 7, 3);
        assert_eq!(sketch.frequency(7), 0);
        sketch.start();
        record(&mut sketch, 7, 2);
        assert_eq!(sketch.frequency(7), 2);
    }
}
