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
//! {"origin":"5f0c...","op":"flush","generation":1732962000123456}
//! ```
//!
//! Keys and patterns are cache keys (without the namespace). `origin` identifies the
//! publishing `RedisL2`; it ignores its own messages. An unreadable message clears L1
//! (it may have been an invalidation). `flush` says every entry written before `generation`
//! is gone (`pending.rs`).
//!
//! # Liveness from evidence
//!
//! The subscriber runs on a thread of its own (its own single-threaded runtime), so it does
//! not die with the runtime that built the `RedisL2`. It proves the subscription works with a
//! heartbeat `PING` answered through the subscribed connection (and by every message); the
//! backplane counts as connected only while the last proof is younger than
//! [`LIVENESS_HEARTBEATS`](crate::liveness::LIVENESS_HEARTBEATS) heartbeats. A supervisor on
//! the same thread reports the state to the engine on every change, whatever stopped the
//! proofs (a closed connection, a frozen server, a subscriber task that ended or panicked,
//! which it restarts).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use cache_core::l2::{Invalidation, InvalidationSink};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

pub(crate) use crate::liveness::Status;
use crate::target::{Moved, Source};

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
    /// Every entry written before this generation hidden (sent by the flush script).
    Flush {
        /// The namespace's generation at the flush.
        generation: u64,
    },
}

impl Op {
    fn into_invalidation(self) -> Invalidation {
        match self {
            Op::Keys { keys } => Invalidation::Keys(keys),
            Op::Pattern { pattern } => Invalidation::Pattern(pattern),
            Op::Tags { tags } => Invalidation::Tags(tags),
            Op::Clear | Op::Flush { .. } => Invalidation::Clear,
        }
    }
}

impl From<&Invalidation> for Op {
    fn from(invalidation: &Invalidation) -> Self {
        match invalidation {
            Invalidation::Keys(keys) => Op::Keys { keys: keys.clone() },
            Invalidation::Pattern(pattern) => Op::Pattern {
                pattern: pattern.clone(),
            },
            Invalidation::Tags(tags) => Op::Tags { tags: tags.clone() },
            Invalidation::Clear => Op::Clear,
        }
    }
}

