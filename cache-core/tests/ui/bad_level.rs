use cache_core::cached;

#[cached(level = "l2")]
fn remote(id: u64) -> u64 {
    id
}

fn main() {
    remote(1);
}
