use cache_core::cached;

#[cached(key = "{user}:{page}")]
fn page(id: u64, page: u32) -> String {
    format!("{id}/{page}")
}

fn main() {
    page(1, 2);
}
