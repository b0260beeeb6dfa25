use std::collections::HashMap;

use cache_core::cached_batch;

// No batch argument.
#[cached_batch(key_prefix = "user")]
fn no_batch(id: u64) -> HashMap<u64, String> {
    HashMap::from([(id, String::new())])
}

// Two of them.
#[cached_batch(key_prefix = "user")]
fn two_batches(ids: &[u64], names: Vec<String>) -> HashMap<u64, String> {
    let _ = (ids, names);
    HashMap::new()
}

// A return type that is not a map, plain or in a `Result`.
#[cached_batch(key_prefix = "user")]
fn not_a_map(ids: Vec<u64>) -> Vec<String> {
    ids.iter().map(u64::to_string).collect()
}

#[cached_batch(key_prefix = "user")]
async fn not_a_map_in_a_result(ids: Vec<u64>) -> Result<Vec<String>, std::io::Error> {
    Ok(ids.iter().map(u64::to_string).collect())
}

// A key that does not name the batch argument, tags that do.
#[cached_batch(key_prefix = "user", key = "{tenant}", tags = ["user:{ids}"])]
fn per_call_key(tenant: &str, ids: &[u64]) -> HashMap<u64, String> {
    let _ = (tenant, ids);
    HashMap::new()
}

struct Repo;

impl Repo {
    // The body may run more than once: no `&mut`.
    #[cached_batch(key_prefix = "repo")]
    fn exclusive(&mut self, counter: &mut u64, ids: &[u64]) -> HashMap<u64, u64> {
        *counter += 1;
        ids.iter().map(|&id| (id, id)).collect()
    }
}

fn main() {}
