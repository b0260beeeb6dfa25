//! A small axum service over the cache: `GET /users/{id}` (the function and its whole response
//! cached, tagged `user:{id}`), `PUT /users/{id}` with `{"name": ".."}` (invalidates the tag),
//! Prometheus at `/metrics`, the admin API under `/admin`.
//!
//! Run with `cargo run -p examples --example service`, then e.g.
//! `curl -i localhost:3000/users/42` (twice: see `Cache-Status` and `Age`),
//! `curl -X PUT -H 'content-type: application/json' -d '{"name":"Ada"}' localhost:3000/users/42`,
//! `curl localhost:3000/admin/stats`.
//! With `REDIS_URL` set it uses that Redis; otherwise it starts a throwaway `redis-server` if
//! one is installed, and runs L1-only (embedded) if not. `ADDR` sets the listening address.

use std::time::Duration;

use cache_core::Cache;
use cache_redis::RedisL2;
use cache_redis::test_util::RedisServer;
use examples::service::{AppState, app};
use metrics_exporter_prometheus::PrometheusBuilder;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let metrics = PrometheusBuilder::new().install_recorder()?;
    let (_server, url) = match std::env::var("REDIS_URL") {
        Ok(url) => (None, Some(url)),
        Err(_) => match RedisServer::start() {
            Ok(server) => {
                let url = server.url();
                (Some(server), Some(url))
            }
            Err(error) => {
                println!("no Redis ({error}): running L1-only");
                (None, None)
            }
        },
    };
    let builder = Cache::builder().namespace("service");
    let cache = match &url {
        Some(url) => {
            let l2 = RedisL2::builder().url(url).build().await?;
            let cache = builder.l2(l2.clone()).build()?;
            l2.wait_for_backplane(Duration::from_secs(5)).await;
            println!("L2: {url}");
            cache
        }
        None => builder.build()?,
    };
    let address = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app(AppState { cache, metrics })).await?;
    Ok(())
}
