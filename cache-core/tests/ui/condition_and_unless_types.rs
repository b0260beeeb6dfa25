use cache_core::cached;

// `condition` is a bool over the arguments; `unless` takes the value by reference.
#[cached(condition = id, level = "l1")]
fn by_id(id: u64) -> u64 {
    id
}

#[cached(unless = |value: u64| value == 0, level = "l1")]
fn count(id: u64) -> u64 {
    id
}

fn main() {}
