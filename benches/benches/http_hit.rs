//! The in-process cost of one cached HTTP hit: `GET /users/{id}` through an axum `Router`
//! called directly (no socket, no hyper), behind `axum_response_cache::CacheLayer` and behind
//! `cache_http::ResponseCacheLayer` on an L1-only `Cache`, every id stored first. The socket
//! benchmark (`http_response`) measures what a client sees; this one isolates what the layer
//! itself adds to a hit, which the socket's noise hides.
//!
//! Run: `cargo bench -p benches --bench http_hit`. For instruction counts, which do not depend
//! on what else the machine runs, set `HTTP_HIT_LOOP=<contender>:<hits>` (contender `peer` or
//! `ours`) and run the bench binary under `valgrind --tool=callgrind`: it then serves that many
//! hits on one thread and exits. Results: `BENCHMARKS.md`.

use std::hint::black_box;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use cache_core::Cache;
use cache_http::ResponseCacheLayer;
use criterion::{Criterion, criterion_group};
use http_body_util::BodyExt;
use tower_service::Service;

#[path = "common/raw_client.rs"]
mod raw_client;
#[path = "common/user_route.rs"]
mod user_route;

/// The ids requested, in turn.
const IDS: u64 = 100;

/// The route's handler (never reached once every id is stored).
async fn user(Path(id): Path<u64>) -> impl IntoResponse {
    user_route::user_profile(id)
}

fn app(contender: &str) -> Router {
    let route = Router::new().route("/users/{id}", get(user));
    match contender {
        "peer" => route.route_layer(axum_response_cache::CacheLayer::with_lifespan(
            Duration::from_secs(600),
        )),
        "ours" => {
            let cache = Cache::builder().build().expect("the default cache builds");
            route.route_layer(ResponseCacheLayer::new(cache))
        }
        other => panic!("unknown contender {other:?}: `peer` or `ours`"),
    }
}

/// The request paths, built once so the loop measures the layer, not `format!`.
fn paths() -> Vec<String> {
    (0..IDS).map(|id| format!("/users/{id}")).collect()
}

/// One request through `app`, its whole body read.
async fn hit(app: &mut Router, path: &str) -> usize {
    let request = Request::get(path).body(Body::empty()).expect("a request");
    let response = app.call(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.expect("a body");
    body.to_bytes().len()
}

async fn warmed(contender: &str, paths: &[String]) -> Router {
    // With its state, as `axum::serve` gives it: the routes' layers are applied once here, not
    // again for every request.
    let mut app = app(contender).with_state(());
    for path in paths {
        hit(&mut app, path).await;
    }
    app
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

fn hits(c: &mut Criterion) {
    let runtime = runtime();
    let paths = paths();
    let mut group = c.benchmark_group("http_hit");
    for (contender, name) in [
        ("peer", "axum-response-cache"),
        ("ours", "ResponseCacheLayer"),
    ] {
        let app = runtime.block_on(warmed(contender, &paths));
        let mut next = 0;
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| {
                next = (next + 1) % paths.len();
                let path = &paths[next];
                let mut app = app.clone();
                async move { black_box(hit(&mut app, path).await) }
            })
        });
    }
    group.finish();
}

/// `HTTP_HIT_LOOP=<contender>:<hits>`: that many hits on one thread, nothing else;
/// `<contender>-socket:<hits>`: through a loopback socket, from a reqwest client on the same
/// thread (the count then includes hyper's and the client's work for each response).
fn fixed_loop(spec: &str) {
    let (contender, count) = spec
        .split_once(':')
        .expect("HTTP_HIT_LOOP is <contender>:<hits>");
    let count: usize = count.parse().expect("a number of hits");
    let runtime = runtime();
    let paths = paths();
    if let Some(contender) = contender.strip_suffix("-socket") {
        runtime.block_on(async {
            let app = warmed(contender, &paths).await;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("a loopback port");
            let address = listener.local_addr().expect("bound");
            tokio::spawn(async move { axum::serve(listener, app).await });
            let host = address.to_string();
            let requests: Vec<Vec<u8>> = paths
                .iter()
                .map(|path| raw_client::get_request(&host, path))
                .collect();
            let mut bytes = 0;
            if std::env::var("HTTP_HIT_CLIENT").as_deref() == Ok("reqwest") {
                let client = reqwest::Client::new();
                for index in 0..count {
                    let url = format!("http://{address}{}", paths[index % paths.len()]);
                    let response = client.get(url).send().await.expect("an answer");
                    bytes += response.bytes().await.expect("a body").len();
                }
            } else {
                let mut client = raw_client::RawClient::connect(&host).await;
                for index in 0..count {
                    let (status, length) = client.get(&requests[index % requests.len()]).await;
                    assert_eq!(status, 200);
                    bytes += length;
                }
            }
            black_box(bytes);
        });
        return;
    }
    runtime.block_on(async {
        let app = warmed(contender, &paths).await;
        let mut bytes = 0;
        for index in 0..count {
            let mut app = app.clone();
            bytes += hit(&mut app, &paths[index % paths.len()]).await;
        }
        black_box(bytes);
    });
}

criterion_group!(benches, hits);

fn main() {
    if let Ok(spec) = std::env::var("HTTP_HIT_LOOP") {
        fixed_loop(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
