//! `POST /invalidate`: one of `{"keys": [..]}`, `{"pattern": ".."}`, `{"tags": [..]}`,
//! `{"all": true}`. The body is checked whole before anything is invalidated.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use cache_core::Cache;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;

/// The request body; exactly one field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    keys: Option<Vec<String>>,
    pattern: Option<String>,
    tags: Option<Vec<String>>,
    all: Option<bool>,
}

/// What to invalidate, checked.
enum What {
    Keys(Vec<String>),
    Pattern(String),
    Tags(Vec<String>),
    All,
}

fn parse(body: &[u8]) -> Result<What, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "empty body: send one of {\"keys\": [..]}, {\"pattern\": \"..\"}, {\"tags\": [..]}, {\"all\": true}",
        ));
    }
    let request: Request = serde_json::from_slice(body)
        .map_err(|error| ApiError::bad_request(format!("invalid JSON body: {error}")))?;
    let given = [
        request.keys.is_some(),
        request.pattern.is_some(),
        request.tags.is_some(),
        request.all.is_some(),
    ];
    if given.iter().filter(|given| **given).count() != 1 {
        return Err(ApiError::bad_request(
            "give exactly one of `keys`, `pattern`, `tags`, `all`",
        ));
    }
    let non_empty = |list: Vec<String>, field: &str| {
        if list.is_empty() || list.iter().any(String::is_empty) {
            Err(ApiError::bad_request(format!(
                "`{field}` must be a non-empty list of non-empty strings"
            )))
        } else {
            Ok(list)
        }
    };
    match request {
        Request {
            keys: Some(keys), ..
        } => Ok(What::Keys(non_empty(keys, "keys")?)),
        Request {
            tags: Some(tags), ..
        } => Ok(What::Tags(non_empty(tags, "tags")?)),
        Request {
            pattern: Some(pattern),
            ..
        } if pattern.is_empty() => Err(ApiError::bad_request("`pattern` must not be empty")),
        Request {
            pattern: Some(pattern),
            ..
        } => Ok(What::Pattern(pattern)),
        Request {
            all: Some(true), ..
        } => Ok(What::All),
        Request { .. } => Err(ApiError::bad_request(
            "`all` must be true (to invalidate nothing, send nothing)",
        )),
    }
}

/// Invalidates what the body names, everywhere (L1, L2, other processes).
pub(crate) async fn invalidate(
    State(cache): State<Cache>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let what = parse(&body)?;
    let done = match what {
        What::Keys(keys) => {
            for key in &keys {
                cache.invalidate(key).await;
            }
            json!({ "invalidated": { "keys": keys } })
        }
        What::Pattern(pattern) => {
            cache.invalidate_pattern(&pattern).await;
            json!({ "invalidated": { "pattern": pattern } })
        }
        What::Tags(tags) => {
            let refs: Vec<&str> = tags.iter().map(String::as_str).collect();
            cache.invalidate_tags(&refs).await;
            json!({ "invalidated": { "tags": tags } })
        }
        What::All => {
            cache.clear().await;
            json!({ "invalidated": { "all": true } })
        }
    };
    Ok(Json(done))
}
