//! `#[cache_put]` on one node: every node's next read of the `#[cached]` function returns the
//! put value without running its body (L2 holds it, the backplane drops the old L1 copies).

use std::sync::atomic::{AtomicU32, Ordering};

use cache_core::{Cache, cache_put, cached};
use cache_redis::test_util::RedisServer;

use crate::common::{Target, eventually, node, within_limit};

/// One process's view: its cache and how often it ran the loader.
struct Node {
    cache: Cache,
    loads: AtomicU32,
}

impl Node {
    #[cached(cache = self.cache, key_prefix = "user", key = "{id}")]
    async fn user(&self, id: u64) -> Result<String, std::io::Error> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        Ok(format!("user {id}"))
    }

    #[cache_put(cache = self.cache, key_prefix = "user", key = "{id}")]
    async fn rename(&self, id: u64, name: String) -> Result<String, std::io::Error> {
        Ok(name)
    }
}

#[tokio::test]
async fn a_put_on_one_node_is_what_every_node_reads_next() {
    within_limit(async {
        let server = RedisServer::start().unwrap();
        let a = Node {
            cache: node(Target::Url(&server.url()), "put").await.0,
            loads: AtomicU32::new(0),
        };
        let b = Node {
            cache: node(Target::Url(&server.url()), "put").await.0,
            loads: AtomicU32::new(0),
        };
        assert_eq!(a.user(1).await.unwrap(), "user 1");
        assert_eq!(b.user(1).await.unwrap(), "user 1", "from L2");
        assert_eq!(b.user(1).await.unwrap(), "user 1", "from B's L1");
        assert_eq!(
            (
                a.loads.load(Ordering::SeqCst),
                b.loads.load(Ordering::SeqCst)
            ),
            (1, 0)
        );

        assert_eq!(b.rename(1, "ada".to_owned()).await.unwrap(), "ada");
        assert_eq!(
            b.user(1).await.unwrap(),
            "ada",
            "the writer reads it at once"
        );
        eventually("A to read the put value", || async {
            a.user(1).await.unwrap() == "ada"
        })
        .await;
        assert_eq!(
            a.cache.get::<String>("user:1").await.as_deref(),
            Some("ada")
        );
        assert_eq!(
            (
                a.loads.load(Ordering::SeqCst),
                b.loads.load(Ordering::SeqCst)
            ),
            (1, 0),
            "no node ran the loader again"
        );
    })
    .await;
}
