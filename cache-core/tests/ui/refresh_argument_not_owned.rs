use cache_core::cached;

trait Db: Send + Sync {
    fn get(&self, id: u64) -> u64;
}

// A background reload needs an owned copy of every argument; `dyn Db` has none.
#[cached(ttl = "1m", refresh_ahead = 0.8, key = "{id}")]
fn load(db: &dyn Db, id: u64) -> u64 {
    db.get(id)
}

fn main() {}
