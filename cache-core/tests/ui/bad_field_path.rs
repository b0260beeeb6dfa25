use cache_core::cached;

struct Query {
    user_id: u64,
}

#[cached(key = "{query.}")]
fn trailing_dot(query: &Query) -> u64 {
    query.user_id
}

#[cached(key = "user:{}")]
fn empty_placeholder(id: u64) -> u64 {
    id
}

#[cached(key = "{query.user-id}")]
fn not_a_field(query: &Query) -> u64 {
    query.user_id
}

fn main() {}
