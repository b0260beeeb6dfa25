use cache_core::cached;

#[cached(ttl = "0s")]
fn never(id: u64) -> u64 {
    id
}

#[cached(ttl = 0)]
fn never_either(id: u64) -> u64 {
    id
}

fn main() {}
