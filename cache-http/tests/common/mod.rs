//! Helpers of the admin API's tests: a server on a free port, a client with a timeout.

use std::time::Duration;

use cache_core::Cache;
use reqwest::StatusCode;
use serde_json::Value;

/// Serves `cache`'s admin router under `/admin` on a free port; returns its base URL.
pub async fn serve(cache: Cache) -> String {
    let app = axum::Router::new().nest("/admin", cache_http::router(cache));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}/admin")
}

/// A client that fails a request after 10 s instead of hanging.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// `GET url`: the status and the JSON body.
pub async fn get(url: &str) -> (StatusCode, Value) {
    let response = client().get(url).send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}
