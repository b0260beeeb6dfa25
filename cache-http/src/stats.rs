//! `GET /stats`: the cache's counters, its hit ratio, each function's counters and, when the
//! router was given a response cache's, its counters by route.

use axum::Json;
use axum::extract::{FromRef, State};
use cache_core::Cache;
use serde_json::{Value, json};

use crate::ResponseStats;

/// What the admin routes read: the cache, and a response cache's counters if there is one.
#[derive(Clone)]
pub(crate) struct AdminState {
    pub(crate) cache: Cache,
    pub(crate) responses: Option<ResponseStats>,
}

impl FromRef<AdminState> for Cache {
    fn from_ref(state: &AdminState) -> Cache {
        state.cache.clone()
    }
}

/// The counters as JSON.
pub(crate) async fn stats(State(state): State<AdminState>) -> Json<Value> {
    let cache = &state.cache;
    let total = cache.stats();
    let functions: serde_json::Map<String, Value> = cache
        .stats_by_function()
        .into_iter()
        .map(|(name, stats)| {
            let mut value = json!(stats);
            value["hit_ratio"] = json!(stats.hit_ratio());
            (name, value)
        })
        .collect();
    let mut cache_value = json!(total);
    cache_value["hit_ratio"] = json!(total.hit_ratio());
    cache_value["l1_entries"] = json!(cache.l1_len());
    let mut body = json!({ "cache": cache_value, "functions": functions });
    if let Some(responses) = &state.responses {
        let routes: serde_json::Map<String, Value> = responses
            .snapshot()
            .into_iter()
            .map(|(route, stats)| {
                let mut value = json!(stats);
                value["hit_ratio"] = json!(stats.hit_ratio());
                (route, value)
            })
            .collect();
        body["responses"] = Value::Object(routes);
    }
    Json(body)
}
