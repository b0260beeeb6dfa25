//! Unsafe methods (`POST`, `PUT`, `PATCH`, `DELETE`, ...): passed to the handler; a success
//! (2xx, 3xx) invalidates every entry of the URI (RFC 9111 §4.4), in this process, in Redis and
//! in every other process, before the client gets the response.

use std::sync::Arc;

use axum::body::Body;
use http::{Request, Response};

use super::key::{request_uri, uri_key};
use super::layer::Shared;
use super::respond;
use super::route_stats::RouteCounters;
use super::service::Handler;
use super::status::Outcome;

/// Passes an unsafe request on and invalidates its URI after a success.
pub(crate) async fn serve<H, B>(
    shared: Arc<Shared>,
    handler: H,
    request: Request<B>,
    route: Arc<RouteCounters>,
) -> Result<Response<Body>, H::Error>
where
    H: Handler<B>,
{
    let uri_tag = uri_key(
        &shared.key_prefix,
        request_uri(request.extensions(), request.uri()),
    );
    let response = handler.handle(request).await?;
    let status = response.status();
    if status.is_success() || status.is_redirection() {
        // On a task of its own: it completes even if the client goes away meanwhile.
        let cache = shared.cache.clone();
        let invalidation = tokio::spawn(async move { cache.invalidate_tags(&[&uri_tag]).await });
        if invalidation.await.is_ok() {
            route.count_invalidation();
        }
    }
    Ok(respond::passed(
        &shared,
        &route,
        response,
        Outcome::Bypass("method"),
        None,
    ))
}
