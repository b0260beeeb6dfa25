//! [`ResponseCacheService`]: sorts each request into a lookup (`GET`, `HEAD`), an unsafe
//! method (which invalidates its URI once it succeeds) or a plain pass-through.

use std::borrow::Cow;
use std::future::{Future, Ready, poll_fn};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use axum::body::Body;
use futures_util::future::BoxFuture;
use http::{Method, Request, Response};
use tower_service::Service;

use super::body::BoxError;
use super::layer::Shared;
use super::read_path::Now;
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
    /// The counters of the request's route: borrowed when it is the route this service
    /// serves (a hit then leaves the shared count of the `Arc` alone).
    fn counters(&self, extensions: &http::Extensions) -> Cow<'_, Arc<RouteCounters>> {
        let label = route_label(extensions);
        if let Some(known) = self.route.get()
            && known.route() == label
        {
            return Cow::Borrowed(known);
        }
        let counters = self.shared.stats.counters(label);
        let _ = self.route.set(Arc::clone(&counters));
        Cow::Owned(counters)
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
    type Future = ResponseFuture<S::Error>;

    /// Always ready: the wrapped service is only called (and made ready) when a request
    /// needs it, not for an answer from the cache.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let shared = &self.wrapped.shared;
        let route = self.wrapped.counters(request.extensions());
        let future: BoxFuture<'static, _> = match kind(&request) {
            Kind::Lookup => match read_path::answer_now(shared, &self.inner, request, &route) {
                Now::Answered(response) => return ResponseFuture::ready(response),
                Now::Later(request, known) => {
                    let inner = self.inner.clone();
                    let (shared, route) = (Arc::clone(shared), route.into_owned());
                    Box::pin(read_path::serve(shared, inner, request, route, known))
                }
            },
            Kind::Unsafe => {
                let inner = self.inner.clone();
                let route = route.into_owned();
                Box::pin(write_path::serve(Arc::clone(shared), inner, request, route))
            }
            Kind::Bypass(reason) => {
                let inner = self.inner.clone();
                let route = route.into_owned();
                Box::pin(bypass(Arc::clone(shared), inner, request, route, reason))
            }
        };
        ResponseFuture::waiting(future)
    }
}

/// The future of [`ResponseCacheService`]'s response: ready at once for a hit answered from
/// L1, else the request's work (a load, L2, the handler).
pub struct ResponseFuture<E> {
    state: State<E>,
}

enum State<E> {
    Ready(Ready<Result<Response<Body>, E>>),
    Waiting(BoxFuture<'static, Result<Response<Body>, E>>),
}

impl<E> ResponseFuture<E> {
    fn ready(response: Response<Body>) -> Self {
        let state = State::Ready(std::future::ready(Ok(response)));
        Self { state }
    }

    fn waiting(future: BoxFuture<'static, Result<Response<Body>, E>>) -> Self {
        let state = State::Waiting(future);
        Self { state }
    }
}

impl<E> Future for ResponseFuture<E> {
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Both states are `Unpin`: a ready value, and a boxed future.
        match &mut self.get_mut().state {
            State::Ready(ready) => Pin::new(ready).poll(cx),
            State::Waiting(future) => future.as_mut().poll(cx),
        }
    }
}

impl<E> std::fmt::Debug for ResponseFuture<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Ready(_) => "ready",
            State::Waiting(_) => "waiting",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
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
        // One walk over the request's few headers costs less than two hashed lookups.
        for name in request.headers().keys() {
            if name == http::header::RANGE {
                return Kind::Bypass("range");
            }
            if name == http::header::UPGRADE {
                return Kind::Bypass("upgrade");
            }
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
