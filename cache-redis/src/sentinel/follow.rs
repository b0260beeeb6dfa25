//! [`MasterConnection`]: the data connection of a Sentinel service. Every command goes to the
//! master in use (resolved first if there is none); a failure that says the master is gone or
//! no longer the master drops it, so the next command resolves again.

use std::sync::Arc;

use redis::aio::ConnectionLike;
use redis::{Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, ServerErrorKind, Value};

use super::Sentinel;

/// A handle on the Sentinel service's master; cheap to clone.
#[derive(Clone)]
pub(crate) struct MasterConnection {
    sentinel: Arc<Sentinel>,
    db: i64,
}

impl MasterConnection {
    pub(crate) fn new(sentinel: Arc<Sentinel>, db: i64) -> Self {
        Self { sentinel, db }
    }

    /// The service it follows.
    pub(crate) fn sentinel(&self) -> &Arc<Sentinel> {
        &self.sentinel
    }

    /// Drops the master of `generation` if `failure` says it is gone or demoted.
    fn judge(&self, generation: u64, failure: Option<Failure<'_>>) {
        let Some(failure) = failure else { return };
        if failure.means_lost_master() {
            self.sentinel.forget(generation, &failure);
        }
    }
}

/// What a command's answer says about the master.
enum Failure<'a> {
    /// No answer: the connection failed.
    Client(&'a RedisError),
    /// An error reply.
    Reply(&'a redis::ServerError),
}

impl Failure<'_> {
    fn of_value(value: &Value) -> Option<Failure<'_>> {
        match value {
            Value::ServerError(error) => Some(Failure::Reply(error)),
            _ => None,
        }
    }

    /// A lost connection, or a reply saying this server is not (or not yet) a usable master.
    fn means_lost_master(&self) -> bool {
        match self {
            Failure::Client(error) => {
                error.is_io_error()
                    || error.is_connection_dropped()
                    || error.is_connection_refusal()
                    || error.is_timeout()
                    || matches!(
                        error.kind(),
                        ErrorKind::Server(
                            ServerErrorKind::ReadOnly
                                | ServerErrorKind::BusyLoading
                                | ServerErrorKind::MasterDown
                        )
                    )
                    || error.code().is_some_and(demoted)
            }
            Failure::Reply(error) => demoted(error.code()),
        }
    }
}

/// The error codes of a server that is a replica, loading, or cut off from its master.
fn demoted(code: &str) -> bool {
    matches!(code, "READONLY" | "LOADING" | "MASTERDOWN")
}

impl std::fmt::Display for Failure<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Client(error) => write!(f, "{error}"),
            Failure::Reply(error) => write!(f, "{error}"),
        }
    }
}

impl ConnectionLike for MasterConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let master = self.sentinel.master().await?;
            let mut connection = master.connection;
            let result = connection.req_packed_command(cmd).await;
            let failure = match &result {
                Ok(value) => Failure::of_value(value),
                Err(error) => Some(Failure::Client(error)),
            };
            self.judge(master.generation, failure);
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let master = self.sentinel.master().await?;
            let mut connection = master.connection;
            let result = connection
                .req_packed_commands(pipeline, offset, count)
                .await;
            let failure = match &result {
                Ok(values) => values.iter().find_map(Failure::of_value),
                Err(error) => Some(Failure::Client(error)),
            };
            self.judge(master.generation, failure);
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.db
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_of_a_demoted_or_loading_server_drop_the_master() {
        for code in ["READONLY", "LOADING", "MASTERDOWN"] {
            assert!(demoted(code), "{code}");
        }
        assert!(!demoted("WRONGTYPE"));
        assert!(!demoted("NOSCRIPT"));
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(Failure::Client(&refused).means_lost_master());
        let wrong_type = RedisError::from((ErrorKind::Server(ServerErrorKind::ResponseError), "x"));
        assert!(!Failure::Client(&wrong_type).means_lost_master());
    }
}
