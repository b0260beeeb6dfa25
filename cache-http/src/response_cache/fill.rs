//! The loader of a response entry: runs the handler and decides what the engine stores.
//!
//! - A 5xx, a panic, an error of the service or a body that breaks is a loader **error**: the
//!   engine then answers with the stale entry when its `stale-if-error` window allows, and
//!   otherwise this request gets the failure (a panic resumes unwinding past the engine). Other
//!   requests waiting on the same key retry with their own handler call.
//! - A response a shared cache may not store (or too large) is stored nowhere: this request
//!   gets it as it is, and requests waiting on the key get [`HttpEntry::Uncacheable`], upon
//!   which each calls the handler itself: a response meant for one client never reaches
//!   another.
//! - Otherwise the whole body is read and the response stored with the options its headers
//!   give ([`Storage::entry_options`](super::policy::Storage::entry_options)).

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use axum::body::Body;
use cache_core::Loaded;
use futures_util::FutureExt;
use http::{Response, StatusCode};

use super::body::{Collected, collect};
use super::exchange::{Exchange, LoadOutcome};
use super::policy;
use super::service::Handler;
use super::stored::{HttpEntry, StoredResponse, VaryMarker};

/// Why a load failed; the engine then may answer with a stale entry.
pub(crate) enum Failure<E> {
    /// The handler's 5xx, or a response whose body broke (replayed up to the break).
    Response(Response<Body>),
    /// The wrapped service failed.
    Service(E),
    /// The handler panicked: the panic goes on once the engine is done with the load.
    Panic(Box<dyn Any + Send>),
}

/// Runs the handler for `exchange` and decides what is stored under the key being loaded:
/// the URI's key when `variant_of` is `None`, else the key of a variant of a URI whose
/// responses vary by `variant_of` (header names).
pub(crate) async fn fill<H, B>(
    exchange: Arc<Exchange<H, B>>,
    variant_of: Option<Vec<String>>,
) -> Result<Loaded<HttpEntry>, Failure<H::Error>>
where
    H: Handler<B>,
    B: Default + Send + 'static,
{
    let handler = exchange.handler();
    let request = exchange.fill_request();
    let called = AssertUnwindSafe(handler.handle(request))
        .catch_unwind()
        .await;
    let response = match called {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => return Err(failed(&exchange, Failure::Service(error))),
        Err(panic) => return Err(failed(&exchange, Failure::Panic(panic))),
    };
    if response.status().is_server_error() {
        return Err(failed(&exchange, Failure::Response(response)));
    }
    let shared = &exchange.shared;
    let (parts, body) = response.into_parts();
    let decided = policy::decide(
        &exchange.request.headers,
        parts.status,
        &parts.headers,
        shared.ttl,
    );
    let storage = match decided {
        Ok(storage) => storage,
        Err(reason) => return Ok(pass(&exchange, Response::from_parts(parts, body), reason)),
    };
    let body = match collect(&parts.headers, body, shared.max_body_bytes).await {
        Collected::Complete(bytes) => bytes,
        Collected::Streamed(body) => {
            return Ok(pass(
                &exchange,
                Response::from_parts(parts, body),
                "too-large",
            ));
        }
        Collected::Failed(body) => {
            let broken = Response::from_parts(parts, body);
            return Err(failed(&exchange, Failure::Response(broken)));
        }
    };
    let id = random_id();
    let Some(stored) =
        StoredResponse::new(parts.status, &parts.headers, body.clone(), &storage, id)
    else {
        let response = Response::from_parts(parts, Body::from(body));
        return Ok(pass(&exchange, response, "header-encoding"));
    };
    let options = storage.entry_options(&exchange.uri_key);
    match variant_of {
        Some(names) if names.as_slice() != stored.vary() => {
            // The URI's `Vary` changed: forget the old note, the next request learns the new.
            shared.cache.invalidate(&exchange.uri_key).await;
            Ok(pass(&exchange, stored.to_response(true), "vary-changed"))
        }
        None if !stored.vary().is_empty() => {
            let marker = VaryMarker {
                names: stored.vary().to_vec(),
                id,
                extensions: Vec::new(),
            };
            exchange.record(LoadOutcome::Learned {
                response: stored,
                options: options.clone(),
            });
            Ok(Loaded::with_options(HttpEntry::Variants(marker), options))
        }
        _ => {
            exchange.record(LoadOutcome::Stored { id });
            Ok(Loaded::with_options(HttpEntry::Response(stored), options))
        }
    }
}

/// Records a failure for this request (its status, 500 when there is no response).
fn failed<H, B, E>(exchange: &Exchange<H, B>, failure: Failure<E>) -> Failure<E> {
    let status = match &failure {
        Failure::Response(response) => response.status(),
        Failure::Service(_) | Failure::Panic(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    exchange.record(LoadOutcome::Failed { status });
    failure
}

/// Keeps `response` for this request only; the engine stores nothing and waiting requests
/// call the handler themselves.
fn pass<H, B>(
    exchange: &Exchange<H, B>,
    response: Response<Body>,
    reason: &'static str,
) -> Loaded<HttpEntry> {
    exchange.record(LoadOutcome::Passed { response, reason });
    Loaded::uncached(HttpEntry::Uncacheable)
}

/// A random id for a stored response (std's per-instance random hasher keys).
fn random_id() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(stored_at_nanos())
}

fn stored_at_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos())
}
