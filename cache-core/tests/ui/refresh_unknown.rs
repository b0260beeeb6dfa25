use cache_core::cached;

#[cached(ttl = "1m", refresh = "background")]
fn total(id: u64) -> u64 {
    id
}

fn main() {
    let _ = total(1);
}
