use cache_core::cache_put;

// The key prefix of the #[cached] function is required.
#[cache_put(key = "{id}")]
fn without_prefix(id: u64) -> u64 {
    id
}

// Nothing to store.
#[cache_put(key_prefix = "user", key = "{id}")]
fn nothing(id: u64) -> Result<(), String> {
    let _ = id;
    Ok(())
}

// A template naming a missing argument.
#[cache_put(key_prefix = "user", key = "{user_id}")]
fn misnamed(id: u64) -> Option<u64> {
    Some(id)
}

fn main() {}
