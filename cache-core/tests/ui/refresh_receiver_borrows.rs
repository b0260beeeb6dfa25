use cache_core::cached;

/// `Clone`, but borrowing: the generated code would reload it in the background (trait
/// selection does not see the lifetime), which cannot outlive the call.
#[derive(Clone)]
struct View<'a> {
    name: &'a str,
}

impl View<'_> {
    #[cached(ttl = "1m", level = "l1")]
    fn size(&self, id: u64) -> u64 {
        id + self.name.len() as u64
    }
}

/// `Clone` for any `T: Clone`, without `T: 'static`.
#[derive(Clone)]
struct Repo<T> {
    pool: T,
}

impl<T: Clone + Send + Sync> Repo<T> {
    #[cached(ttl = "1m", level = "l1")]
    async fn count(&self, id: u64) -> u64 {
        let _ = &self.pool;
        id
    }
}

fn main() {
    let _ = View { name: "a" }.size(1);
    let _ = Repo { pool: 1 }.count(1);
}
