use cache_core::{cached, invalidate};

#[cached(ttl, key = 5)]
fn lookup(id: u64) -> u64 {
    id
}

#[invalidate(tags)]
fn update(id: u64) {
    let _ = id;
}

fn main() {
    lookup(1);
    update(1);
}
