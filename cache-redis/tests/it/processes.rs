//! Two real OS processes sharing one Redis: this test process and a child running this same
//! test binary (the ignored `child_node` test), driven over stdin/stdout.

use std::process::Stdio;
use std::time::Duration;

use cache_core::EntryOptions;
use cache_redis::test_util::RedisServer;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::common::{Target, WAIT_LIMIT, node, within_limit};

/// Replies of the child's protocol follow this marker (libtest prints other text too).
const PREFIX: &str = "NODE ";

struct ChildNode {
    child: Child,
    stdin: ChildStdin,
    stdout: tokio::io::Lines<BufReader<ChildStdout>>,
}

impl ChildNode {
    async fn spawn(url: &str) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "processes::child_node",
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .args(["--test-threads", "1"])
            .env("CACHE_REDIS_CHILD_URL", url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the child process starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut node = Self {
            child,
            stdin,
            stdout,
        };
        assert_eq!(node.reply().await, "ready");
        node
    }

    async fn reply(&mut self) -> String {
        let read = async {
            while let Some(line) = self.stdout.next_line().await.expect("child stdout") {
                // libtest may print "test child_node ... " on the same line first.
                if let Some(at) = line.find(PREFIX) {
                    return line[at + PREFIX.len()..].to_owned();
                }
            }
            panic!("the child process exited");
        };
        tokio::time::timeout(WAIT_LIMIT, read)
            .await
            .expect("the child answers")
    }

    async fn ask(&mut self, command: &str) -> String {
        self.stdin
            .write_all(format!("{command}\n").as_bytes())
            .await
            .unwrap();
        self.stdin.flush().await.unwrap();
        self.reply().await
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
        let status = tokio::time::timeout(WAIT_LIMIT, child.child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success());
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
