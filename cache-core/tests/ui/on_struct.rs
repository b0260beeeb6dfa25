use cache_core::{cached, invalidate};

#[cached(ttl = "1m")]
struct Profile {
    id: u64,
}

#[invalidate(all = true)]
enum Event {
    Renamed,
}

fn main() {
    let _ = Profile { id: 1 }.id;
    let _ = Event::Renamed;
}
