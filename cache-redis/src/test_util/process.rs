//! Shared plumbing of the test servers: binaries, free ports, spawning and readiness.

use std::io;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a server may take to answer its first `PING`.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The `redis-server` binary: `REDIS_SERVER_BIN`, else `redis-server` on `PATH`.
pub(crate) fn server_bin() -> String {
    std::env::var("REDIS_SERVER_BIN").unwrap_or_else(|_| "redis-server".to_owned())
}

/// The `redis-cli` binary: `REDIS_CLI_BIN`, else `redis-cli` on `PATH`.
pub(crate) fn cli_bin() -> String {
    std::env::var("REDIS_CLI_BIN").unwrap_or_else(|_| "redis-cli".to_owned())
}

/// A loopback port that was free a moment ago (the OS picks it).
pub(crate) fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts `redis-server` on `port` with its files in `dir` and `extra` arguments.
pub(crate) fn spawn_server(port: u16, dir: &Path, extra: &[&str]) -> io::Result<Child> {
    let mut command = Command::new(server_bin());
    command
        .arg("--port")
        .arg(port.to_string())
        .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .args(["--daemonize", "no", "--logfile", "redis.log"])
        .arg("--dir")
        .arg(dir)
        .args(extra)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command.spawn().map_err(|error| {
        io::Error::new(
            error.kind(),
            format!(
                "cannot run `{}` ({error}); install redis-server (scripts/test.sh does)",
                server_bin()
            ),
        )
    })
}

/// A process started by [`start_on_free_ports`], answering `PING`.
pub(crate) struct Started {
    pub(crate) dir: TempDir,
    pub(crate) port: u16,
    pub(crate) tls_port: Option<u16>,
    pub(crate) child: Child,
}

/// Starts a server (`spawn(dir, port, tls port)`, logging to `redis.log` in `dir`) on free
/// loopback ports in a fresh temporary directory, and waits until it answers `PING`. A port
/// free when chosen may be taken before the server binds it, so a few ports are tried.
pub(crate) fn start_on_free_ports(
    prefix: &str,
    tls: bool,
    spawn: impl Fn(&Path, u16, Option<u16>) -> io::Result<Child>,
) -> io::Result<Started> {
    let mut last_error = None;
    for _ in 0..5 {
        let dir = tempfile::Builder::new().prefix(prefix).tempdir()?;
        let port = free_port()?;
        let tls_port = if tls { Some(free_port()?) } else { None };
        let mut child = spawn(dir.path(), port, tls_port)?;
        match wait_ready(&mut child, port, dir.path()) {
            Ok(()) => {
                return Ok(Started {
                    dir,
                    port,
                    tls_port,
                    child,
                });
            }
            Err(error) => {
                stop(&mut child);
                last_error = Some(error);
            }
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("the server did not start")))
}

/// Sends one command over a fresh connection and returns the reply.
pub(crate) fn query<T: redis::FromRedisValue>(
    port: u16,
    command: &redis::Cmd,
) -> redis::RedisResult<T> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let mut connection = client.get_connection_with_timeout(Duration::from_secs(1))?;
    connection.set_read_timeout(Some(Duration::from_secs(2)))?;
    connection.set_write_timeout(Some(Duration::from_secs(2)))?;
    command.query(&mut connection)
}

/// Waits until the server on `port` answers `PING`, or fails if the process exits or the
/// timeout passes.
pub(crate) fn wait_ready(child: &mut Child, port: u16, dir: &Path) -> io::Result<()> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Err(io::Error::other(format!(
                "redis-server on port {port} exited with {status}: {}",
                log_tail(dir)
            )));
        }
        if query::<String>(port, &redis::cmd("PING")).is_ok_and(|reply| reply == "PONG") {
            return Ok(());
        }
        if started.elapsed() > START_TIMEOUT {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("redis-server on port {port} did not answer PING within {START_TIMEOUT:?}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The end of a server's log, for error messages.
pub(crate) fn log_tail(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

/// Sends a signal to a process with the `kill` utility.
pub(crate) fn signal(pid: u32, signal: &str) -> io::Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "kill -{signal} {pid} failed: {status}"
        )))
    }
}

/// Kills (SIGKILL) and reaps a child, if it is still running.
pub(crate) fn stop(child: &mut Child) {
    // A stopped process dies on SIGKILL too; SIGCONT is not needed.
    let _ = child.kill();
    let _ = child.wait();
}
