//! `GET /stats`: the cache's counters, its hit ratio, and each function's counters.

use axum::Json;
use axum::extract::State;
use cache_core::Cache;
use serde_json::{Value, json};

/// The counters as JSON.
pub(crate) async fn stats(State(cache): State<Cache>) -> Json<Value> {
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
    Json(json!({ "cache": cache_value, "functions": functions }))
}
