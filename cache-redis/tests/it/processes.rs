//! Two real OS processes sharing one Redis: this test process and a child running this same
//! test binary (the ignored `child_node` test), driven over stdin/stdout.

use std::time::Duration;

use cache_core::EntryOptions;
use cache_redis::test_util::{ChildTest, RedisServer};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::common::{Target, WAIT_LIMIT, node, within_limit};

/// Replies of the child's protocol follow this marker (libtest prints other text too).
const PREFIX: &str = "NODE ";

struct ChildNode {
    child: ChildTest,
}

impl ChildNode {
    async fn spawn(url: &str) -> Self {
        let child = ChildTest::spawn(
            "processes::child_node",
            ("CACHE_REDIS_CHILD_URL", url),
            PREFIX,
        )
        .expect("the child process starts")
        .limit(WAIT_LIMIT);
        let mut node = Self { child };
        assert_eq!(node.child.reply().await.unwrap(), "ready");
        node
    }

    async fn ask(&mut self, command: &str) -> String {
        self.child.ask(command).await.expect("the child answers")
    }

    /// Asks until the answer is `expected` (bounded).
    async fn until(&mut self, command: &str, expected: &str) {
        let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
        loop {
            let answer = self.ask(command).await;
            if answer == expected {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "child kept answering {answer:?} to {command:?}, expected {expected:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn two_processes_keep_their_l1_coherent() {
    within_limit(async {
        let server = RedisServer::start().unwrap();
        let (here, _l2) = node(Target::Url(&server.url()), "proc").await;
        let mut child = ChildNode::spawn(&server.url()).await;
        let options = EntryOptions::new().ttl(Duration::from_secs(60)).tags(["t"]);

        here.set("k", "v1".to_string(), &options).await;
        // Read twice by the child: the second read is served from its L1.
        child.until("warm k", "v1 from l1").await;

        here.set("k", "v2".to_string(), &options).await;
        child.until("get k", "v2").await;

        here.invalidate("k").await;
        child.until("get k", "-").await;

        here.set("k", "v3".to_string(), &options).await;
        child.until("get k", "v3").await;
        here.invalidate_tags(&["t"]).await;
        child.until("get k", "-").await;

        // And the other way round: the child's write reaches this process's L1.
        here.set("c", "mine".to_string(), &options).await;
        assert_eq!(here.get::<String>("c").await.as_deref(), Some("mine"));
        assert_eq!(child.ask("set c theirs").await, "ok");
        let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
        while here.get::<String>("c").await.as_deref() != Some("theirs") {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the child's write did not arrive"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        assert_eq!(child.ask("quit").await, "bye");
        assert!(child.child.wait().await.unwrap().success());
    })
    .await;
}

/// The child process: a cache node answering `get KEY`, `warm KEY`, `set KEY VALUE`, `quit`.
#[tokio::test]
#[ignore = "run by two_processes_keep_their_l1_coherent in a child process"]
async fn child_node() {
    let Ok(url) = std::env::var("CACHE_REDIS_CHILD_URL") else {
        return;
    };
    let (cache, _l2) = node(Target::Url(&url), "proc").await;
    println!("{PREFIX}ready");
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        let reply = match words.as_slice() {
            ["get", key] => cache.get::<String>(key).await.unwrap_or_else(|| "-".into()),
            ["set", key, value] => {
                cache
                    .set(key, (*value).to_owned(), &EntryOptions::new())
                    .await;
                "ok".into()
            }
            ["warm", key] => {
                let first = cache.get::<String>(key).await;
                let before = cache.stats().l1_hits;
                let second = cache.get::<String>(key).await;
                let level = if cache.stats().l1_hits > before {
                    "l1"
                } else {
                    "l2"
                };
                match (first, second) {
                    (Some(a), Some(b)) if a == b => format!("{a} from {level}"),
                    other => format!("{other:?}"),
                }
            }
            ["quit"] => {
                println!("{PREFIX}bye");
                return;
            }
            _ => format!("unknown command {line:?}"),
        };
        println!("{PREFIX}{reply}");
    }
}
