//! Helpers of the response-cache tests: a real server on a loopback port, a real client with a
//! timeout, a handler call counter, and bounded waits.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use reqwest::header::HeaderMap;

/// The longest any test runs.
pub const TEST_LIMIT: Duration = Duration::from_secs(60);

/// Runs `test`, failing it if it takes longer than [`TEST_LIMIT`].
pub async fn within_limit<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(TEST_LIMIT, test)
        .await
        .expect("the test finished within its limit")
}

/// Serves `app` on a free loopback port; returns its base URL.
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

/// A client that fails a request after 10 s instead of hanging.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A response, read in full.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    /// The value of header `name`, or `""`.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map_or("", |value| value.to_str().unwrap())
    }

    /// The `Cache-Status` value.
    pub fn cache_status(&self) -> &str {
        self.header("cache-status")
    }
}

/// Sends `request` and reads the whole answer.
pub async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.unwrap();
    Answer {
        status,
        headers,
        body,
    }
}

/// `GET url`.
pub async fn get(url: &str) -> Answer {
    send(client().get(url)).await
}

/// Counts the calls of a handler.
#[derive(Debug, Clone, Default)]
pub struct Calls(Arc<AtomicUsize>);

impl Calls {
    /// Counts one call; returns how many there were, this one included.
    pub fn count(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// How many calls there were.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Waits until `condition` holds, polling every 10 ms, and fails after 10 s.
pub async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited in vain: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The strong `ETag` the cache gives `body`: its 128-bit xxh3, quoted.
pub fn body_etag(body: &str) -> String {
    format!("\"{:032x}\"", xxhash_rust::xxh3::xxh3_128(body.as_bytes()))
}
