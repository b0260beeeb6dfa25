//! Requests per second through a real socket for one cached route, `GET /users/{id}` (a JSON
//! profile, `Cache-Control: max-age=600`), whose handler takes 5 ms:
//!
//! - `handler alone`: no cache, every request waits for the handler;
//! - `axum-response-cache`: its `CacheLayer` (method + URI keys, an in-process map behind a
//!   mutex) on the route;
//! - `layered-cache`: `cache_http::ResponseCacheLayer` on an L1-only `Cache` on the route.
//!
//! The three servers run at once on one runtime (2 workers); the load comes from another
//! runtime (2 workers): 32 keep-alive connections of a minimal client (`common/raw_client.rs`:
//! fixed request bytes, responses parsed by `httparse`, so that the servers, not the client,
//! take most of the two cores), each sending its next request as soon as it has read the last
//! answer (`HTTP_BENCH_CLIENT=reqwest`: reqwest clients instead), over 100 ids (all stored before the rounds, so the cached routes
//! answer hits only). Each round gives every contender the same time, in an order rotated from
//! round to round, so drift on a shared machine hits all of them alike; medians are over the
//! rounds. Run: `cargo bench -p benches --bench http_response`. Results: `BENCHMARKS.md`.

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Path;
use axum::response::IntoResponse;
use axum::routing::get;
use cache_core::Cache;
use cache_http::ResponseCacheLayer;

/// How long the handler takes.
const HANDLER_TIME: Duration = Duration::from_millis(5);
/// Keep-alive connections sending requests at once.
const CONNECTIONS: usize = 32;
/// The ids requested, in turn.
const IDS: usize = 100;
/// How long each contender is measured per round.
const ROUND: Duration = Duration::from_secs(1);
/// Rounds (each measures every contender once).
const ROUNDS: usize = 9;

#[path = "common/raw_client.rs"]
mod raw_client;
#[path = "common/user_route.rs"]
mod user_route;

/// The route's handler: 5 ms of work (a query), then the profile.
async fn user(Path(id): Path<u64>) -> impl IntoResponse {
    tokio::time::sleep(HANDLER_TIME).await;
    user_route::user_profile(id)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Contender {
    HandlerAlone,
    AxumResponseCache,
    LayeredCache,
}

impl Contender {
    const ALL: [Self; 3] = [
        Self::HandlerAlone,
        Self::AxumResponseCache,
        Self::LayeredCache,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::HandlerAlone => "handler alone (5 ms)",
            Self::AxumResponseCache => "axum-response-cache 0.5",
            Self::LayeredCache => "layered-cache ResponseCacheLayer",
        }
    }

    fn app(self) -> Router {
        let route = Router::new().route("/users/{id}", get(user));
        match self {
            Self::HandlerAlone => route,
            Self::AxumResponseCache => route.route_layer(
                axum_response_cache::CacheLayer::with_lifespan(Duration::from_secs(600)),
            ),
            Self::LayeredCache => {
                let cache = Cache::builder().build().expect("the default cache builds");
                route.route_layer(ResponseCacheLayer::new(cache))
            }
        }
    }
}

/// `HTTP_BENCH_CLIENT=reqwest`: the load comes from reqwest clients (as the first runs of this
/// benchmark did), which spend more of the cores than the servers do.
fn reqwest_client() -> bool {
    std::env::var("HTTP_BENCH_CLIENT").as_deref() == Ok("reqwest")
}

/// The request for each id, as bytes.
fn requests(address: &str) -> Vec<Vec<u8>> {
    (0..IDS)
        .map(|id| raw_client::get_request(address, &format!("/users/{id}")))
        .collect()
}

/// Sends requests on `CONNECTIONS` connections for `ROUND`; returns requests per second.
async fn measure(address: &str, round: usize) -> f64 {
    let deadline = Instant::now() + ROUND;
    let started = Instant::now();
    let connections: Vec<_> = (0..CONNECTIONS)
        .map(|connection| {
            let address = address.to_owned();
            tokio::spawn(async move {
                let mut sent = 0;
                let mut id = connection * 7 + round;
                if reqwest_client() {
                    let client = reqwest::Client::builder()
                        .pool_max_idle_per_host(1)
                        .build()
                        .expect("a client builds");
                    while Instant::now() < deadline {
                        let url = format!("http://{address}/users/{}", id % IDS);
                        let response = client.get(url).send().await.expect("an answer");
                        assert!(response.status().is_success());
                        response.bytes().await.expect("the body arrives");
                        sent += 1;
                        id += 1;
                    }
                    return sent;
                }
                let requests = requests(&address);
                let mut client = raw_client::RawClient::connect(&address).await;
                while Instant::now() < deadline {
                    let (status, _) = client.get(&requests[id % requests.len()]).await;
                    assert_eq!(status, 200);
                    sent += 1;
                    id += 1;
                }
                sent
            })
        })
        .collect();
    let mut total = 0;
    for connection in connections {
        total += connection.await.expect("a connection's task ends");
    }
    total as f64 / started.elapsed().as_secs_f64()
}

/// Stores every id's response (a cached route answers hits only from then on).
async fn warm(address: &str) {
    let mut client = raw_client::RawClient::connect(address).await;
    for request in requests(address) {
        let (status, _) = client.get(&request).await;
        assert_eq!(status, 200);
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    if std::env::args().any(|arg| arg == "--list" || arg == "--test") {
        // `cargo test --benches` and `--list` ask what is here; nothing runs as a test.
        return;
    }
    let servers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("server")
        .enable_all()
        .build()
        .expect("the server runtime starts");
    let bases: Vec<String> = Contender::ALL
        .iter()
        .map(|contender| {
            let app = contender.app();
            servers.block_on(async {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("a loopback port");
                let address = listener.local_addr().expect("bound");
                tokio::spawn(async move { axum::serve(listener, app).await });
                address.to_string()
            })
        })
        .collect();
    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("client")
        .enable_all()
        .build()
        .expect("the client runtime starts");
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); Contender::ALL.len()];
    clients.block_on(async {
        for base in &bases {
            warm(base).await;
        }
        for round in 0..ROUNDS {
            for turn in 0..Contender::ALL.len() {
                let index = (round + turn) % Contender::ALL.len();
                rates[index].push(measure(&bases[index], round).await);
            }
        }
    });
    // The ratio to the peer within each round, where both met the same load on the machine.
    let mut paired: Vec<f64> = rates[2]
        .iter()
        .zip(&rates[1])
        .map(|(ours, peer)| ours / peer)
        .collect();
    let paired = median(&mut paired);
    let summary: Vec<(f64, f64, f64)> = rates
        .iter_mut()
        .map(|rates| {
            let low = rates.iter().copied().fold(f64::INFINITY, f64::min);
            let high = rates.iter().copied().fold(0.0, f64::max);
            (median(rates), low, high)
        })
        .collect();
    let (handler, peer) = (summary[0].0, summary[1].0);
    let client = if reqwest_client() { "reqwest" } else { "raw" };
    println!(
        "GET /users/{{id}}, 5 ms handler, {CONNECTIONS} {client} connections, {ROUNDS} rounds of {ROUND:?}"
    );
    println!(
        "| contender | median req/s | min | max | vs handler alone | vs axum-response-cache |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for (contender, (median, low, high)) in Contender::ALL.iter().zip(&summary) {
        println!(
            "| {} | {median:.0} | {low:.0} | {high:.0} | {:.2}x | {:.2}x |",
            contender.name(),
            median / handler,
            median / peer
        );
    }
    println!("layered-cache / axum-response-cache, median of the per-round ratios: {paired:.2}x");
    drop(servers);
}
