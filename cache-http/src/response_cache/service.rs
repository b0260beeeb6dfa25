//! [`ResponseCacheService`]: sorts each request into a lookup (`GET`, `HEAD`), an unsafe
//! method (which invalidates its URI once it succeeds) or a plain pass-through.

use std::future::poll_fn;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use axum::body::Body;
use futures_util::future::BoxFuture;
use http::{Method, Request, Response};
use tower_service::Service;

use super::body::BoxError;
use super::layer::Shared;
use super::route_stats::{RouteCounters, route_label};
use super::status::Outcome;
use super::{read_path, respond, write_path};

/// The service [`ResponseCacheLayer`](crate::ResponseCacheLayer) wraps around a handler (or a
/// router).
#[derive(Debug, Clone)]
pub struct ResponseCacheService<S> {
    inner: S,
    wrapped: Arc<Wrapped>,
}

/// What the copies of one wrapped service share: the layer's settings, and the counters of
/// the route it serves (a layer after routing wraps each route apart, so every request it sees
/// names the same route: one comparison instead of a look-up).
#[derive(Debug)]
struct Wrapped {
    shared: Arc<Shared>,
    route: OnceLock<Arc<RouteCounters>>,
}

impl Wrapped {
    fn counters(&self, extensions: &http::Extensions) -> Arc<RouteCounters> {
        let label = route_label(extensions);
        if let Some(known) = self.route.get()
            && known.route() == label
        {
            return Arc::clone(known);
        }
        let counters = self.shared.stats.counters(label);
        let _ = self.route.set(Arc::clone(&counters));
        counters
    }
}

impl<S> ResponseCacheService<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        let wrapped = Wrapped {
            shared,
            route: OnceLock::new(),
        };
        Self {
            inner,
            wrapped: Arc::new(wrapped),
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ResponseCacheService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: http_body::Body + Default + Send + 'static,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<Body>, S::Error>>;

    /// Always ready: the wrapped service is only called (and made ready) when a request
    /// needs it, not for an answer from the cache.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let shared = Arc::clone(&self.wrapped.shared);
        let inner = self.inner.clone();
        let route = self.wrapped.counters(request.extensions());
        match kind(&request) {
            Kind::Lookup => Box::pin(read_path::serve(shared, inner, request, route)),
            Kind::Unsafe => Box::pin(write_path::serve(shared, inner, request, route)),
            Kind::Bypass(reason) => Box::pin(bypass(shared, inner, request, route, reason)),
        }
    }
}

/// What the layer does with a request.
enum Kind {
    /// Looked up (and filled on a miss).
    Lookup,
    /// Passed on; a success invalidates the URI (RFC 9111 §4.4).
    Unsafe,
    /// Passed on untouched, for this reason.
    Bypass(&'static str),
}

fn kind<B: http_body::Body>(request: &Request<B>) -> Kind {
    let method = request.method();
    if method == Method::GET || method == Method::HEAD {
        let headers = request.headers();
        if headers.contains_key(http::header::RANGE) {
            return Kind::Bypass("range");
        }
        if headers.contains_key(http::header::UPGRADE) {
            return Kind::Bypass("upgrade");
        }
        if !request.body().is_end_stream() {
            return Kind::Bypass("request-body");
        }
        return Kind::Lookup;
    }
    if method == Method::OPTIONS || method == Method::TRACE {
        Kind::Bypass("method")
    } else {
        Kind::Unsafe
    }
}

/// Passes a request the cache does not answer.
async fn bypass<H, B>(
    shared: Arc<Shared>,
    handler: H,
    request: Request<B>,
    route: Arc<RouteCounters>,
    reason: &'static str,
) -> Result<Response<Body>, H::Error>
where
    H: Handler<B>,
{
    let response = handler.handle(request).await?;
    let outcome = Outcome::Bypass(reason);
    Ok(respond::passed(&shared, &route, response, outcome, None))
}

/// The wrapped service, called once with one request: the one place that knows its types.
pub(crate) trait Handler<B>: Clone + Send + 'static {
    /// The service's error.
    type Error: Send + 'static;

    /// Calls the service (once it is ready) with `request`.
    fn handle(self, request: Request<B>)
    -> BoxFuture<'static, Result<Response<Body>, Self::Error>>;
}

impl<S, B, ResBody> Handler<B> for S
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Error = S::Error;

    fn handle(
        mut self,
        request: Request<B>,
    ) -> BoxFuture<'static, Result<Response<Body>, Self::Error>> {
        Box::pin(async move {
            poll_fn(|cx| self.poll_ready(cx)).await?;
            let response = self.call(request).await?;
            Ok(response.map(Body::new))
        })
    }
}
