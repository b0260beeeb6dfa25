//! The cached route of the HTTP benchmarks, `GET /users/{id}`: a JSON profile that may be
//! stored for ten minutes.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;

/// The response for user `id`.
pub fn user_profile(id: u64) -> impl IntoResponse {
    let mut profile = benches::profile();
    profile.id = id;
    let body = serde_json::to_string(&profile).expect("a profile serializes");
    (
        [
            (CACHE_CONTROL, "max-age=600"),
            (CONTENT_TYPE, "application/json"),
        ],
        body,
    )
}
