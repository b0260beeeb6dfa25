//! The backplane: invalidation messages on a per-namespace pub/sub channel, and the task that
//! applies other processes' messages to this process's L1.
//!
//! Message format (JSON, one per `PUBLISH`):
//!
//! ```json
//! {"origin":"5f0c...","op":"keys","keys":["user:7"]}
//! {"origin":"5f0c...","op":"pattern","pattern":"user:*"}
//! {"origin":"5f0c...","op":"tags","tags":["users"]}
//! {"origin":"5f0c...","op":"clear"}
//! ```
//!
//! Keys and patterns are cache keys (without the namespace). `origin` identifies the
//! publishing `RedisL2`; it ignores its own messages. An unreadable message clears L1
//! (it may have been an invalidation).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cache_core::{Invalidation, InvalidationSink};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

/// One backplane message.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct Message {
    /// The publishing `RedisL2`'s random id.
    pub(crate) origin: String,
    /// What happened.
    #[serde(flatten)]
    pub(crate) op: Op,
}

/// What a message reports.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "lowercase")]
pub(crate) enum Op {
    /// Keys written or removed.
    Keys {
        /// Cache keys.
        keys: Vec<String>,
    },
    /// Keys matching a glob removed.
    Pattern {
        /// Redis glob over cache keys.
        pattern: String,
    },
    /// Tags invalidated.
    Tags {
        /// The tags.
        tags: Vec<String>,
    },
    /// Everything removed.
    Clear,
}

impl Op {
    fn into_invalidation(self) -> Invalidation {
        match self {
            Op::Keys { keys } => Invalidation::Keys(keys),
            Op::Pattern { pattern } => Invalidation::Pattern(pattern),
            Op::Tags { tags } => Invalidation::Tags(tags),
            Op::Clear => Invalidation::Clear,
        }
    }
}

/// Encodes a message.
pub(crate) fn encode(origin: &str, op: Op) -> String {
    let message = Message {
        origin: origin.to_owned(),
        op,
    };
    serde_json::to_string(&message).expect("a message of strings always serializes")
}

/// Settings of the subscriber task.
#[derive(Clone)]
pub(crate) struct SubscriberConfig {
    /// Clients of the nodes to subscribe through, tried in turn (one for standalone).
    pub(crate) clients: Vec<redis::Client>,
    pub(crate) channel: String,
    pub(crate) origin: String,
    /// A PING is sent this often and must be answered within this time.
    pub(crate) heartbeat: Duration,
    /// Limit of connecting and subscribing.
    pub(crate) connect_timeout: Duration,
    /// Longest pause between resubscription attempts.
    pub(crate) max_backoff: Duration,
}

/// State shared between the `RedisL2` and its subscriber task.
#[derive(Default)]
pub(crate) struct Status {
    connected: AtomicBool,
}

impl Status {
    pub(crate) fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }
}

const MIN_BACKOFF: Duration = Duration::from_millis(25);

/// The subscriber task: subscribe, apply others' messages, and on loss tell the engine at once,
/// then resubscribe with backoff. Runs until aborted.
pub(crate) async fn run(
    config: SubscriberConfig,
    sink: Arc<dyn InvalidationSink>,
    status: Arc<Status>,
) {
    let mut backoff = MIN_BACKOFF;
    let mut attempt = 0usize;
    loop {
        let client = &config.clients[attempt % config.clients.len()];
        attempt += 1;
        match subscribe(client, &config).await {
            Ok(pubsub) => {
                backoff = MIN_BACKOFF;
                sink.set_connected(true);
                status.connected.store(true, Ordering::Release);
                tracing::debug!(channel = %config.channel, "backplane subscribed");
                let reason = listen(pubsub, &config, sink.as_ref()).await;
                sink.set_connected(false);
                status.connected.store(false, Ordering::Release);
                tracing::warn!(channel = %config.channel, reason, "backplane lost; L1 disabled until resubscribed");
            }
            Err(error) => {
                tracing::debug!(channel = %config.channel, %error, "backplane subscription failed");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(config.max_backoff);
    }
}

async fn subscribe(
    client: &redis::Client,
    config: &SubscriberConfig,
) -> Result<redis::aio::PubSub, String> {
    let connect = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(&config.channel).await?;
        Ok::<_, redis::RedisError>(pubsub)
    };
    match tokio::time::timeout(config.connect_timeout, connect).await {
        Ok(Ok(pubsub)) => Ok(pubsub),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("no answer within {:?}", config.connect_timeout)),
    }
}

/// Applies messages until the subscription is lost; returns why.
async fn listen(
    pubsub: redis::aio::PubSub,
    config: &SubscriberConfig,
    sink: &dyn InvalidationSink,
) -> &'static str {
    let (mut control, mut stream) = pubsub.split();
    let mut ticker = tokio::time::interval(config.heartbeat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            message = stream.next() => match message {
                Some(message) => apply(message.get_payload_bytes(), config, sink),
                None => return "connection closed",
            },
            _ = ticker.tick() => {
                let ping = tokio::time::timeout(config.heartbeat, control.ping::<redis::Value>());
                match ping.await {
                    Ok(Ok(_)) => {}
                    Ok(Err(_)) => return "heartbeat failed",
                    Err(_) => return "heartbeat unanswered",
                }
            }
        }
    }
}

/// Applies one message unless this process sent it.
fn apply(payload: &[u8], config: &SubscriberConfig, sink: &dyn InvalidationSink) {
    match serde_json::from_slice::<Message>(payload) {
        Ok(message) if message.origin == config.origin => {}
        Ok(message) => {
            sink.invalidate(message.op.into_invalidation());
        }
        Err(error) => {
            tracing::warn!(%error, "unreadable backplane message; clearing L1 to be safe");
            sink.invalidate(Invalidation::Clear);
        }
    }
}

/// A random id for this `RedisL2`'s messages.
pub(crate) fn new_origin() -> String {
    use std::hash::BuildHasher;
    use std::sync::atomic::AtomicU64;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = (
        std::process::id(),
        std::time::SystemTime::now(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
    );
    let a = std::hash::RandomState::new().hash_one(seed);
    let b = std::hash::RandomState::new().hash_one((seed, a));
    format!("{a:016x}{b:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_format() {
        let json = encode(
            "o1",
            Op::Keys {
                keys: vec!["user:7".into()],
            },
        );
        assert_eq!(json, r#"{"origin":"o1","op":"keys","keys":["user:7"]}"#);
        assert_eq!(encode("o1", Op::Clear), r#"{"origin":"o1","op":"clear"}"#);
        let parsed: Message =
            serde_json::from_str(r#"{"origin":"x","op":"tags","tags":["a","b"]}"#).unwrap();
        assert_eq!(
            parsed.op,
            Op::Tags {
                tags: vec!["a".into(), "b".into()]
            }
        );
        let parsed: Message =
            serde_json::from_str(r#"{"origin":"x","op":"pattern","pattern":"u:*"}"#).unwrap();
        assert_eq!(
            parsed.op.into_invalidation(),
            Invalidation::Pattern("u:*".into())
        );
    }

    #[test]
    fn origins_differ() {
        assert_ne!(new_origin(), new_origin());
        assert_eq!(new_origin().len(), 32);
    }
}
