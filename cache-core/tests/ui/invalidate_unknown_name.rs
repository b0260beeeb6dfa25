use cache_core::invalidate;

#[invalidate(pattern = "user:profile:{user_id}*")]
fn delete(id: u64) {
    let _ = id;
}

#[invalidate(keys = ["user:{id}"], colour = "red")]
fn touch(id: u64) {
    let _ = id;
}

fn main() {
    delete(1);
    touch(1);
}
