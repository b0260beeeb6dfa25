use std::collections::HashMap;

use cache_core::cached_batch;

// An argument of #[cached] that a batch does not take.
#[cached_batch(key_prefix = "user", refresh_ahead = 0.5)]
fn refreshed(ids: &[u64]) -> HashMap<u64, u64> {
    ids.iter().map(|&id| (id, id)).collect()
}

// A TTL that is zero, or no duration.
#[cached_batch(key_prefix = "user", ttl = "0s")]
fn zero(ids: &[u64]) -> HashMap<u64, u64> {
    ids.iter().map(|&id| (id, id)).collect()
}

#[cached_batch(key_prefix = "user", ttl = "ten minutes")]
fn unparsable(ids: &[u64]) -> HashMap<u64, u64> {
    ids.iter().map(|&id| (id, id)).collect()
}

fn main() {}
