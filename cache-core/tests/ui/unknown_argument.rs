use cache_core::cached;

#[cached(ttl = "1m", time_to_live = "5m")]
fn lookup(id: u64) -> u64 {
    id
}

fn main() {
    lookup(1);
}
