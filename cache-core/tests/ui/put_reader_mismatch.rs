use cache_core::{cache_put, cached};

#[cached(key_prefix = "user", key = "{id}")]
async fn user(id: u64) -> Result<Option<String>, std::io::Error> {
    Ok(Some(id.to_string()))
}

// The reader caches `String`; this put stores `u64`.
#[cache_put(user)]
async fn set_age(id: u64, age: u64) -> Result<u64, std::io::Error> {
    let _ = id;
    Ok(age)
}

// The reader's key names `id`; this put has no such argument.
#[cache_put(user)]
async fn rename(user_id: u64, name: String) -> Result<String, std::io::Error> {
    let _ = user_id;
    Ok(name)
}

// The key comes from the reader.
#[cache_put(user, key = "{id}")]
async fn keyed(id: u64) -> Result<String, std::io::Error> {
    Ok(id.to_string())
}

pub struct Query {
    pub id: u64,
}

#[cached(key_prefix = "search", key = "{query.id}", level = "l1")]
fn search(query: &Query) -> Vec<u64> {
    vec![query.id]
}

// A reader whose key uses a field path cannot be named: the error says to use the
// free-standing form.
#[cache_put(search)]
fn reindex(query: &Query) -> Vec<u64> {
    vec![query.id]
}

fn main() {}
