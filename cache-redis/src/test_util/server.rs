//! [`RedisServer`]: one throwaway standalone `redis-server`.

use std::io;
use std::process::Child;

use tempfile::TempDir;

use super::process::{query, signal, spawn_server, start_on_free_ports, stop, wait_ready};

/// A `redis-server` started for a test on a free loopback port, stopped (SIGKILL) and its
/// temporary directory removed on drop.
///
/// Persistence is off (`--save "" --appendonly no`), so a [`restart`](Self::restart) comes
/// back empty, like a crashed cache server. The fault helpers act on the real process:
/// [`kill`](Self::kill) (SIGKILL), [`pause`](Self::pause) (SIGSTOP: connections stay open but
/// nothing answers) and [`resume`](Self::resume) (SIGCONT).
///
/// ```no_run
/// use cache_redis::test_util::RedisServer;
///
/// # fn main() -> std::io::Result<()> {
/// let mut server = RedisServer::start()?;
/// let client = redis::Client::open(server.url()).unwrap();
/// let mut connection = client.get_connection().unwrap();
/// let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut connection).unwrap();
///
/// server.kill();          // Redis "crashes"...
/// server.restart()?;      // ...and comes back, empty, on the same port.
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    tls_port: Option<u16>,
    dir: TempDir,
    args: Vec<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server on a free loopback port and waits (at most 10 s) until it answers
    /// `PING`.
    pub fn start() -> io::Result<Self> {
        Self::start_with_args(&[])
    }

    /// Like [`start`](Self::start), with extra `redis-server` arguments
    /// (e.g. `["--maxmemory", "10mb"]`).
    pub fn start_with_args(args: &[&str]) -> io::Result<Self> {
        Self::start_inner(args, false)
    }

    /// Like [`start_with_args`](Self::start_with_args), also listening for TLS on a second
    /// free port ([`tls_url`](Self::tls_url)); `args` name the certificates, e.g.
    /// `["--tls-cert-file", "server.pem", "--tls-key-file", "server.key", "--tls-ca-cert-file",
    /// "ca.pem", "--tls-auth-clients", "no"]`. The plain port stays open, for test set-up.
    pub fn start_tls(args: &[&str]) -> io::Result<Self> {
        Self::start_inner(args, true)
    }

    fn start_inner(args: &[&str], tls: bool) -> io::Result<Self> {
        let with_tls = |tls_port: Option<u16>| {
            let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
            if let Some(tls_port) = tls_port {
                all.extend(["--tls-port".to_owned(), tls_port.to_string()]);
            }
            all
        };
        let started = start_on_free_ports("cache-redis-test-", tls, |dir, port, tls_port| {
            let all = with_tls(tls_port);
            let all: Vec<&str> = all.iter().map(String::as_str).collect();
            spawn_server(port, dir, &all)
        })?;
        Ok(Self {
            port: started.port,
            tls_port: started.tls_port,
            dir: started.dir,
            args: with_tls(started.tls_port),
            child: Some(started.child),
        })
    }

    /// The port the server listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's URL, `redis://127.0.0.1:{port}/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The TLS port, for a server started with [`start_tls`](Self::start_tls).
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// `rediss://127.0.0.1:{tls port}/` for a server started with
    /// [`start_tls`](Self::start_tls) (the certificate must cover `127.0.0.1`).
    pub fn tls_url(&self) -> Option<String> {
        self.tls_port
            .map(|port| format!("rediss://127.0.0.1:{port}/"))
    }

    /// Runs one command on the server (over the plain port) and returns its reply: set-up
    /// such as `ACL SETUSER` or `CONFIG SET`.
    pub fn command<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> redis::RedisResult<T> {
        query(self.port, command)
    }

    /// The process id, while the server runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the server process was started and not killed since.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the server with SIGKILL (no shutdown, connections reset) and waits until it is
    /// gone. Does nothing if it is not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop(&mut child);
        }
    }

    /// Freezes the server with SIGSTOP: connections stay open, nothing answers.
    pub fn pause(&self) -> io::Result<()> {
        self.signal("STOP")
    }

    /// Thaws a [`pause`](Self::pause)d server with SIGCONT.
    pub fn resume(&self) -> io::Result<()> {
        self.signal("CONT")
    }

    fn signal(&self, name: &str) -> io::Result<()> {
        match self.pid() {
            Some(pid) => signal(pid, name),
            None => Err(io::Error::other("the redis-server is not running")),
        }
    }

    /// Starts the server again on the same port (killing it first if it runs), empty, and
    /// waits until it answers `PING`.
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let mut child = spawn_server(self.port, self.dir.path(), &args)?;
        match wait_ready(&mut child, self.port, self.dir.path()) {
            Ok(()) => {
                self.child = Some(child);
                Ok(())
            }
            Err(error) => {
                stop(&mut child);
                Err(error)
            }
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
