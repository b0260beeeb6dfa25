//! Questions to the sentinels (`SENTINEL MASTER`) and to the master (`ROLE`).

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use parking_lot::Mutex;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ErrorKind, RedisError, Role};

use super::Address;

/// One sentinel: its client and a connection kept for the periodic checks.
pub(crate) struct SentinelNode {
    client: redis::Client,
    connection: Mutex<Option<MultiplexedConnection>>,
}

impl SentinelNode {
    pub(crate) fn new(client: redis::Client) -> Self {
        Self {
            client,
            connection: Mutex::new(None),
        }
    }

    /// The sentinel's client (for its `+switch-master` messages).
    pub(crate) fn client(&self) -> &redis::Client {
        &self.client
    }

    /// `SENTINEL MASTER <service>` as a field map; the connection is dropped on failure.
    async fn master_info(
        &self,
        service: &str,
        limit: Duration,
    ) -> Result<HashMap<String, String>, RedisError> {
        let ask = async {
            let kept = self.connection.lock().clone();
            let mut connection = match kept {
                Some(connection) => connection,
                None => {
                    let config = AsyncConnectionConfig::new().set_connection_timeout(Some(limit));
                    let connection = self
                        .client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await?;
                    *self.connection.lock() = Some(connection.clone());
                    connection
                }
            };
            redis::cmd("SENTINEL")
                .arg("MASTER")
                .arg(service)
                .query_async::<HashMap<String, String>>(&mut connection)
                .await
        };
        let answer = tokio::time::timeout(limit, ask)
            .await
            .unwrap_or_else(|_| Err(timed_out("the sentinel did not answer", limit)));
        if answer.as_ref().is_err_and(|error| !is_answer(error)) {
            self.connection.lock().take();
        }
        answer
    }
}

/// Whether the error is the sentinel's answer (e.g. an unknown service), not a lost
/// connection.
fn is_answer(error: &RedisError) -> bool {
    matches!(error.kind(), ErrorKind::Server(_) | ErrorKind::Extension)
}

fn timed_out(what: &str, limit: Duration) -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("{what} within {limit:?}"),
    ))
}

/// A sentinel's view of the master: its address and the configuration epoch it is from.
#[derive(Debug, PartialEq)]
struct View {
    address: Address,
    config_epoch: u64,
}

fn view(info: &HashMap<String, String>) -> Option<View> {
    let host = info.get("ip")?.clone();
    let port = info.get("port")?.parse().ok()?;
    let config_epoch = info
        .get("config-epoch")
        .and_then(|epoch| epoch.parse().ok())
        .unwrap_or(0);
    Some(View {
        address: Address { host, port },
        config_epoch,
    })
}

/// Asks every sentinel at once and returns the master named by the newest configuration
/// among the answers that came within `limit` (an unreachable sentinel does not hold the
/// others up); during a failover the sentinels that have not heard of it yet name the old
/// master under an older epoch.
pub(crate) async fn newest_master(
    sentinels: &[SentinelNode],
    service: &str,
    limit: Duration,
) -> Result<Address, RedisError> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut asking: FuturesUnordered<_> = sentinels
        .iter()
        .map(|sentinel| sentinel.master_info(service, limit))
        .collect();
    let mut newest: Option<View> = None;
    let mut last_error = None;
    while let Ok(Some(answer)) = tokio::time::timeout_at(deadline, asking.next()).await {
        match answer.map(|info| view(&info)) {
            Ok(Some(view)) => {
                if newest
                    .as_ref()
                    .is_none_or(|best| view.config_epoch > best.config_epoch)
                {
                    newest = Some(view);
                }
            }
            Ok(None) => {
                last_error = Some(RedisError::from((
                    ErrorKind::MasterNameNotFoundBySentinel,
                    "a sentinel answered without the master's address",
                )));
            }
            Err(error) => last_error = Some(error),
        }
    }
    match (newest, last_error) {
        (Some(view), _) => Ok(view.address),
        (None, Some(error)) => Err(error),
        (None, None) => Err(timed_out("no sentinel answered", limit)),
    }
}

/// Fails unless the server on `connection` says it is a master.
pub(crate) async fn require_master(
    connection: &mut MultiplexedConnection,
    address: &Address,
) -> Result<(), RedisError> {
    let role: Role = redis::cmd("ROLE").query_async(connection).await?;
    match role {
        Role::Primary { .. } => Ok(()),
        other => Err(RedisError::from((
            ErrorKind::Server(redis::ServerErrorKind::ReadOnly),
            "the server the sentinels name is not a master (yet)",
            format!("{address} answered ROLE with {other:?}"),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_master_of_a_sentinel_answer() {
        let info: HashMap<String, String> = [
            ("name", "svc"),
            ("ip", "127.0.0.1"),
            ("port", "6380"),
            ("flags", "master"),
            ("config-epoch", "3"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(
            view(&info),
            Some(View {
                address: Address {
                    host: "127.0.0.1".into(),
                    port: 6380
                },
                config_epoch: 3
            })
        );
        let mut broken = info.clone();
        broken.insert("port".into(), "not a port".into());
        assert_eq!(view(&broken), None);
    }
}
