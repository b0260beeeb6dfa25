use cache_core::invalidate;

#[invalidate(before = true)]
fn update(id: u64) {
    let _ = id;
}

#[invalidate(tags = [])]
fn update_again(id: u64) {
    let _ = id;
}

fn main() {
    update(1);
    update_again(1);
}
