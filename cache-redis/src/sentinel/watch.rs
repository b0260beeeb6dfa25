//! Keeping up with failovers between commands: a periodic check of the master in use against
//! the sentinels and its own `ROLE`, and the sentinels' `+switch-master` messages as a hint to
//! check at once. Runs on the backplane's thread.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;

use super::{Sentinel, ask};

/// The sentinels' channel announcing a new master: `<service> <old ip> <old port> <new ip>
/// <new port>`.
const SWITCH_CHANNEL: &str = "+switch-master";

/// Checks the master every `interval` and on every `+switch-master` of the service; runs
/// until dropped.
pub(crate) async fn watch(sentinel: Arc<Sentinel>, interval: Duration) {
    let periodic = async {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            sentinel.check().await;
        }
    };
    tokio::join!(periodic, switch_hints(&sentinel, interval));
}

/// Listens to `+switch-master` on one sentinel at a time (the next one when it fails).
async fn switch_hints(sentinel: &Arc<Sentinel>, pause: Duration) {
    let mut attempt = 0usize;
    loop {
        let node = &sentinel.sentinels[attempt % sentinel.sentinels.len()];
        attempt += 1;
        let subscribe = async {
            let mut pubsub = node.client().get_async_pubsub().await?;
            pubsub.subscribe(SWITCH_CHANNEL).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match tokio::time::timeout(sentinel.connect_timeout, subscribe).await {
            Ok(Ok(pubsub)) => {
                let mut messages = pubsub.into_on_message();
                while let Some(message) = messages.next().await {
                    let payload: String = message.get_payload().unwrap_or_default();
                    if payload.split(' ').next() == Some(sentinel.service()) {
                        tracing::info!(service = %sentinel.service(), %payload, "+switch-master from a sentinel");
                        sentinel.check().await;
                    }
                }
            }
            Ok(Err(error)) => tracing::debug!(%error, "cannot listen to a sentinel"),
            Err(_) => tracing::debug!("a sentinel did not accept the subscription in time"),
        }
        tokio::time::sleep(pause).await;
    }
}

impl Sentinel {
    /// Compares the master in use with the one the sentinels name and asks it `ROLE`; drops
    /// it if either says it is no longer the master, then resolves. With no master in use,
    /// resolves.
    pub(crate) async fn check(self: &Arc<Self>) {
        if let Some(master) = self.current() {
            let verdict = match self.named_master().await {
                Ok(named) if named != master.address => {
                    Err(format!("the sentinels now name {named}"))
                }
                Ok(_) => {
                    let mut connection = master.connection.clone();
                    let role = ask::require_master(&mut connection, &master.address);
                    match tokio::time::timeout(self.connect_timeout, role).await {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(error)) => Err(error.to_string()),
                        Err(_) => Err("ROLE unanswered".to_owned()),
                    }
                }
                // The sentinels are away: keep the master, the commands will tell.
                Err(error) => {
                    tracing::debug!(%error, "no sentinel answered the periodic check");
                    Ok(())
                }
            };
            match verdict {
                Ok(()) => return,
                Err(why) => self.forget(master.generation, &why),
            }
        }
        if let Err(error) = self.master().await {
            tracing::debug!(%error, service = %self.service, "no Sentinel master yet");
        }
    }
}
