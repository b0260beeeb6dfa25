use cache_core::cached;

#[cached(ttl = "1m", refresh_ahead = 0.0)]
fn zero(id: u64) -> u64 {
    id
}

#[cached(ttl = "1m", refresh_ahead = 1.5)]
fn too_late(id: u64) -> u64 {
    id
}

#[cached(ttl = "1m", refresh_ahead = "soon")]
fn not_a_number(id: u64) -> u64 {
    id
}

fn main() {}
