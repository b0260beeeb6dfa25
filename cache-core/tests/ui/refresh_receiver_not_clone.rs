use cache_core::cached;

struct Repo {
    pool: u64,
}

impl Repo {
    // A background reload needs its own copy of the receiver.
    #[cached(ttl = "1m", refresh_ahead = 0.8)]
    fn version(&self, id: u64) -> u64 {
        self.pool + id
    }
}

fn main() {}