/// The start of a flush message; the flush script appends the generation and `}`.
pub(crate) fn flush_message_prefix(origin: &str) -> String {
    let origin = serde_json::to_string(origin).expect("a string serializes");
    format!(r#"{{"origin":{origin},"op":"flush","generation":"#)
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
    /// Where to subscribe: nodes tried in turn, or a Sentinel service's master.
    pub(crate) source: Source,
    pub(crate) channel: String,
    pub(crate) origin: String,
    /// A PING is sent this often and must be answered within this time.
    pub(crate) heartbeat: Duration,
    /// Limit of connecting and subscribing.
    pub(crate) connect_timeout: Duration,
    /// Longest pause between resubscription attempts.
    pub(crate) max_backoff: Duration,
}

/// A boxed future of the backplane thread's maintenance step.
pub(crate) type Maintenance = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What the supervisor runs on every tick besides watching the subscriber (replaying queued
/// invalidations, reading the flush generation).
pub(crate) type Maintain = Box<dyn Fn() -> Maintenance + Send + Sync>;

/// The backplane's thread; dropping this stops it.
pub(crate) struct Backplane {
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Starts the backplane's thread: the subscriber and its supervisor.
pub(crate) fn start(
    config: SubscriberConfig,
    sink: Arc<dyn InvalidationSink>,
    status: Arc<Status>,
    maintain: Maintain,
) -> std::io::Result<Backplane> {
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("cache-backplane".to_owned())
        .spawn(move || runtime.block_on(supervise(config, sink, status, maintain, stopped)))?;
    Ok(Backplane { _stop: stop })
}

/// Runs the subscriber, restarts it if it stops, reports the state on every tick, and runs
/// the maintenance step; returns when the `Backplane` is dropped.
async fn supervise(
    config: SubscriberConfig,
    sink: Arc<dyn InvalidationSink>,
    status: Arc<Status>,
    maintain: Maintain,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let spawn = || tokio::spawn(run(config.clone(), Arc::clone(&sink), Arc::clone(&status)));
    let mut subscriber = spawn();
    // A Sentinel service's master is checked from here too (`sentinel/watch.rs`).
    let watcher = config.source.watcher(config.heartbeat).map(tokio::spawn);
    let mut ticker = tokio::time::interval(config.heartbeat / 2);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stopped => {
                subscriber.abort();
                if let Some(watcher) = &watcher {
                    watcher.abort();
                }
                return;
            }
            _ = ticker.tick() => {
                if subscriber.is_finished() {
                    status.set_subscribed(false);
                    tracing::warn!(channel = %config.channel, "backplane subscriber stopped; restarting it");
                    subscriber = spawn();
                }
                status.report(sink.as_ref());
                maintain().await;
            }
        }
    }
}

const MIN_BACKOFF: Duration = Duration::from_millis(25);

/// The subscriber task: subscribe, apply others' messages, and on loss tell the engine at once,
/// then resubscribe with backoff. Runs until aborted. A Sentinel service's master moving ends
/// the subscription like a loss: every resubscription goes through the degraded path, since
/// messages may have been missed meanwhile.
pub(crate) async fn run(
    config: SubscriberConfig,
    sink: Arc<dyn InvalidationSink>,
    status: Arc<Status>,
) {
    let mut backoff = MIN_BACKOFF;
    let mut attempt = 0usize;
    loop {
        let server = config.source.server(attempt).await;
        attempt += 1;
        match server {
            Ok(server) => match subscribe(&server.client, &config).await {
                Ok(pubsub) => {
                    backoff = MIN_BACKOFF;
                    status.set_subscribed(true);
                    status.report(sink.as_ref());
                    tracing::debug!(channel = %config.channel, "backplane subscribed");
                    let moved = server.moved;
                    let reason = listen(pubsub, moved, &config, sink.as_ref(), &status).await;
                    status.set_subscribed(false);
                    status.report(sink.as_ref());
                    tracing::warn!(channel = %config.channel, reason, "backplane lost; L1 degraded until resubscribed");
                }
                Err(error) => {
                    config.source.failed(&server, &error);
                    tracing::debug!(channel = %config.channel, %error, "backplane subscription failed");
                }
            },
            Err(error) => {
                tracing::debug!(channel = %config.channel, %error, "no server to subscribe on");
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
    mut moved: Moved,
    config: &SubscriberConfig,
    sink: &dyn InvalidationSink,
    status: &Status,
) -> &'static str {
    let (mut control, mut stream) = pubsub.split();
    let mut ticker = tokio::time::interval(config.heartbeat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            message = stream.next() => match message {
                Some(message) => {
                    status.prove();
                    apply(message.get_payload_bytes(), config, sink, status);
                }
                None => return "connection closed",
            },
            () = &mut moved => return "the master moved",
            _ = ticker.tick() => {
                let ping = tokio::time::timeout(config.heartbeat, control.ping::<redis::Value>());
                match ping.await {
                    Ok(Ok(_)) => status.prove(),
                    Ok(Err(_)) => return "heartbeat failed",
                    Err(_) => return "heartbeat unanswered",
                }
            }
        }
    }
}

/// Applies one message unless this process sent it.
fn apply(payload: &[u8], config: &SubscriberConfig, sink: &dyn InvalidationSink, status: &Status) {
    match serde_json::from_slice::<Message>(payload) {
        Ok(message) if message.origin == config.origin => {}
        Ok(message) => {
            if let Op::Flush { generation } = message.op {
                status.learn_flush(generation);
            }
            sink.invalidate(message.op.into_invalidation());
        }
        Err(error) => {
            tracing::warn!(%error, "unreadable backplane message; clearing L1 to be safe");
            sink.invalidate(Invalidation::Clear);
        }
    }
}

/// A random id: a `RedisL2`'s origin in its messages, an invalidation's marker.
pub(crate) fn random_id() -> String {
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
    fn the_flush_script_writes_a_readable_message() {
        let message = format!("{}1732962000123456}}", flush_message_prefix("o\"1"));
        let parsed: Message = serde_json::from_str(&message).unwrap();
        assert_eq!(parsed.origin, "o\"1");
        assert_eq!(
            parsed.op,
            Op::Flush {
                generation: 1_732_962_000_123_456
            }
        );
    }

    #[test]
    fn origins_differ() {
        assert_ne!(random_id(), random_id());
        assert_eq!(random_id().len(), 32);
    }
}
