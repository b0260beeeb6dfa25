use std::collections::HashMap;

use cache_core::cached_batch;

/// Hashable and comparable, but with no `Display` to put in a key.
#[derive(Clone, PartialEq, Eq, Hash)]
struct UserId(u64);

#[cached_batch(key_prefix = "user")]
fn users(ids: &[UserId]) -> HashMap<UserId, String> {
    ids.iter().map(|id| (id.clone(), id.0.to_string())).collect()
}

fn main() {
    users(&[UserId(1)]);
}
