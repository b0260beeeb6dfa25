//! `GET` and `HEAD`: the lookup of the URI's entry, then, when the URI's responses vary, of
//! the request's variant; a miss runs the handler once per key ([`fill`]).
//!
//! A fresh response in L1 is answered at once, before the request has a future
//! ([`answer_now`]): such a hit costs no allocation of state shared with a loader, no key
//! allocation and no boxed future. Everything else (a miss, L2, a response not shared) goes
//! through [`serve`], told what the first look found so nothing is looked up or counted twice.

use std::sync::Arc;

use axum::body::Body;
use cache_core::Loaded;
use futures_util::future::BoxFuture;
use http::{Request, Response, request};

use super::exchange::{Exchange, LoadOutcome};
use super::fill::{Failure, fill};
use super::key::{request_uri, variant_key, with_uri_key};
use super::layer::Shared;
use super::respond;
use super::route_stats::RouteCounters;
use super::service::Handler;
use super::status::Outcome;
use super::stored::{HttpEntry, StoredResponse, VaryMarker, now_ms};

/// What answers the request.
enum Answer {
    /// A stored response, as of `now_ms`.
    Stored(StoredResponse, Outcome, u64),
    /// A handler's response passed on; `filled`: the handler got the request changed for
    /// filling the cache (so `HEAD` and conditions are applied to it here).
    Passed(Response<Body>, Outcome, bool),
}

/// What [`answer_now`] found in L1 without answering: [`serve`] starts from it.
pub(crate) enum Known {
    /// Nothing: the URI's entry is to be looked up (L1 again, L2, the loader).
    Nothing,
    /// The URI's responses vary: the request's variant is to be looked up.
    Varies(VaryMarker),
    /// What is stored is not shared between clients: the handler answers this request.
    NotShared,
}

/// What [`answer_now`] did with a request.
pub(crate) enum Now<B> {
    /// Answered from L1.
    Answered(Response<Body>),
    /// Given back for [`serve`], with what the look found.
    Later(Request<B>, Known),
}

/// Answers a `GET` or `HEAD` whose body is empty from a fresh response in L1 (the URI's, or
/// the request's variant), without waiting; otherwise gives the request back, with what the
/// look found, for [`serve`].
pub(crate) fn answer_now<H, B>(
    shared: &Arc<Shared>,
    handler: &H,
    request: Request<B>,
    route: &RouteCounters,
) -> Now<B>
where
    H: Handler<B>,
    B: Default + Send + 'static,
{
    let (parts, body) = request.into_parts();
    let uri = request_uri(&parts.extensions, &parts.uri);
    let found = with_uri_key(&shared.key_prefix, uri, |key| {
        hit_now(shared, handler, &parts, key, None)
    });
    let known = match found {
        Some(HttpEntry::Response(stored)) => return answer_hit(shared, route, &stored, &parts),
        Some(HttpEntry::Variants(marker)) => {
            let key = variant_key(&shared.key_prefix, uri, &marker.names, &parts.headers);
            match hit_now(shared, handler, &parts, &key, Some(&marker.names)) {
                Some(HttpEntry::Response(stored)) => {
                    return answer_hit(shared, route, &stored, &parts);
                }
                Some(_) => Known::NotShared,
                None => Known::Varies(marker),
            }
        }
        Some(HttpEntry::Uncacheable) => Known::NotShared,
        None => Known::Nothing,
    };
    Now::Later(Request::from_parts(parts, body), known)
}

fn answer_hit<B>(
    shared: &Shared,
    route: &RouteCounters,
    stored: &StoredResponse,
    request: &request::Parts,
) -> Now<B> {
    let now = now_ms();
    let outcome = Outcome::Hit {
        ttl: stored.ttl_seconds(now),
    };
    Now::Answered(respond::stored(
        shared, route, stored, outcome, request, now,
    ))
}

/// The fresh L1 entry of `key`; a hit that claims its refresh reloads it with a copy of the
/// request (the URI's entry when `variant_of` is `None`, else a variant's).
fn hit_now<H, B>(
    shared: &Arc<Shared>,
    handler: &H,
    parts: &request::Parts,
    key: &str,
    variant_of: Option<&Vec<String>>,
) -> Option<HttpEntry>
where
    H: Handler<B>,
    B: Default + Send + 'static,
{
    shared
        .entries
        .l1_hit_or_refresh(key, &shared.lookup_options, || {
            let exchange = Exchange::new(Arc::clone(shared), parts.clone(), handler.clone());
            loader(Arc::new(exchange), variant_of.cloned())
        })
}

/// Answers a `GET` or `HEAD` whose body is empty, starting from what [`answer_now`] found.
pub(crate) async fn serve<H, B>(
    shared: Arc<Shared>,
    handler: H,
    request: Request<B>,
    route: Arc<RouteCounters>,
    known: Known,
) -> Result<Response<Body>, H::Error>
where
    H: Handler<B>,
    B: Default + Send + 'static,
{
    let (parts, _empty) = request.into_parts();
    let exchange = Arc::new(Exchange::new(shared, parts, handler));
    let shared = &exchange.shared;
    let asked = &exchange.request;
    Ok(match answer(&exchange, known).await? {
        Answer::Stored(stored, outcome, now) => {
            respond::stored(shared, &route, &stored, outcome, asked, now)
        }
        Answer::Passed(response, outcome, filled) => {
            respond::passed(shared, &route, response, outcome, filled.then_some(asked))
        }
    })
}

