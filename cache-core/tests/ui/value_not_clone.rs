use cache_core::cached;

struct Handle(u64);

#[cached(level = "l1")]
fn open(id: u64) -> Option<Handle> {
    Some(Handle(id))
}

fn main() {
    let _ = open(1).map(|handle| handle.0);
}
