use cache_core::cached;

#[cached(ttl = "ten minutes")]
fn slow(id: u64) -> u64 {
    id
}

#[cached(ttl = 1.5)]
fn fractional(id: u64) -> u64 {
    id
}

fn main() {}
