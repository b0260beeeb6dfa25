use cache_core::cached;

#[cached(tags = ["users", "user:{uid}"])]
fn profile(id: u64) -> String {
    id.to_string()
}

fn main() {
    profile(1);
}
