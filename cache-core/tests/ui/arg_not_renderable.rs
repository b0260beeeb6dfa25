use cache_core::cached;

struct Pool;

#[cached]
fn user_name(pool: &Pool, id: u64) -> String {
    let _ = pool;
    id.to_string()
}

fn main() {
    user_name(&Pool, 1);
}
