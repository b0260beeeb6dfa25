use cache_core::{cache_put, cached};

// `M` is months in humantime: minutes were meant.
#[cached(ttl = "10M")]
fn minutes_meant(id: u64) -> u64 {
    id
}

// Years (and months) are not a cache TTL.
#[cached(ttl = "1y")]
fn a_year(id: u64) -> u64 {
    id
}

// Over the 30-day maximum, as a string or in seconds.
#[cached(ttl = "6w")]
fn six_weeks(id: u64) -> u64 {
    id
}

#[cache_put(key_prefix = "user", key = "{id}", ttl = 3_000_000)]
fn put_for_a_month(id: u64) -> u64 {
    id
}

fn main() {}