async fn answer<H, B>(exchange: &Arc<Exchange<H, B>>, known: Known) -> Result<Answer, H::Error>
where
    H: Handler<B>,
    B: Default + Send + 'static,
{
    let found = match known {
        Known::Nothing => lookup(exchange, &exchange.uri_key, None).await,
        Known::Varies(marker) => Ok(HttpEntry::Variants(marker)),
        Known::NotShared => Ok(HttpEntry::Uncacheable),
    };
    match found {
        // Boxed: rarer, and its futures would make every request's future larger.
        Ok(HttpEntry::Variants(marker)) => Box::pin(variant(exchange, marker)).await,
        found => settle(exchange, found).await,
    }
}

/// The entry of `key`, loaded by [`fill`] on a miss.
async fn lookup<H, B>(
    exchange: &Arc<Exchange<H, B>>,
    key: &str,
    variant_of: Option<Vec<String>>,
) -> Result<HttpEntry, Failure<H::Error>>
where
    H: Handler<B>,
    B: Default + Send + 'static,
{
    let shared = &exchange.shared;
    let loader = loader(Arc::clone(exchange), variant_of);
    shared
        .cache
        .get_or_load_with(key, &shared.lookup_options, loader)
        .await
}

/// The loader of the entry [`fill`] stores for `exchange`.
fn loader<H, B>(
    exchange: Arc<Exchange<H, B>>,
    variant_of: Option<Vec<String>>,
) -> impl FnOnce() -> BoxFuture<'static, Result<Loaded<HttpEntry>, Failure<H::Error>>> + Send + 'static
where
    H: Handler<B>,
    B: Default + Send + 'static,
{
    // Boxed: the loader runs on misses only, and the lookup's future stays small.
    move || Box::pin(fill(exchange, variant_of))
}

/// The URI's responses vary: the request's variant.
async fn variant<H, B>(
    exchange: &Arc<Exchange<H, B>>,
    marker: VaryMarker,
) -> Result<Answer, H::Error>
where
    H: Handler<B>,
    B: Default + Send + 'static,
{
    let shared = &exchange.shared;
    let headers = &exchange.request.headers;
    if let LoadOutcome::Learned { response, options } = exchange.take_outcome() {
        // This request's handler call taught that the URI varies: its response is the first
        // variant.
        let key = variant_key(&shared.key_prefix, exchange.uri(), response.vary(), headers);
        let entry = HttpEntry::Response(response.clone());
        shared.cache.set(&key, entry, &options).await;
        confirm_note(exchange, response.id(), &key).await;
        return Ok(Answer::Stored(response, Outcome::Stored, now_ms()));
    }
    let key = variant_key(&shared.key_prefix, exchange.uri(), &marker.names, headers);
    match lookup(exchange, &key, Some(marker.names)).await {
        // Never stored under a variant's key; answered without the cache all the same.
        Ok(HttpEntry::Variants(_)) => pass_through(exchange).await,
        found => settle(exchange, found).await,
    }
}

/// A variant is stored with `set`, after the URI's `Vary` note was loaded: an invalidation of
/// the URI (or of a tag) that completed in between removed or voided the note, and must not
/// leave the variant behind. So the note must still be the one this request stored.
async fn confirm_note<H, B>(exchange: &Exchange<H, B>, note_id: u64, variant_key: &str) {
    let cache = &exchange.shared.cache;
    let note = cache.get::<HttpEntry>(&exchange.uri_key).await;
    if !matches!(note, Some(HttpEntry::Variants(marker)) if marker.id == note_id) {
        cache.invalidate(variant_key).await;
    }
}

/// The answer to what a lookup found, given what this request's own loader did.
async fn settle<H, B>(
    exchange: &Arc<Exchange<H, B>>,
    found: Result<HttpEntry, Failure<H::Error>>,
) -> Result<Answer, H::Error>
where
    H: Handler<B>,
    B: Default + Send + 'static,
{
    let loaded = exchange.take_outcome();
    match found {
        Ok(HttpEntry::Response(stored)) => {
            let now = now_ms();
            let outcome = match loaded {
                LoadOutcome::Stored { id } if id == stored.id() => Outcome::Stored,
                LoadOutcome::Failed { status } => Outcome::Stale { failed: status },
                _ => Outcome::Hit {
                    ttl: stored.ttl_seconds(now),
                },
            };
            Ok(Answer::Stored(stored, outcome, now))
        }
        Ok(HttpEntry::Uncacheable | HttpEntry::Variants(_)) => match loaded {
            LoadOutcome::Passed { response, reason } => {
                Ok(Answer::Passed(response, Outcome::Uncacheable(reason), true))
            }
            _ => pass_through(exchange).await,
        },
        Err(Failure::Response(response)) => {
            let failed = response.status();
            Ok(Answer::Passed(response, Outcome::Failed { failed }, true))
        }
        Err(Failure::Service(error)) => Err(error),
        Err(Failure::Panic(panic)) => std::panic::resume_unwind(panic),
    }
}

/// Another request's handler call got a response that is not shared: this request calls the
/// handler itself, as the client sent it.
async fn pass_through<H, B>(exchange: &Exchange<H, B>) -> Result<Answer, H::Error>
where
    H: Handler<B>,
    B: Default + Send + 'static,
{
    let response = exchange.handler().handle(exchange.client_request()).await?;
    let outcome = if response.status().is_server_error() {
        Outcome::Failed {
            failed: response.status(),
        }
    } else {
        Outcome::Uncacheable("not-shared")
    };
    Ok(Answer::Passed(response, outcome, false))
}
