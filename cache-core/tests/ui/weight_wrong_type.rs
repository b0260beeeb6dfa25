use cache_core::cached;

// A weigher takes the cached value by reference and returns a `usize`.
#[cached(level = "l1", weight = |page: &String| page.len() as u64)]
fn page(id: u64) -> String {
    format!("page {id}")
}

#[cached(level = "l1", weight = |id: u64| id as usize)]
fn count(id: u64) -> u64 {
    id
}

fn main() {}
