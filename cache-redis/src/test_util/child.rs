//! [`ChildTest`]: a second process for multi-process tests, running one `#[ignore]`d test of
//! the current test binary, spoken to in lines over its stdin and stdout.

use std::io;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// A child process running the test named `test` of this test binary (`--exact --ignored`),
/// killed on drop. Its answers are the stdout lines containing `marker` (libtest prints other
/// text too), from the marker on; each wait for one is bounded by `limit`.
///
/// ```no_run
/// use std::time::Duration;
/// use cache_redis::test_util::ChildTest;
///
/// # async fn example() -> std::io::Result<()> {
/// let mut child = ChildTest::spawn("second_node", ("NODE_URL", "redis://127.0.0.1:6379/"), "NODE ")?
///     .limit(Duration::from_secs(15));
/// assert_eq!(child.reply().await?, "ready");
/// assert_eq!(child.ask("get k").await?, "-");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ChildTest {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    marker: &'static str,
    limit: Duration,
}

impl ChildTest {
    /// Starts the child with one environment variable set (its configuration).
    pub fn spawn(
        test: &str,
        (name, value): (&str, &str),
        marker: &'static str,
    ) -> io::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .args([
                test,
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(name, value)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
        Ok(Self {
            child,
            stdin,
            stdout,
            marker,
            limit: Duration::from_secs(20),
        })
    }

    /// The longest wait for an answer or for the exit (default 20 s).
    #[must_use]
    pub fn limit(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }

    /// The next answer.
    pub async fn reply(&mut self) -> io::Result<String> {
        let marker = self.marker;
        let read = async {
            while let Some(line) = self.stdout.next_line().await? {
                if let Some(at) = line.find(marker) {
                    return Ok(line[at + marker.len()..].to_owned());
                }
            }
            Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the child process exited",
            ))
        };
        tokio::time::timeout(self.limit, read)
            .await
            .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "no answer")))
    }

    /// Sends one line.
    pub async fn send(&mut self, line: &str) -> io::Result<()> {
        self.stdin.write_all(format!("{line}\n").as_bytes()).await?;
        self.stdin.flush().await
    }

    /// Sends one line and returns the answer.
    pub async fn ask(&mut self, line: &str) -> io::Result<String> {
        self.send(line).await?;
        self.reply().await
    }

    /// Kills the child at once (`SIGKILL`: no clean-up of any kind), and reaps it.
    pub async fn kill(&mut self) -> io::Result<()> {
        self.child.kill().await
    }

    /// Waits for the child to exit.
    pub async fn wait(mut self) -> io::Result<ExitStatus> {
        tokio::time::timeout(self.limit, self.child.wait())
            .await
            .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "still running")))
    }
}
